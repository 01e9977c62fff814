"""Emergence verdicts on window statistics (no database)."""

from __future__ import annotations

from datetime import datetime, timedelta

from classifiers.emergence import (
    MIN_EXPECTED,
    WindowPost,
    assess,
    expected_volume,
    reasons_de,
    severity,
    window_stats,
)
from config.settings import EmergenceSettings

NOW = datetime(2026, 3, 2, 14, 30)
CFG = EmergenceSettings()


def _posts(n: int, *, topic: int = 1, authors: int | None = None, sentiment: str = "negative",
           sources: int = 3, minutes: float = 25) -> list[WindowPost]:
    return [WindowPost(post_id=i, topic_id=topic, source_id=i % sources,
                       author=f"a{i % authors if authors else i}", sentiment=sentiment,
                       published_at=NOW - timedelta(minutes=minutes * (n - i) / n)) for i in range(n)]


def _verdict(posts: list[WindowPost], expected: float = MIN_EXPECTED):
    short = window_stats(posts, NOW, CFG.window, CFG.per_author_cap).get(1)
    long = window_stats(posts, NOW, CFG.long_window, CFG.per_author_cap).get(1)
    return assess(short, long, expected, expected, CFG)


def test_window_stats_count_authors_sources_and_the_window_edges() -> None:
    posts = _posts(10, authors=4, sources=2)
    posts.append(WindowPost(99, 1, 0, "old", "negative", NOW - timedelta(minutes=31)))  # outside 30 min
    posts.append(WindowPost(98, 1, 0, "future", "negative", NOW + timedelta(seconds=1)))  # not yet published
    st = window_stats(posts, NOW, 1800, per_author_cap=2)[1]
    assert st.posts == 10 and st.authors == 4 and st.sources == 2
    assert st.effective == 8  # at most 2 posts per author count
    assert 99 not in st.post_ids and 98 not in st.post_ids


def test_burst_of_negative_posts_from_many_authors_emerges() -> None:
    a = _verdict(_posts(20))
    assert a.emerging and not a.quiet
    assert 50 < a.severity <= 100
    assert a.reasons.startswith("20 Beiträge in 30 min, 20x üblich, 100 % negativ, 3 Quellen, 20 Autor:innen")


def test_one_loud_author_is_one_voice() -> None:
    a = _verdict(_posts(30, authors=1))
    assert not a.emerging
    assert a.stats.effective == CFG.per_author_cap


def test_happy_campaign_does_not_emerge() -> None:
    assert not _verdict(_posts(80, sentiment="positive")).emerging


def test_below_minimum_volume_nothing_is_raised() -> None:
    assert not _verdict(_posts(CFG.min_volume - 1)).emerging
    assert _verdict(_posts(CFG.min_volume)).emerging


def test_volume_in_line_with_the_expected_volume_does_not_emerge() -> None:
    assert not _verdict(_posts(20), expected=10).emerging  # 2x < sensitivity 3
    assert _verdict(_posts(31), expected=10).emerging


def test_expected_volume_follows_the_activity_of_everything_else() -> None:
    # a topic that is 5 % of all posts: at night (200 others in the window) and on Monday morning (2,000)
    night = expected_volume(topic_hist=500, total_hist=10_000, others_now=200)
    monday = expected_volume(topic_hist=500, total_hist=10_000, others_now=2000)
    assert 9 < night < 12 and 95 < monday < 110
    assert expected_volume(topic_hist=0, total_hist=0, others_now=0) == MIN_EXPECTED
    # the same window in earlier weeks counts when it was busier
    assert expected_volume(topic_hist=0, total_hist=1000, others_now=10, seasonal=[30, 50]) == 40


def test_quiet_when_volume_is_back_at_baseline() -> None:
    assert _verdict(_posts(1, minutes=5)).quiet
    assert not _verdict(_posts(5, minutes=5)).quiet


def test_severity_grows_with_volume_rise_and_negativity() -> None:
    base = window_stats(_posts(10), NOW, 1800, 2)[1]
    bigger = window_stats(_posts(60), NOW, 1800, 2)[1]
    assert severity(bigger, 60, CFG) > severity(base, 10, CFG)
    assert severity(base, 10, CFG) > severity(base, 3, CFG)
    mixed = window_stats(_posts(10, sentiment="neutral") + _posts(10, sentiment="negative"), NOW, 1800, 2)[1]
    assert severity(mixed, 10, CFG) < severity(base, 10, CFG)
    assert 0 <= severity(bigger, 10_000, CFG) <= 100


def test_reasons_are_german_words() -> None:
    st = window_stats(_posts(87, sources=3), NOW, 1800, 2)[1]
    text = reasons_de(st, 4.0)
    assert text.startswith("87 Beiträge in 30 min, 4,0x üblich, 100 % negativ, 3 Quellen, 87 Autor:innen")
    one = window_stats(_posts(1, sources=1), NOW, 3 * 3600, 2)[1]
    assert reasons_de(one, 1.0).startswith("1 Beitrag in 3 h, im üblichen Rahmen, 100 % negativ, 1 Quelle, 1 Autor:in")


def test_a_neutral_topic_joined_by_a_few_complaints_does_not_emerge() -> None:
    """The bench's false alarm: invoice questions ("Rechnung erhalten, Abbuchung erfolgt wann?"),
    neutral, joined by five double-debit complaints: 8 posts, 62 % negative, 3.4x usual. Only five
    voices are negative, below min_volume: the rise is not carried by complaints."""
    neutral = _posts(3, sentiment="neutral")
    negative = [WindowPost(100 + i, 1, i % 3, f"n{i}", "negative", NOW - timedelta(minutes=3 * i)) for i in range(5)]
    a = _verdict(neutral + negative, expected=2.35)
    assert a.stats.effective == 8 and a.stats.negative_effective == 5 and a.ratio >= CFG.sensitivity
    assert not a.emerging
    more = [WindowPost(200 + i, 1, i % 3, f"m{i}", "negative", NOW - timedelta(minutes=2 * i)) for i in range(3)]
    assert _verdict(neutral + negative + more, expected=2.35).emerging  # eight negative voices: raised


def test_negative_voices_are_capped_per_author() -> None:
    posts = _posts(4, sentiment="neutral") + _posts(12, authors=3)  # 12 complaints from 3 authors: 6 voices
    st = window_stats(posts, NOW, CFG.window, CFG.per_author_cap)[1]
    assert st.negative == 12 and st.negative_effective == 3 * CFG.per_author_cap
