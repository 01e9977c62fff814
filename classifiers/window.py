"""The sliding window of detection, kept in memory between ticks (a cache of the database).

:func:`classifiers.detect.detect` needs, every tick, per topic the posts in the long window
``(now - long_window, now]`` and in the short one (grouped, with a topic, not a cross-post):
how many, how many negative, how many with a sentiment; and for a few candidate topics the
posts themselves. Counting them in SQL every tick is a fixed cost per tick that grows with
the window; here they are held in memory and updated incrementally:

* :func:`classifiers.detect.group_pending` adds the posts it grouped (late posts, published
  before newer ones, included: the expiry below does not depend on arrival order);
* each detect first *advances* the window to its ``now``: posts that left the short or the
  long window (two heaps ordered by publication time) are taken out of the counts, posts
  published after the previous ``now`` (held aside) that the clock reached are counted.

The database stays the truth. A window is used only while it was built or kept up to date
at the revision of the ``topics`` checkpoint that detect reads (grouping in another process
bumps it) and at the revision of the ``posts`` checkpoint (bumped by
:func:`storage.db.posts_changed`, e.g. when the retention purge deletes posts or clears
``duplicate_of``); a merge of topics, a post seen twice (reclassified), a clock going
backwards or a restart (an empty cache) drop it, and the next detect rebuilds it from the
database with one query. A grouping transaction that fails leaves it as it was (its posts
are added only after the commit).
"""

from __future__ import annotations

import heapq
import threading
from datetime import datetime, timedelta
from typing import Any

from classifiers import memo
from classifiers.emergence import WindowPost

# what a topic counts: posts, negative, with sentiment; in the long window, then the short one
N, NEG, HAS, NS, NEG_S, HAS_S = range(6)


class Window:
    """Grouped posts (not cross-posts) published in ``(now - long_s, now]``, counted per topic;
    posts published after ``now`` wait aside until the clock reaches them."""

    def __init__(self, key: tuple[Any, ...], revision: tuple[int, int], long_s: float, short_s: float) -> None:
        """``revision``: of the ``topics`` and the ``posts`` checkpoint the window is up to date with."""
        self.key, self.revision = key, revision
        self.long_s, self.short_s = long_s, short_s
        self.now: datetime | None = None  # the boundaries in force: (now - long_s, now]
        self.posts: dict[int, WindowPost] = {}
        self.by_topic: dict[int, dict[int, WindowPost]] = {}
        self.counts: dict[int, list[int]] = {}  # topic -> [N, NEG, HAS, NS, NEG_S, HAS_S]
        self._long: list[tuple[datetime, int]] = []  # heaps of (published_at, post id)
        self._short: list[tuple[datetime, int]] = []
        self._later: list[tuple[datetime, int, WindowPost]] = []  # published after now
        self._later_ids: set[int] = set()
        self.kept = 0  # detects served since it was built (not rebuilt in between)

    def add(self, p: WindowPost) -> bool:
        """Count one post; False when it is held already (the window must be rebuilt)."""
        if p.post_id in self.posts or p.post_id in self._later_ids:
            return False
        if self.now is not None and p.published_at > self.now:
            heapq.heappush(self._later, (p.published_at, p.post_id, p))
            self._later_ids.add(p.post_id)
        else:
            self._count(p)
        return True

    def _count(self, p: WindowPost) -> None:
        at = p.published_at
        if self.now is not None and at <= self.now - timedelta(seconds=self.long_s):
            return  # left the window already
        self.posts[p.post_id] = p
        self.by_topic.setdefault(p.topic_id, {})[p.post_id] = p
        c = self.counts.get(p.topic_id)
        if c is None:
            c = self.counts[p.topic_id] = [0, 0, 0, 0, 0, 0]
        neg, has = p.sentiment == "negative", p.sentiment is not None
        c[N] += 1
        c[NEG] += neg
        c[HAS] += has
        heapq.heappush(self._long, (at, p.post_id))
        if self.now is None or at > self.now - timedelta(seconds=self.short_s):
            c[NS] += 1
            c[NEG_S] += neg
            c[HAS_S] += has
            heapq.heappush(self._short, (at, p.post_id))

    def advance(self, now: datetime) -> bool:
        """Move the boundaries to ``now``; False when ``now`` is before the boundaries in force."""
        if self.now is not None and now < self.now:
            return False
        self.now = now
        while self._later and self._later[0][0] <= now:
            _, pid, p = heapq.heappop(self._later)
            self._later_ids.discard(pid)
            self._count(p)
        short_start = now - timedelta(seconds=self.short_s)
        while self._short and self._short[0][0] <= short_start:
            _, pid = heapq.heappop(self._short)
            p = self.posts[pid]
            c = self.counts[p.topic_id]
            c[NS] -= 1
            c[NEG_S] -= p.sentiment == "negative"
            c[HAS_S] -= p.sentiment is not None
        long_start = now - timedelta(seconds=self.long_s)
        while self._long and self._long[0][0] <= long_start:
            _, pid = heapq.heappop(self._long)
            p = self.posts.pop(pid)
            c = self.counts[p.topic_id]
            c[N] -= 1
            c[NEG] -= p.sentiment == "negative"
            c[HAS] -= p.sentiment is not None
            if not c[N]:
                del self.counts[p.topic_id]
            held = self.by_topic[p.topic_id]
            del held[pid]
            if not held:
                del self.by_topic[p.topic_id]
        return True

    def counts_at(self) -> dict[int, list[int]]:
        """Per-topic counts at the ``now`` of the last :meth:`advance` (a copy)."""
        return {t: list(c) for t, c in self.counts.items()}

    def posts_of(self, topics: set[int]) -> list[WindowPost]:
        """The posts of ``topics`` in the long window."""
        return [p for t in sorted(topics) for p in self.by_topic.get(t, {}).values()]


# (database url, topics epoch, long_s, short_s) -> the window; one lock for all of them
_WINDOWS: dict[tuple[Any, ...], Window] = {}
LOCK = threading.Lock()


def cached(key: tuple[Any, ...], revision: tuple[int, int]) -> Window | None:
    """The window of ``key`` when it is up to date at ``revision`` (call under :data:`LOCK`)."""
    w = _WINDOWS.get(key)
    return w if w is not None and w.revision == revision else None


def store(w: Window) -> None:
    """Keep ``w`` for the next ticks (call under :data:`LOCK`)."""
    memo.keep(_WINDOWS, w.key, w)


def grouped(url_epoch: tuple[str, str], old: int, new: int, posts: list[WindowPost] | None) -> None:
    """After a committed grouping batch: add its posts to the windows of the database that
    were up to date at topics revision ``old`` (they are then at ``new``); ``posts`` None
    (topics were merged) drops those windows instead."""
    with LOCK:
        for key in [k for k in _WINDOWS if k[:2] == url_epoch]:
            w = _WINDOWS[key]
            if posts is None or w.revision[0] != old or not all(w.add(p) for p in posts):
                del _WINDOWS[key]
            else:
                w.revision = (new, w.revision[1])


def clear() -> None:
    """Forget every window (the next detect rebuilds from the database)."""
    with LOCK:
        _WINDOWS.clear()
