"""Is a topic emerging? Pure functions over the posts of a time window (no database).

A topic is *emerging* when, in the short window (``window``) or the long window
(``long_window``, for slowly building issues), all of these hold:

* volume: at least ``min_volume`` (long: ``min_volume_long``) posts, counting at most
  ``per_author_cap`` posts per author, so one angry author posting 30 times is one voice;
* rise: that volume is at least ``sensitivity`` times the *expected* volume;
* tone: at least ``min_negative_share`` of its German posts are negative, so a loud but
  happy campaign does not alarm;
* negative voices: the volume test also holds for the negative posts alone (same per-author
  cap). An established neutral topic (invoice questions) that a few complaints of another
  incident happen to join must not look like a rise of its own: its usual chatter plus five
  complaints is five negative voices, not eight;
* spread: at least ``min_authors`` distinct authors.

The expected volume knows time of day and weekday in two ways, and the larger wins:

* share: the topic's share of all posts over ``baseline_span`` before the window, times
  the volume of every *other* topic in the window now. On Monday morning everything rises
  together and the share stays; in a quiet night everything falls together;
* season: the topic's mean volume in the same window 1..``baseline_weeks`` weeks ago
  (weeks without any data are skipped).

Expected volume is never below 1 post, so a brand-new topic needs ``sensitivity`` posts
and ``min_volume``. Severity (0..100) grows with the rise, the volume, the negative share,
the spread over sources and authors and the velocity; its reasons are German words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from config.settings import EmergenceSettings

MIN_EXPECTED = 1.0  # expected posts per window never go below this


@dataclass(frozen=True)
class WindowPost:
    """What emergence needs to know about one post."""

    post_id: int
    topic_id: int
    source_id: int
    author: str  # keyed hash of the handle; posts without an author get a unique key
    sentiment: str | None  # negative | neutral | positive | None (not German)
    published_at: datetime


@dataclass
class WindowStats:
    """One topic in one window."""

    topic_id: int
    window_s: float
    posts: int = 0
    effective: int = 0  # posts counting at most per_author_cap per author
    negative: int = 0
    negative_effective: int = 0  # negative posts counting at most per_author_cap per author
    with_sentiment: int = 0
    sources: int = 0
    authors: int = 0
    recent: int = 0  # posts in the last third of the window (velocity)
    first_post_at: datetime | None = None
    last_post_at: datetime | None = None
    post_ids: list[int] = field(default_factory=list)

    @property
    def negative_share(self) -> float:
        return self.negative / self.with_sentiment if self.with_sentiment else 0.0


@dataclass
class Assessment:
    """The verdict on one topic at one moment."""

    topic_id: int
    emerging: bool
    quiet: bool  # back at baseline (for resolution)
    severity: float
    reasons: str
    ratio: float
    expected: float
    stats: WindowStats  # the window the verdict is about


def window_stats(posts: list[WindowPost], now: datetime, window_s: float,
                 per_author_cap: int) -> dict[int, WindowStats]:
    """Per-topic statistics of the posts published in ``(now - window_s, now]``."""
    start = now - timedelta(seconds=window_s)
    recent_from = now - timedelta(seconds=window_s / 3)
    out: dict[int, WindowStats] = {}
    per_author: dict[int, dict[str, int]] = {}
    neg_author: dict[int, dict[str, int]] = {}
    sources: dict[int, set[int]] = {}
    for p in posts:
        if not (start < p.published_at <= now):
            continue
        st = out.get(p.topic_id)
        if st is None:
            st = out[p.topic_id] = WindowStats(p.topic_id, window_s)
            per_author[p.topic_id] = {}
            neg_author[p.topic_id] = {}
            sources[p.topic_id] = set()
        st.posts += 1
        st.post_ids.append(p.post_id)
        counts = per_author[p.topic_id]
        counts[p.author] = counts.get(p.author, 0) + 1
        sources[p.topic_id].add(p.source_id)
        if p.sentiment is not None:
            st.with_sentiment += 1
            if p.sentiment == "negative":
                st.negative += 1
                negs = neg_author[p.topic_id]
                negs[p.author] = negs.get(p.author, 0) + 1
        if p.published_at > recent_from:
            st.recent += 1
        if st.first_post_at is None or p.published_at < st.first_post_at:
            st.first_post_at = p.published_at
        if st.last_post_at is None or p.published_at > st.last_post_at:
            st.last_post_at = p.published_at
    for tid, st in out.items():
        st.effective = sum(min(c, per_author_cap) for c in per_author[tid].values())
        st.negative_effective = sum(min(c, per_author_cap) for c in neg_author[tid].values())
        st.authors = len(per_author[tid])
        st.sources = len(sources[tid])
    return out


PRIOR_POSTS = 50.0  # pseudo-posts of history behind the prior share


def expected_volume(*, topic_hist: int, total_hist: int, others_now: int,
                    seasonal: list[int] | None = None, prior_share: float = 0.01) -> float:
    """Expected posts of a topic in the window (see the module docstring).

    ``prior_share`` is what a topic is assumed to weigh while there is little history
    (e.g. 1 / the number of topics seen in the window): right after start-up every
    steady topic is "new", and this keeps them from all looking like a rise.
    """
    others_hist = max(total_hist - topic_hist, 0)
    # smoothed ratio topic : everything else
    share = (topic_hist + PRIOR_POSTS * prior_share) / (others_hist + PRIOR_POSTS)
    expected = share * others_now
    if seasonal:
        expected = max(expected, sum(seasonal) / len(seasonal))
    return max(expected, MIN_EXPECTED)


def may_emerge(short: WindowStats | None, long: WindowStats | None, cfg: EmergenceSettings) -> bool:
    """The cheap tests (volume, tone, spread) without the baseline: False means not emerging."""
    return any(st is not None and st.effective >= min_vol and st.negative_effective >= min_vol
               and st.negative_share >= cfg.min_negative_share and st.authors >= cfg.min_authors
               for st, min_vol in ((short, cfg.min_volume), (long, cfg.min_volume_long)))


def assess(short: WindowStats | None, long: WindowStats | None, expected_short: float,
           expected_long: float, cfg: EmergenceSettings) -> Assessment:
    """Decide whether a topic is emerging (or back at baseline) and score it."""
    verdicts = []
    for st, exp, min_vol in ((short, expected_short, cfg.min_volume), (long, expected_long, cfg.min_volume_long)):
        if st is None:
            continue
        ratio = st.effective / exp
        ok = (st.effective >= min_vol and st.negative_effective >= min_vol and ratio >= cfg.sensitivity
              and st.negative_share >= cfg.min_negative_share and st.authors >= cfg.min_authors)
        verdicts.append((ok, ratio, exp, st))
    if not verdicts:
        raise ValueError("assess needs the stats of at least one window")
    emerging = [v for v in verdicts if v[0]]
    # report the first firing window (the short one when it fires), else the short window
    ok, ratio, exp, st = emerging[0] if emerging else verdicts[0]
    quiet = short is None or short.effective <= max(cfg.resolve_ratio * expected_short, MIN_EXPECTED)
    return Assessment(topic_id=st.topic_id, emerging=bool(emerging), quiet=quiet,
                      severity=severity(st, ratio, cfg), reasons=reasons_de(st, ratio),
                      ratio=ratio, expected=exp, stats=st)


def velocity(st: WindowStats) -> float:
    """Rate in the last third of the window relative to the rate over the whole window."""
    if st.posts == 0:
        return 0.0
    return (st.recent * 3.0) / st.posts


def severity(st: WindowStats, ratio: float, cfg: EmergenceSettings) -> float:
    """0..100 from rise, volume, negative share, spread and velocity."""
    rise = min(1.0, math.log2(max(ratio, 1.0)) / 4.0)  # 16x -> full
    volume = min(1.0, math.log1p(st.effective / cfg.min_volume) / math.log(11.0))  # 10x min_volume -> full
    spread = 0.5 * min(1.0, (st.sources - 1) / 3.0) + 0.5 * min(1.0, (st.authors - 1) / 20.0)
    speed = min(1.0, max(velocity(st) - 1.0, 0.0))  # rate still doubling -> full
    score = 0.30 * rise + 0.25 * volume + 0.25 * st.negative_share + 0.12 * spread + 0.08 * speed
    return round(100.0 * min(1.0, max(0.0, score)), 1)


def _duration_de(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return f"{hours} h"
    if seconds >= 60:
        return f"{round(seconds / 60)} min"
    return f"{round(seconds)} s"


def reasons_de(st: WindowStats, ratio: float) -> str:
    """E.g. ``87 Beiträge in 30 min, 4x üblich, 78 % negativ, 3 Quellen, 25 Autor:innen``."""
    parts = [f"{st.posts} {'Beitrag' if st.posts == 1 else 'Beiträge'} in {_duration_de(st.window_s)}"]
    if ratio >= 10:
        parts.append(f"{ratio:.0f}x üblich")
    elif ratio >= 1.05:
        parts.append(f"{ratio:.1f}x üblich".replace(".", ","))
    else:
        parts.append("im üblichen Rahmen")
    parts.append(f"{round(100 * st.negative_share)} % negativ")
    parts.append(f"{st.sources} {'Quelle' if st.sources == 1 else 'Quellen'}")
    parts.append(f"{st.authors} {'Autor:in' if st.authors == 1 else 'Autor:innen'}")
    v = velocity(st)
    if st.posts >= 3 and v >= 1.5:
        parts.append("stark steigend")
    elif st.posts >= 3 and v >= 1.1:
        parts.append("steigend")
    return ", ".join(parts)
