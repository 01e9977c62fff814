"""The database stage of topics and emergence: :func:`group_pending` and :func:`detect`.

The scheduler calls both on the wall clock; ``fruehwarn replay`` calls the very same
functions on a simulated clock (``now=``). Everything they need is in the database:

* Topic rows carry the centroid (float32 *mean* of the members' embeddings), size,
  keywords, label, ``merged_into`` and in ``state`` the term counts and spellings;
* the checkpoint ``topics`` holds the grouping clock and a revision (bumped by every
  grouping batch), ``topics_mean`` the running mean embedding (for centring; ``mean`` in
  ``topics`` says that it exists); the in-memory
  :class:`~classifiers.topics.OnlineGrouper` is only a cache of these rows, reused while the
  revision is unchanged, rebuilt otherwise;
* the checkpoint ``emergence`` holds per open issue when it last changed state and since
  when its volume is back at baseline.

Detection's sliding window (per-topic counts of the posts of the last hours) is likewise a
cache in memory (:mod:`classifiers.window`), kept up to date by grouping and rebuilt from
the database when the ``topics`` or ``posts`` revision says it may be stale.

The issue lifecycle (open, acknowledged, resolved, re-opened) is in :mod:`classifiers.issues`.
One grouping stage at a time is assumed (the scheduler never overlaps a job).
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from classifiers import history, memo, window
from classifiers.baselines import Baselines
from classifiers.emergence import WindowPost, assess, may_emerge, window_stats
from classifiers.issues import ACTIVE, DetectResult, follow, forget_links, merge_issues, raise_issue
from classifiers.text import terms
from classifiers.topics import OnlineGrouper, TopicState, join_threshold_of
from classifiers.window import HAS, HAS_S, NEG, NEG_S, NS, N
from config import Settings
from storage.db import POSTS_CHECKPOINT, audit, session_scope
from storage.models import Checkpoint, Classification, Issue, Post, Topic, utcnow

log = logging.getLogger(__name__)

TOPICS_CHECKPOINT = "topics"
MEAN_CHECKPOINT = "topics_mean"  # the running mean of the embeddings (read when the grouper is built)
EMERGENCE_CHECKPOINT = "emergence"
HISTORY_AFTER = 3  # detects the window must have served unbroken before the history is (re)built

# (database url, epoch) -> (revision, grouper): the in-memory cache of the Topic rows
_CACHE: dict[tuple[str, str], tuple[int, OnlineGrouper]] = {}

# The statements of every tick, built once: Core statements on the tables with bound
# parameters (no ORM objects, no statement construction per call; executemany for rows).
_P, _C, _T, _K = (m.__table__ for m in (Post, Classification, Topic, Checkpoint))  # type: ignore[attr-defined]
_TIME = _P.c.published_at.type


def _at(name: str) -> Any:
    return bindparam(name, type_=_TIME)


_PENDING = (select(_C.c.post_id, _C.c.embedding, _P.c.text, _P.c.published_at, _C.c.sentiment, _P.c.source_id,
                   _P.c.author_hash, _P.c.duplicate_of)
            .select_from(_C.join(_P, _P.c.id == _C.c.post_id))
            .where(_C.c.grouped.is_(False)).order_by(_P.c.published_at, _P.c.id).limit(bindparam("b_limit")))
_MARK_GROUPED = (update(_C).where(_C.c.post_id == bindparam("b_post"))
                 .values(topic_id=bindparam("b_topic"), grouped=True))
_TOPIC_UPDATE = update(_T).where(_T.c.id == bindparam("b_id")).values(
    label=bindparam("b_label"), keywords=bindparam("b_keywords", type_=_T.c.keywords.type),
    centroid=bindparam("b_centroid"), size=bindparam("b_size"), state=bindparam("b_state", type_=_T.c.state.type),
    updated_at=bindparam("b_updated", type_=_T.c.updated_at.type),
    last_post_at=bindparam("b_last", type_=_T.c.last_post_at.type))
# grouped posts (not cross-posts: one voice, counted once) published after b_start: what the window holds
_WINDOW_ROWS = (
    select(_P.c.id, _C.c.topic_id, _P.c.source_id, _P.c.author_hash, _C.c.sentiment, _P.c.published_at)
    .select_from(_P.join(_C, _C.c.post_id == _P.c.id))
    .where(_P.c.published_at > _at("b_start"), _P.c.duplicate_of.is_(None), _C.c.topic_id.is_not(None)))
_ANY_ACTIVE = select(Issue.__table__.c.id).where(Issue.__table__.c.status.in_(ACTIVE)).limit(1)  # type: ignore[attr-defined]
_ACTIVE_ISSUES = select(Issue).where(Issue.status.in_(ACTIVE))
# detect's checkpoints, each row with whether any issue is active (one statement a tick)
_CP_DETECT = select(_K.c.name, _K.c.value, _ANY_ACTIVE.exists().label("active")).where(
    _K.c.name.in_((TOPICS_CHECKPOINT, EMERGENCE_CHECKPOINT, POSTS_CHECKPOINT)))
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
            for post_id, blob, text, published_at, *_ in rows:
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
            moved: list[tuple[int, int]] = []
            if grouper is not None:
                touched = list(dict.fromkeys(touched))
                moved = _persist(s, grouper, touched, updates, settings)
                if clock is not None:
                    grouper.retire_stale(clock)
            else:  # no post of the batch has an embedding
                _mark_grouped(s, updates)
            old = int(cp.get("revision", 0))
            value = {"epoch": epoch, "revision": old + 1, "dim": grouper.dim if grouper else dim,
                     "clock": clock.isoformat() if clock else None, "mean": bool(cp.get("mean")) or grouper is not None}
            if grouper is None:
                _cp_set(s, TOPICS_CHECKPOINT, value)
            else:
                mean = {"mean_sum": grouper.mean_sum.tolist(), "mean_count": grouper.mean_count}
                if cp.get("mean"):  # both rows exist: one statement for the two
                    now = utcnow()
                    s.connection().execute(_CP_SET, [{"b_name": TOPICS_CHECKPOINT, "b_value": value, "b_at": now},
                                                     {"b_name": MEAN_CHECKPOINT, "b_value": mean, "b_at": now}])
                else:
                    _cp_set(s, MEAN_CHECKPOINT, mean)
                    _cp_set(s, TOPICS_CHECKPOINT, value)
        if grouper is not None:
            memo.keep(_CACHE, key, (old + 1, grouper))
        # detection's window and history of this database follow (the window is dropped after a merge)
        history.grouped(key, old, old + 1, moved, [(u["topic_id"], row[3]) for row, u in zip(rows, updates, strict=True)
                                                   if u["topic_id"] is not None])
        window.grouped(key, old, old + 1, None if moved else [
            WindowPost(pid, u["topic_id"], src, author or f"post:{pid}", sent, at)
            for (pid, _, _, at, sent, src, author, dup), u in zip(rows, updates, strict=True)
            if u["topic_id"] is not None and dup is None])
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
    g = OnlineGrouper(settings.topics, int(want), join_threshold_of(settings))
    mean = _cp_get(s, MEAN_CHECKPOINT) or cp  # older databases: in the topics checkpoint
    if mean.get("mean_sum") and len(mean["mean_sum"]) == g.dim:
        g.set_mean(np.asarray(mean["mean_sum"], dtype=np.float64), int(mean.get("mean_count", 0)))
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
             settings: Settings) -> list[tuple[int, int]]:
    """Store new and changed topics, merges and the posts' topic ids; returns the stored topics
    merged into another, (absorbed, survivor)."""
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
    moved = []
    for absorbed, _ in merges:
        survivor = final(absorbed)
        if absorbed > 0 and survivor is not None:
            moved.append((absorbed, survivor))
            s.execute(update(Topic).where(Topic.id == absorbed).values(merged_into=survivor, updated_at=now))
            s.execute(update(Classification).where(Classification.topic_id == absorbed).values(topic_id=survivor))
            merge_issues(s, absorbed, survivor)
            audit(s, "topic_merged", "topic", absorbed, into=survivor)
    for u in updates:
        u["topic_id"] = final(u["topic_id"])
    _mark_grouped(s, updates)
    return moved


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
        rows = s.connection().execute(_CP_DETECT).all()
        cps = {name: dict(value or {}) for name, value, _ in rows}
        cp = cps.get(EMERGENCE_CHECKPOINT, {})
        states: dict[str, dict[str, Any]] = {k: dict(v) for k, v in cp.get("issues", {}).items()}
        active: dict[int, Issue] = {}
        if rows[0][2] if rows else s.connection().execute(_ANY_ACTIVE).first() is not None:
            active = {i.topic_id: i for i in s.execute(_ACTIVE_ISSUES).scalars()}  # ORM objects only when any
        key, revision = _window_key(engine, cps)

        def _negative_enough(negs: int, with_sentiment: int) -> bool:
            return bool(with_sentiment) and negs / with_sentiment >= cfg.min_negative_share

        def _candidates(counts: dict[int, list[int]]) -> set[int]:
            """The cheap tests first (volume and tone); only those topics are looked at closely."""
            return {t for t, c in counts.items()
                    if (c[NS] >= cfg.min_volume and _negative_enough(c[NEG_S], c[HAS_S]))
                    or (c[N] >= cfg.min_volume_long and _negative_enough(c[NEG], c[HAS]))} | set(active)

        counts, candidates, posts, kept = _window_view(s, key, revision, now, long_s, cfg.window, _candidates)
        total_long = sum(c[N] for c in counts.values())
        total_short = sum(c[NS] for c in counts.values())
        prior_share = 1.0 / max(len(counts), 1)  # a typical topic's share while history is short
        if candidates:
            short = window_stats(posts, now, cfg.window, cfg.per_author_cap)
            longw = window_stats(posts, now, long_s, cfg.per_author_cap)
            # the history is (re)built only in a process that ran the last detects itself (not
            # when detect hops between worker processes): else the baselines are counted in SQL
            base = Baselines(s, key, settings, now, revision, build_history=kept >= HISTORY_AFTER)
            for tid in sorted(candidates):
                issue = active.get(tid)
                since = issue.first_post_at if issue and issue.first_post_at else None
                c = counts.get(tid)
                n_long, n_short = (c[N], c[NS]) if c else (0, 0)
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


def window_state(settings: Settings, engine: Engine, now: datetime, *,
                 use_cache: bool = True) -> tuple[dict[int, list[int]], list[WindowPost]]:
    """The window as detect sees it at ``now``: per-topic counts (see :mod:`classifiers.window`)
    and every post; ``use_cache=False``: straight from the database (tests, diagnostics)."""
    cfg = settings.emergence
    with session_scope(engine) as s:
        key, revision = _window_key(engine, {n: dict(v or {}) for n, v, _ in s.connection().execute(_CP_DETECT)})
        counts, _, posts, _ = _window_view(s, key, revision, now, max(cfg.long_window, cfg.window), cfg.window,
                                        lambda c: set(c), use_cache=use_cache)
    return counts, posts


def _window_key(engine: Engine, cps: dict[str, dict[str, Any]]) -> tuple[tuple[str, str], tuple[int, int]]:
    """(database url, topics epoch) and the revisions of the topics and posts checkpoints."""
    topics_cp = cps.get(TOPICS_CHECKPOINT, {})
    return ((engine.url.render_as_string(hide_password=True), topics_cp.get("epoch", "")),
            (int(topics_cp.get("revision", 0)), int(cps.get(POSTS_CHECKPOINT, {}).get("revision", 0))))


def _window_view(s: Session, key: tuple[str, str], revision: tuple[int, int], now: datetime, long_s: float,
                 short_s: float, candidates: Callable[[dict[int, list[int]]], set[int]], *, use_cache: bool = True,
                 ) -> tuple[dict[int, list[int]], set[int], list[WindowPost], int]:
    """Per-topic counts of the window at ``now``, the candidate topics, their posts and how many
    detects the window served unbroken: from the in-memory window when it is up to date (see
    :mod:`classifiers.window`), else rebuilt."""
    wkey = (*key, long_s, short_s)
    use_cache = use_cache and bool(key[1])  # no epoch: nothing was grouped yet
    with window.LOCK:
        w = window.cached(wkey, revision) if use_cache else None
        if w is not None and w.advance(now):
            w.kept += 1
        else:
            w = window.Window(wkey, revision, long_s, short_s)
            w.advance(now)
            rows = s.connection().execute(_WINDOW_ROWS, {"b_start": now - timedelta(seconds=long_s)})
            for pid, tid, src, author, sent, at in rows:
                w.add(WindowPost(pid, tid, src, author or f"post:{pid}", sent, at))
            if use_cache:
                window.store(w)
        counts = w.counts_at()
        chosen = candidates(counts)
        return counts, chosen, w.posts_of(chosen), w.kept
