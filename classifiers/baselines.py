"""Expected volumes for detection (see :mod:`classifiers.emergence`), with the topic's history
cached per ``BASELINE_STEP`` (the history end is rounded down to it) and the counts of all
posts per time range shared by every topic. The counts come from the in-memory history
(:mod:`classifiers.history`) when it holds the range, else from SQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, func, select
from sqlmodel import Session

from classifiers import history
from classifiers.emergence import expected_volume
from config import Settings
from storage.models import Classification, Post

_P, _C = Post.__table__, Classification.__table__  # type: ignore[attr-defined]
_TIME = _P.c.published_at.type


def _at(name: str) -> Any:
    return bindparam(name, type_=_TIME)


_ALL_COUNT = (select(func.count()).select_from(_C.join(_P, _P.c.id == _C.c.post_id))
              .where(_P.c.published_at > _at("b_lo"), _P.c.published_at <= _at("b_hi"), _C.c.topic_id.is_not(None)))

# grouped posts with a topic published after b_start, oldest first: what the history holds
_HISTORY_ROWS = (select(_C.c.topic_id, _P.c.published_at).select_from(_C.join(_P, _P.c.id == _C.c.post_id))
                 .where(_P.c.published_at > _at("b_start"), _C.c.topic_id.is_not(None)).order_by(_P.c.published_at))

# (database url, epoch, topic, window, history end) -> (topic_hist, total_hist, seasonal)
_BASE_CACHE: dict[tuple[Any, ...], tuple[int, int, list[int]]] = {}
BASELINE_STEP = 600  # seconds: the history end is rounded down to this, so baselines are cached

# (database url, topics epoch, start, end) -> classified posts in (start, end], shared by all topics
_TOTAL_CACHE: dict[tuple[Any, ...], int] = {}


class Baselines:
    """Expected volumes of topics at ``now``; ``key`` is (database url, topics epoch)."""

    def __init__(self, s: Session, key: tuple[str, str], settings: Settings, now: datetime,
                 revision: tuple[int, int] = (0, 0), *, build_history: bool = True) -> None:
        self.s, self.cfg, self.now, self.key, self.revision = s, settings.emergence, now, key, revision
        self.build_history = build_history  # False: a history not up to date is not rebuilt (SQL instead)
        self._hist: history.History | None = None

    @property
    def hist(self) -> history.History | None:
        """The in-memory history up to date at ``revision`` (built on first use when allowed);
        None: count in SQL."""
        if self._hist is None and self.key[1]:  # no epoch: nothing was grouped yet
            cfg = self.cfg
            keep = timedelta(seconds=max(cfg.baseline_span, cfg.baseline_weeks * 7 * 86400 + 12 * 3600)
                             + max(cfg.long_window, cfg.window) + 86400)
            h = history.cached(self.key, self.revision)
            if h is not None and history.micros(self.now - keep - timedelta(days=1)) > h.start:
                h.forget_before(self.now - keep)
            if h is None and self.build_history:
                h = history.History(self.key, self.revision, self.now - keep)
                for tid, at in self.s.connection().execute(_HISTORY_ROWS, {"b_start": self.now - keep}):
                    h.add(tid, at)
                history.store(h)
            self._hist = h
        return self._hist

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
            total_n = self.hist.count(lo, hi) if self.hist else None
            if total_n is None:
                total_n = int(self.s.connection().execute(_ALL_COUNT, {"b_lo": lo, "b_hi": hi}).scalar_one() or 0)
            _TOTAL_CACHE[key] = total_n
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
        held = [self.hist.count(lo, hi, tid) for lo, hi in ranges] if self.hist else [None]
        topic_n = held if None not in held else _topic_counts(self.s, tid, ranges)  # type: ignore[assignment]
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
