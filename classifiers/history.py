"""The history behind the baselines, in memory: publication times of the grouped posts per topic.

:mod:`classifiers.baselines` counts, per candidate topic and every ``BASELINE_STEP``, the
topic's posts and all posts over ``baseline_span`` and in the same window of earlier weeks.
In SQL each count reads every post of the range (a week: all of them). Here the times are
held sorted (int64 microseconds, one array for all posts with a topic and one per topic), so
a count is two binary searches.

Like the detection window (:mod:`classifiers.window`) this is a cache of the database: kept
up to date by :func:`classifiers.detect.group_pending` (its posts added, its merges applied),
used only at the ``topics`` and ``posts`` revisions it is up to date with, rebuilt with one
query otherwise. Ranges starting before what it holds are counted in SQL. One grouping or
detection at a time per process is assumed (the scheduler runs them one after the other).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from datetime import datetime, timedelta
from heapq import merge
from typing import Any

from classifiers import memo

_EPOCH = datetime(1970, 1, 1)
_US = timedelta(microseconds=1)


def micros(at: datetime) -> int:
    """A naive UTC time as integer microseconds (exact, unlike a float timestamp)."""
    return (at - _EPOCH) // _US


def _insert(arr: array, t: int) -> None:
    if not arr or t >= arr[-1]:
        arr.append(t)
    else:
        arr.insert(bisect_right(arr, t), t)


class History:
    """Publication times of grouped posts with a topic, published after ``start``."""

    def __init__(self, key: tuple[Any, ...], revision: tuple[int, int], start: datetime) -> None:
        self.key, self.revision = key, revision
        self.start = micros(start)
        self.all = array("q")
        self.by_topic: dict[int, array] = {}

    def add(self, topic_id: int, at: datetime) -> None:
        t = micros(at)
        if t <= self.start:
            return
        _insert(self.all, t)
        arr = self.by_topic.get(topic_id)
        if arr is None:
            arr = self.by_topic[topic_id] = array("q")
        _insert(arr, t)

    def merge(self, absorbed: int, survivor: int) -> None:
        """The posts of ``absorbed`` now belong to ``survivor`` (as in the database after a merge)."""
        gone = self.by_topic.pop(absorbed, None)
        if gone:
            have = self.by_topic.get(survivor)
            self.by_topic[survivor] = array("q", merge(have, gone)) if have else gone

    def count(self, lo: datetime, hi: datetime, topic_id: int | None = None) -> int | None:
        """Posts (of ``topic_id``, or all) published in ``(lo, hi]``; None when ``lo`` is before
        what is held (ask the database)."""
        a, b = micros(lo), micros(hi)
        if a < self.start:
            return None
        arr = self.all if topic_id is None else self.by_topic.get(topic_id)
        if not arr or b <= a:
            return 0
        return bisect_right(arr, b) - bisect_right(arr, a)

    def forget_before(self, start: datetime) -> None:
        """Drop times at or before ``start`` (what no baseline asks for any more)."""
        t = micros(start)
        if t <= self.start:
            return
        self.start = t
        del self.all[:bisect_right(self.all, t)]
        for tid in list(self.by_topic):
            arr = self.by_topic[tid]
            del arr[:bisect_right(arr, t)]
            if not arr:
                del self.by_topic[tid]


# (database url, topics epoch) -> the history
_HISTORIES: dict[tuple[Any, ...], History] = {}


def cached(key: tuple[Any, ...], revision: tuple[int, int]) -> History | None:
    h = _HISTORIES.get(key)
    return h if h is not None and h.revision == revision else None


def store(h: History) -> None:
    memo.keep(_HISTORIES, h.key, h)


def grouped(key: tuple[str, str], old: int, new: int, merges: list[tuple[int, int]],
            posts: list[tuple[int, datetime]]) -> None:
    """After a committed grouping batch (topics revision ``old`` -> ``new``): apply its merges
    (absorbed, survivor) and add its posts (topic, published_at) to the history of ``key``
    when it was up to date at ``old``; else drop it."""
    h = _HISTORIES.get(key)
    if h is None:
        return
    if h.revision[0] != old:
        del _HISTORIES[key]
        return
    for absorbed, survivor in merges:
        h.merge(absorbed, survivor)
    for tid, at in posts:
        h.add(tid, at)
    h.revision = (new, h.revision[1])


def clear() -> None:
    _HISTORIES.clear()
