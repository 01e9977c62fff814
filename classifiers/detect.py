"""The database stage of topics and emergence: :func:`group_pending` and :func:`detect`.

The scheduler calls both on the wall clock; ``fruehwarn replay`` calls the very same
functions on a simulated clock (``now=``). Everything they need is in the database:

* Topic rows carry the centroid (float32 *mean* of the members' embeddings), size,
  keywords, label, ``merged_into`` and in ``state`` the term counts and spellings;
* the checkpoint ``topics`` holds the running mean embedding (for centring), the
  grouping clock and a revision; the in-memory :class:`~classifiers.topics.OnlineGrouper`
  is only a cache of these rows, reused while the revision is unchanged, rebuilt otherwise;
* the checkpoint ``emergence`` holds per open issue when it last changed state and since
  when its volume is back at baseline.

The issue lifecycle (open, acknowledged, resolved, re-opened) is in :mod:`classifiers.issues`.
One grouping stage at a time is assumed (the scheduler never overlaps a job).
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import and_, bindparam, case, func, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from classifiers.emergence import WindowPost, assess, expected_volume, may_emerge, window_stats
from classifiers.issues import ACTIVE, DetectResult, follow, forget_links, merge_issues, raise_issue
from classifiers.text import terms
from classifiers.topics import OnlineGrouper, TopicState
from config import Settings
from storage.db import audit, session_scope
from storage.models import Checkpoint, Classification, Issue, Post, Topic, utcnow

log = logging.getLogger(__name__)

TOPICS_CHECKPOINT = "topics"
EMERGENCE_CHECKPOINT = "emergence"

# (database url, epoch) -> (revision, grouper): the in-memory cache of the Topic rows
_CACHE: dict[tuple[str, str], tuple[int, OnlineGrouper]] = {}

# The statements of every tick, built once: Core statements on the tables with bound
# parameters (no ORM objects, no statement construction per call; executemany for rows).
_P, _C, _T, _K = (m.__table__ for m in (Post, Classification, Topic, Checkpoint))  # type: ignore[attr-defined]
_TIME = _P.c.published_at.type


def _at(name: str) -> Any:
    return bindparam(name, type_=_TIME)


_PENDING = (select(_C.c.post_id, _C.c.embedding, _P.c.text, _P.c.published_at)
            .select_from(_C.join(_P, _P.c.id == _C.c.post_id))
            .where(_C.c.grouped.is_(False)).order_by(_P.c.published_at, _P.c.id).limit(bindparam("b_limit")))
_MARK_GROUPED = (update(_C).where(_C.c.post_id == bindparam("b_post"))
                 .values(topic_id=bindparam("b_topic"), grouped=True))
_TOPIC_UPDATE = update(_T).where(_T.c.id == bindparam("b_id")).values(
    label=bindparam("b_label"), keywords=bindparam("b_keywords", type_=_T.c.keywords.type),
    centroid=bindparam("b_centroid"), size=bindparam("b_size"), state=bindparam("b_state", type_=_T.c.state.type),
    updated_at=bindparam("b_updated", type_=_T.c.updated_at.type),
    last_post_at=bindparam("b_last", type_=_T.c.last_post_at.type))
_RECENT = _P.c.published_at > _at("b_short")
_NEG = _C.c.sentiment == "negative"
_HAS = _C.c.sentiment.is_not(None)
_IN_WINDOW = (_P.c.published_at > _at("b_start"), _P.c.published_at <= _at("b_now"),
              _P.c.duplicate_of.is_(None))  # a cross-post is one voice, counted once
# per topic with posts in the long window: posts, in the short window, negative, with sentiment,
# and the last two in the short window
_TOPIC_COUNTS = (
    select(_C.c.topic_id, func.count(), func.sum(case((_RECENT, 1), else_=0)),
           func.sum(case((_NEG, 1), else_=0)), func.sum(case((_HAS, 1), else_=0)),
           func.sum(case((and_(_RECENT, _NEG), 1), else_=0)), func.sum(case((and_(_RECENT, _HAS), 1), else_=0)))
    .select_from(_C.join(_P, _P.c.id == _C.c.post_id))
    .where(*_IN_WINDOW, _C.c.topic_id.is_not(None))
    .group_by(_C.c.topic_id))
_WINDOW_POSTS = (
    select(_P.c.id, _C.c.topic_id, _P.c.source_id, _P.c.author_hash, _C.c.sentiment, _P.c.published_at)
    .select_from(_P.join(_C, _C.c.post_id == _P.c.id))
    .where(*_IN_WINDOW, _C.c.topic_id.in_(bindparam("b_topics", expanding=True))))
_ALL_COUNT = (select(func.count()).select_from(_C.join(_P, _P.c.id == _C.c.post_id))
              .where(_P.c.published_at > _at("b_lo"), _P.c.published_at <= _at("b_hi"), _C.c.topic_id.is_not(None)))
_ANY_ACTIVE = select(Issue.__table__.c.id).where(Issue.__table__.c.status.in_(ACTIVE)).limit(1)  # type: ignore[attr-defined]
_ACTIVE_ISSUES = select(Issue).where(Issue.status.in_(ACTIVE))
_CP_GET = select(_K.c.value).where(_K.c.name == bindparam("b_name"))
_CP_SET = update(_K).where(_K.c.name == bindparam("b_name")).values(
    value=bindparam("b_value", type_=_K.c.value.type), updated_at=bindparam("b_at", type_=_K.c.updated_at.type))


# =========================================================================== grouping


def group_pending(settings: Settings, engine: Engine, limit: int = 5000) -> int:
    """Assign topics to classified but ungrouped posts, oldest published first.

    Returns the number of posts marked grouped (posts without an embedding are marked
    grouped without a topic). Runs in batches of ``topics.batch_size``, one transaction each.
    """
    done = 0
    while done < limit:
        want = min(settings.topics.batch_size, limit - done)
        n = _group_batch(settings, engine, want)
        done += n
        if n < want:
            break
    return done


def _group_batch(settings: Settings, engine: Engine, limit: int) -> int:
    url = engine.url.render_as_string(hide_password=True)
    key: tuple[str, str] | None = None
    try:
        with session_scope(engine) as s:
            rows = s.connection().execute(_PENDING, {"b_limit": limit}).all()
            if not rows:
                return 0
            cp = _cp_get(s, TOPICS_CHECKPOINT)
            epoch = cp.get("epoch") or uuid.uuid4().hex
            key = (url, epoch)
            dim = _first_dim(rows)
            grouper = _grouper_for(s, settings, key, cp, dim)
            updates, touched = [], []
            clock = _parse(cp.get("clock"))
            for post_id, blob, text, published_at in rows:
                emb = _decode(blob)
                if emb is None or grouper is None or emb.shape[0] != grouper.dim:
                    if emb is not None:
                        log.warning("post %s: embedding size %s differs from the topics' %s; not grouped",
                                    post_id, emb.shape[0], grouper.dim if grouper else None)
                    updates.append({"post_id": post_id, "topic_id": None, "grouped": True})
                    continue
                a = grouper.assign(emb, terms(text), published_at)
                updates.append({"post_id": post_id, "topic_id": a.topic_id, "grouped": True})
                touched.append(a.topic_id)
                clock = published_at if clock is None or published_at > clock else clock
            if grouper is not None:
                touched = list(dict.fromkeys(touched))
                _persist(s, grouper, touched, updates, settings)
                if clock is not None:
                    grouper.retire_stale(clock)
            else:  # no post of the batch has an embedding
                _mark_grouped(s, updates)
            revision = int(cp.get("revision", 0)) + 1
            _cp_set(s, TOPICS_CHECKPOINT, {
                "epoch": epoch, "revision": revision, "dim": grouper.dim if grouper else dim,
                "clock": clock.isoformat() if clock else None,
                "mean_sum": grouper.mean_sum.tolist() if grouper else [],
                "mean_count": grouper.mean_count if grouper else 0,
            })
        if grouper is not None:
            _CACHE.pop(key, None)
            while len(_CACHE) >= 8:  # a process rarely serves more than one database
                _CACHE.pop(next(iter(_CACHE)))
            _CACHE[key] = (revision, grouper)
        return len(rows)
    except BaseException:
        if key is not None:
            _CACHE.pop(key, None)  # the in-memory state may be ahead of the database
        raise


def _grouper_for(s: Session, settings: Settings, key: tuple[str, str], cp: dict[str, Any],
                 dim: int | None) -> OnlineGrouper | None:
    cached = _CACHE.get(key)
    if cached and cached[0] == int(cp.get("revision", 0)):
        return cached[1]
    want = cp.get("dim") or dim
    if want is None:
        return None
    g = OnlineGrouper(settings.topics, int(want))
    if cp.get("mean_sum") and len(cp["mean_sum"]) == g.dim:
        g.set_mean(np.asarray(cp["mean_sum"], dtype=np.float64), int(cp.get("mean_count", 0)))
    clock = _parse(cp.get("clock"))
    q = select(Topic).where(Topic.merged_into.is_(None), Topic.centroid.is_not(None))
    if clock is not None:
        q = q.where(Topic.last_post_at >= clock - timedelta(seconds=settings.topics.topic_ttl))
    for t in s.execute(q).scalars():
        vec = np.frombuffer(t.centroid, dtype=np.float32)
        if vec.shape[0] != g.dim:
            continue
        g.add_topic(TopicState(
            id=t.id, vec_sum=vec.astype(np.float64) * t.size, size=t.size,
            terms=Counter(t.state.get("terms", {})), forms=dict(t.state.get("forms", {})),
            last_post_at=t.last_post_at, keywords=list(t.keywords), label=t.label, dirty=False))
    if clock is not None:
        g.retire_stale(clock)
    log.info("topic grouper loaded: %d active topics", len(g.topics))
    return g


def _persist(s: Session, g: OnlineGrouper, touched: list[int], updates: list[dict[str, Any]],
             settings: Settings) -> None:
    """Store new and changed topics, merges and the posts' topic ids."""
    merges = g.find_merges(touched, prefer=lambda: set(
        s.execute(select(Issue.topic_id).where(Issue.status.in_(ACTIVE))).scalars()))
    redirect: dict[int, int] = {}
    for absorbed, survivor in merges:
        redirect[absorbed] = survivor
    touched = [t for t in touched if t in g.topics]
    g.update_keywords(touched + [sv for _, sv in merges if sv in g.topics])
    now = utcnow()
    new = [st for st in g.topics.values() if st.id < 0]
    rows = [Topic(label=st.label, keywords=st.keywords, centroid=st.centroid.tobytes(), size=st.size,
                  state=_state_json(st), created_at=st.last_post_at or now, updated_at=now,
                  last_post_at=st.last_post_at) for st in new]
    s.add_all(rows)
    s.flush()
    ids = {}
    for st, row in zip(new, rows, strict=True):
        ids[st.id] = row.id
        g.rename(st.id, row.id)
        st.dirty = False

    def final(tid: int | None) -> int | None:
        seen = 0
        while tid is not None and tid in redirect and seen < 100:
            tid, seen = redirect[tid], seen + 1
        return ids.get(tid, tid) if tid is not None else None

    changed = [{"b_id": st.id, "b_label": st.label, "b_keywords": st.keywords, "b_centroid": st.centroid.tobytes(),
                "b_size": st.size, "b_state": _state_json(st), "b_updated": now, "b_last": st.last_post_at}
               for st in g.topics.values() if st.dirty and st.id > 0]
    if changed:
        s.connection().execute(_TOPIC_UPDATE, changed)
    for st in g.topics.values():
        st.dirty = False
    for absorbed, _ in merges:
        survivor = final(absorbed)
        if absorbed > 0 and survivor is not None:
            s.execute(update(Topic).where(Topic.id == absorbed).values(merged_into=survivor, updated_at=now))
            s.execute(update(Classification).where(Classification.topic_id == absorbed).values(topic_id=survivor))
            merge_issues(s, absorbed, survivor)
            audit(s, "topic_merged", "topic", absorbed, into=survivor)
    for u in updates:
        u["topic_id"] = final(u["topic_id"])
    _mark_grouped(s, updates)


def _mark_grouped(s: Session, updates: list[dict[str, Any]]) -> None:
    s.connection().execute(_MARK_GROUPED, [{"b_post": u["post_id"], "b_topic": u["topic_id"]} for u in updates])


def _cp_get(s: Session, name: str) -> dict[str, Any]:
    """A checkpoint's value (a prebuilt Core statement: this runs on every tick)."""
    value = s.connection().execute(_CP_GET, {"b_name": name}).scalar_one_or_none()
    return dict(value) if value else {}


def _cp_set(s: Session, name: str, value: dict[str, Any]) -> None:
    done = s.connection().execute(_CP_SET, {"b_name": name, "b_value": value, "b_at": utcnow()})
    if not done.rowcount:  # type: ignore[attr-defined]
        s.add(Checkpoint(name=name, value=value))
        s.flush()


def _state_json(st: TopicState) -> dict[str, Any]:
    terms = dict(st.terms.most_common(200))
    return {"terms": terms, "forms": {t: st.forms.get(t, t) for t in terms}}


def _decode(blob: bytes | None) -> np.ndarray | None:
    if not blob:
        return None
    vec = np.frombuffer(blob, dtype=np.float16).astype(np.float32)
    return vec if np.all(np.isfinite(vec)) else None


def _first_dim(rows: list[Any]) -> int | None:
    for row in rows:
        if row[1]:
            return len(row[1]) // 2
    return None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# =========================================================================== detection


def detect(settings: Settings, engine: Engine, now: datetime | None = None) -> DetectResult:
    """Evaluate every topic with recent posts; open, update, re-open and resolve issues."""
    cfg = settings.emergence
    now = now or utcnow()
    result = DetectResult(now=now)
    long_s = max(cfg.long_window, cfg.window)
    try:
        return _detect(settings, engine, now, result, long_s)
    except BaseException:
        forget_links()  # links of the failed transaction were not stored
        raise


def _detect(settings: Settings, engine: Engine, now: datetime, result: DetectResult, long_s: float) -> DetectResult:
    cfg = settings.emergence
    with session_scope(engine) as s:
        cp = _cp_get(s, EMERGENCE_CHECKPOINT)
        states: dict[str, dict[str, Any]] = {k: dict(v) for k, v in cp.get("issues", {}).items()}
        active: dict[int, Issue] = {}
        if s.connection().execute(_ANY_ACTIVE).first() is not None:  # ORM objects only when there are any
            active = {i.topic_id: i for i in s.execute(_ACTIVE_ISSUES).scalars()}
        start = now - timedelta(seconds=long_s)
        short_start = now - timedelta(seconds=cfg.window)
        rows = s.connection().execute(_TOPIC_COUNTS, {"b_start": start, "b_now": now, "b_short": short_start}).all()
        counts = {int(t): (int(n), int(ns or 0)) for t, n, ns, *_ in rows}
        total_long = sum(n for n, _ in counts.values())
        total_short = sum(ns for _, ns in counts.values())
        prior_share = 1.0 / max(len(counts), 1)  # a typical topic's share while history is short

        def _negative_enough(negs: Any, with_sentiment: Any) -> bool:
            return bool(with_sentiment) and int(negs) / int(with_sentiment) >= cfg.min_negative_share

        # the cheap tests in SQL first (volume and tone); only those topics are looked at closely
        candidates = {int(t) for t, n, ns, nl, sl, nsh, ssh in rows
                      if (ns >= cfg.min_volume and _negative_enough(nsh, ssh))
                      or (n >= cfg.min_volume_long and _negative_enough(nl, sl))} | set(active)
        if candidates:
            posts = _window_posts(s, candidates, start, now)
            short = window_stats(posts, now, cfg.window, cfg.per_author_cap)
            longw = window_stats(posts, now, long_s, cfg.per_author_cap)
            base = _Baselines(s, engine, settings, now)
            for tid in sorted(candidates):
                issue = active.get(tid)
                since = issue.first_post_at if issue and issue.first_post_at else None
                n_long, n_short = counts.get(tid, (0, 0))
                if tid not in short and tid not in longw:
                    a = None
                elif issue is None and not may_emerge(short.get(tid), longw.get(tid), cfg):
                    continue  # fails the cheap tests: no baseline needed
                else:
                    exp_s = base.expected(tid, cfg.window, total_short - n_short, since, prior_share)
                    exp_l = base.expected(tid, long_s, total_long - n_long, since, prior_share)
                    a = assess(short.get(tid), longw.get(tid), exp_s, exp_l, cfg)
                if issue is not None:
                    follow(s, settings, issue, a, states, now, result)
                elif a is not None and a.emerging:
                    raise_issue(s, settings, tid, a, states, now, result)
        live = {str(i) for i in result.opened + result.reopened + result.updated} | {
            str(i.id) for i in active.values() if i.status in ACTIVE}
        value = {"issues": {k: v for k, v in states.items() if k in live}}
        if value != {"issues": cp.get("issues", {})} or result.opened or result.reopened or result.resolved:
            _cp_set(s, EMERGENCE_CHECKPOINT, value)
    return result


def _window_posts(s: Session, topics: set[int], start: datetime, now: datetime) -> list[WindowPost]:
    rows = s.connection().execute(_WINDOW_POSTS, {"b_start": start, "b_now": now, "b_topics": sorted(topics)}).all()
    return [WindowPost(pid, tid, src, author or f"post:{pid}", sent, at) for pid, tid, src, author, sent, at in rows]


# (database url, epoch, topic, window, history end) -> (topic_hist, total_hist, seasonal)
_BASE_CACHE: dict[tuple[Any, ...], tuple[int, int, list[int]]] = {}
BASELINE_STEP = 600  # seconds: the history end is rounded down to this, so baselines are cached


# (database url, topics epoch, start, end) -> classified posts in (start, end], shared by all topics
_TOTAL_CACHE: dict[tuple[Any, ...], int] = {}


class _Baselines:
    """Expected volumes of topics (see :mod:`classifiers.emergence`), history cached per 10 minutes."""

    def __init__(self, s: Session, engine: Engine, settings: Settings, now: datetime) -> None:
        self.s, self.cfg, self.now, self.engine = s, settings.emergence, now, engine
        self._key: tuple[str, str] | None = None

    @property
    def key(self) -> tuple[str, str]:
        if self._key is None:
            epoch = _cp_get(self.s, TOPICS_CHECKPOINT).get("epoch", "")
            self._key = (self.engine.url.render_as_string(hide_password=True), epoch)
        return self._key

    def expected(self, tid: int, window_s: float, others_now: int, issue_since: datetime | None,
                 prior_share: float) -> float:
        end = self.now - timedelta(seconds=window_s)
        if issue_since is not None:  # an open issue is measured against the time before it began
            end = min(end, issue_since)
        end = datetime.fromtimestamp(end.timestamp() // BASELINE_STEP * BASELINE_STEP)
        key = (*self.key, tid, window_s, end)
        hist = _BASE_CACHE.get(key)
        if hist is None:
            if len(_BASE_CACHE) > 50_000:
                _BASE_CACHE.clear()
            hist = _BASE_CACHE[key] = self._history(tid, window_s, end, issue_since)
        topic_hist, total_hist, seasonal = hist
        return expected_volume(topic_hist=topic_hist, total_hist=total_hist, others_now=max(others_now, 0),
                               seasonal=seasonal, prior_share=prior_share)

    def _total(self, lo: datetime, hi: datetime) -> int:
        """All grouped posts in (lo, hi]: the same for every topic, so asked once per range and cached."""
        key = (*self.key, lo, hi)
        total_n = _TOTAL_CACHE.get(key)
        if total_n is None:
            if len(_TOTAL_CACHE) > 50_000:
                _TOTAL_CACHE.clear()
            total_n = _TOTAL_CACHE[key] = int(
                self.s.connection().execute(_ALL_COUNT, {"b_lo": lo, "b_hi": hi}).scalar_one() or 0)
        return total_n

    def _history(self, tid: int, window_s: float, end: datetime,
                 issue_since: datetime | None) -> tuple[int, int, list[int]]:
        """The topic's posts over ``baseline_span`` before ``end`` (and all posts), and per earlier
        week with any data the topic's posts in the same window; the topic's counts in one query."""
        ranges = [(end - timedelta(seconds=self.cfg.baseline_span), end)]
        for k in range(1, self.cfg.baseline_weeks + 1):
            w_end = end + timedelta(seconds=window_s) - timedelta(days=7 * k)
            if issue_since is None or w_end <= issue_since:
                ranges.append((w_end - timedelta(seconds=window_s), w_end))
        topic_n = _topic_counts(self.s, tid, ranges)
        seasonal = [n for (lo, hi), n in zip(ranges[1:], topic_n[1:], strict=True)
                    if self._total(lo - timedelta(hours=12), hi + timedelta(hours=12))]  # no data: no evidence
        return topic_n[0], self._total(*ranges[0]), seasonal


# number of ranges -> the statement counting a topic's posts in each (through the topic index)
_RANGE_COUNTS: dict[int, Any] = {}


def _topic_counts(s: Session, tid: int, ranges: list[tuple[datetime, datetime]]) -> list[int]:
    stmt = _RANGE_COUNTS.get(len(ranges))
    if stmt is None:
        sums = [func.sum(case((and_(_P.c.published_at > _at(f"b_lo{i}"), _P.c.published_at <= _at(f"b_hi{i}")), 1),
                              else_=0)) for i in range(len(ranges))]
        stmt = _RANGE_COUNTS[len(ranges)] = (
            select(*sums).select_from(_C.join(_P, _P.c.id == _C.c.post_id))
            .where(_C.c.topic_id == bindparam("b_topic"), _P.c.published_at > _at("b_lo"),
                   _P.c.published_at <= _at("b_hi")))
    params: dict[str, Any] = {"b_topic": tid, "b_lo": min(lo for lo, _ in ranges), "b_hi": max(hi for _, hi in ranges)}
    for i, (lo, hi) in enumerate(ranges):
        params[f"b_lo{i}"], params[f"b_hi{i}"] = lo, hi
    row = s.connection().execute(stmt, params).one()
    return [int(n or 0) for n in row]
