"""The database stage: topics with stable ids, and the issue lifecycle on a simulated clock."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import select

import classifiers.detect as detect_mod
from classifiers.detect import detect, group_pending
from config import Settings
from storage.db import session_scope
from storage.models import AuditLog, Classification, Issue, IssuePost, Topic
from tests.classifiers.helpers import add_posts

T0 = datetime(2026, 3, 2, 14, 0)
CHATTER = [
    "Wie ändere ich meine Bankverbindung im Kundenportal?",
    "Wann kommt Glasfaser in unsere Straße?",
    "Der Techniker war pünktlich und freundlich.",
    "Welcher Tarif lohnt sich für Vieltelefonierer?",
    "Wo finde ich die PUK meiner SIM-Karte?",
]
OUTAGE = [
    "Störung in Köln: kein Netz seit einer Stunde",
    "Kein Netz in Köln, Störung im Mobilfunk?",
    "Mobilfunk Störung Köln, Netz komplett weg",
    "Netz weg in Köln, ist das eine Störung?",
]


def _chatter(engine, start: datetime, n: int = 20) -> None:
    add_posts(engine, [(start + timedelta(minutes=3 * i), CHATTER[i % 5], f"c{i}", "neutral") for i in range(n)])


def _outage(engine, start: datetime, n: int, minutes: float = 20, prefix: str = "o") -> list[int]:
    return add_posts(engine, [(start + timedelta(minutes=minutes * i / n), OUTAGE[i % 4], f"{prefix}{i}", "negative")
                              for i in range(n)])


def _topic_of(engine, post_id: int) -> int | None:
    with session_scope(engine) as s:
        return s.get(Classification, post_id).topic_id


def test_group_pending_assigns_stable_topic_ids(settings: Settings, engine) -> None:
    _chatter(engine, T0 - timedelta(hours=2))
    first = _outage(engine, T0, 6)
    assert group_pending(settings, engine) == 26
    tid = _topic_of(engine, first[0])
    assert tid is not None and all(_topic_of(engine, p) == tid for p in first)
    with session_scope(engine) as s:
        topic = s.get(Topic, tid)
        assert topic.size == 6 and "Köln" in topic.keywords and topic.label
        assert s.exec(select(Classification).where(Classification.grouped.is_(False))).first() is None
    # later posts join the same id, also after the in-memory cache is gone (rebuilt from the rows)
    detect_mod._CACHE.clear()
    later = _outage(engine, T0 + timedelta(hours=1), 3)
    assert group_pending(settings, engine) == 3
    assert {_topic_of(engine, p) for p in later} == {tid}
    with session_scope(engine) as s:
        assert s.get(Topic, tid).size == 9
    assert group_pending(settings, engine) == 0  # nothing left


def test_posts_without_embedding_are_marked_grouped_without_topic(settings: Settings, engine) -> None:
    ids = add_posts(engine, [(T0, "Hello world, this is English", "x", None)], embed=False)
    assert group_pending(settings, engine) == 1
    with session_scope(engine) as s:
        c = s.get(Classification, ids[0])
        assert c.grouped and c.topic_id is None


def test_limit_is_respected_oldest_first(settings: Settings, engine) -> None:
    _chatter(engine, T0, 10)
    assert group_pending(settings, engine, limit=4) == 4
    with session_scope(engine) as s:
        grouped = s.exec(select(Classification).where(Classification.grouped.is_(True))).all()
        assert len(grouped) == 4


def test_converging_topics_merge_and_the_old_id_points_to_the_survivor(tmp_path, engine) -> None:
    from config import load_settings

    settings = load_settings(data_dir=tmp_path / "d", database_url=str(engine.url), model={"encoder": "fake"},
                             topics={"join_threshold": 1.5, "merge_threshold": 0.3})
    _chatter(engine, T0 - timedelta(hours=2))
    a = add_posts(engine, [(T0 + timedelta(minutes=i), OUTAGE[0], f"a{i}", "negative") for i in range(4)])
    group_pending(settings, engine)
    b = []
    for i in range(2):  # one at a time: the second post makes the stored topic big enough to merge
        b += add_posts(engine, [(T0 + timedelta(minutes=10 + i), OUTAGE[2], f"b{i}", "negative")])
        group_pending(settings, engine)
        if i == 0:
            assert _topic_of(engine, b[0]) != _topic_of(engine, a[0])
    survivor = _topic_of(engine, a[0])
    assert {_topic_of(engine, p) for p in a + b} == {survivor}  # posts of the absorbed topic moved
    with session_scope(engine) as s:
        absorbed = s.exec(select(Topic).where(Topic.merged_into.is_not(None))).all()
        assert [t.merged_into for t in absorbed] == [survivor]
        assert s.get(Topic, survivor).size == 6
        assert s.exec(select(AuditLog).where(AuditLog.action == "topic_merged")).first() is not None


def _issues(engine) -> list[Issue]:
    with session_scope(engine) as s:
        return list(s.exec(select(Issue).order_by(Issue.id)).all())


def _run(settings, engine, now):
    group_pending(settings, engine)
    return detect(settings, engine, now=now)


def test_issue_lifecycle_open_ack_resolve_reopen(tmp_path, engine) -> None:
    from config import load_settings

    settings = load_settings(data_dir=tmp_path / "d", database_url=str(engine.url), model={"encoder": "fake"},
                             emergence={"resolve_after": "30m", "flap_suppression": "10m", "cooldown": "2h"})
    _chatter(engine, T0 - timedelta(hours=1))
    assert _run(settings, engine, T0).opened == []  # chatter alone raises nothing
    posts = _outage(engine, T0, 12, minutes=10)
    res = _run(settings, engine, T0 + timedelta(minutes=11))
    assert len(res.opened) == 1
    issue = _issues(engine)[0]
    assert issue.status == "open" and issue.first_detected_at == T0 + timedelta(minutes=11)
    assert issue.first_post_at == T0 and issue.post_count == 12 and issue.author_count == 12
    assert issue.severity > 50 and "12 Beiträge in 30 min" in issue.reasons and "100 % negativ" in issue.reasons
    assert "Köln" in issue.keywords
    with session_scope(engine) as s:
        assert {ip.post_id for ip in s.exec(select(IssuePost)).all()} == set(posts)
        s.get(Issue, issue.id).status = "acknowledged"  # a person, in the dashboard
    # more posts: linked to the same issue, still acknowledged
    more = _outage(engine, T0 + timedelta(minutes=12), 4, minutes=4, prefix="m")
    res = _run(settings, engine, T0 + timedelta(minutes=17))
    assert res.updated == [issue.id] and res.opened == []
    issue = _issues(engine)[0]
    assert issue.status == "acknowledged" and issue.post_count == 16
    # quiet: resolved automatically once volume stayed at baseline for resolve_after
    t = T0 + timedelta(minutes=17)
    resolved_at = None
    while t < T0 + timedelta(hours=3) and resolved_at is None:
        t += timedelta(minutes=5)
        if _run(settings, engine, t).resolved:
            resolved_at = t
    assert resolved_at is not None
    issue = _issues(engine)[0]
    assert issue.status == "resolved" and issue.resolved_by is None and issue.resolved_at == resolved_at
    quiet_from = T0 + timedelta(minutes=16) + timedelta(seconds=settings.emergence.window)  # last post leaves the window
    assert resolved_at >= quiet_from - timedelta(minutes=30) + timedelta(seconds=settings.emergence.resolve_after)
    # the same topic flares again within the cooldown: the same row is re-opened, not duplicated
    again = resolved_at + timedelta(minutes=20)
    _outage(engine, again - timedelta(minutes=10), 12, minutes=10, prefix="r")
    res = _run(settings, engine, again)
    assert res.reopened == [issue.id] and res.opened == []
    issues = _issues(engine)
    assert len(issues) == 1 and issues[0].status == "open" and issues[0].reopened_count == 1
    assert issues[0].post_count == 28 and len(more) == 4


def test_a_flare_after_the_cooldown_opens_a_new_issue(tmp_path, engine) -> None:
    from config import load_settings

    settings = load_settings(data_dir=tmp_path / "d", database_url=str(engine.url), model={"encoder": "fake"},
                             emergence={"resolve_after": "10m", "flap_suppression": "5m", "cooldown": "30m"})
    _chatter(engine, T0 - timedelta(hours=1))
    _outage(engine, T0, 12, minutes=10)
    assert _run(settings, engine, T0 + timedelta(minutes=11)).opened
    t = T0 + timedelta(minutes=11)
    while not _run(settings, engine, t).resolved:
        t += timedelta(minutes=5)
        assert t < T0 + timedelta(hours=3)
    later = t + timedelta(hours=6)
    _outage(engine, later - timedelta(minutes=10), 12, minutes=10, prefix="n")
    res = _run(settings, engine, later)
    assert len(res.opened) == 1 and not res.reopened
    assert [i.status for i in _issues(engine)] == ["resolved", "open"]


def test_flap_suppression_holds_a_fresh_issue_open(tmp_path, engine) -> None:
    from config import load_settings

    settings = load_settings(data_dir=tmp_path / "d", database_url=str(engine.url), model={"encoder": "fake"},
                             emergence={"resolve_after": "1m", "flap_suppression": "3h"})
    _chatter(engine, T0 - timedelta(hours=1))
    _outage(engine, T0, 12, minutes=10)
    assert _run(settings, engine, T0 + timedelta(minutes=11)).opened
    for minutes in range(60, 170, 10):  # long quiet, but within flap suppression
        assert not _run(settings, engine, T0 + timedelta(minutes=minutes)).resolved
    assert _run(settings, engine, T0 + timedelta(minutes=11 + 180)).resolved  # 3 h after opening


def test_demo_storyline_on_the_wall_clock_is_raised_within_two_minutes(tmp_path, engine) -> None:
    """The demo's accelerated storyline: a few dozen outage posts within 90 s among chatter,
    with the settings recommended for the demo (detection every 5 s)."""
    from config import load_settings

    settings = load_settings(data_dir=tmp_path / "d", database_url=str(engine.url), model={"encoder": "fake"},
                             scheduler={"detect_interval": "5s"},
                             emergence={"resolve_after": "5m", "flap_suppression": "2m", "cooldown": "10m"})
    start = T0
    add_posts(engine, [(start - timedelta(seconds=60 - 2 * i), CHATTER[i % 5], f"c{i}", "neutral") for i in range(30)])
    storyline = ["Störung! Kein Netz in Köln", "App stürzt ab und kein Netz, Störung?", "Kein Netz seit 5 Minuten, Störung",
                 "Störung im Netz, kein Empfang in Köln"]
    add_posts(engine, [(start + timedelta(seconds=3 * i), storyline[i % 4], f"s{i}", "negative") for i in range(30)])
    raised_at = None
    for k in range(0, 25):  # every 5 s of wall time
        now = start + timedelta(seconds=5 * k)
        if _run(settings, engine, now).opened:
            raised_at = now
            break
    assert raised_at is not None and raised_at <= start + timedelta(minutes=2)


def test_resolved_wave_does_not_reopen_on_the_long_window(tmp_path, engine) -> None:
    """Resolution follows the short window; the long window still holding the same wave must
    not re-open the issue at the next pass (that would flap resolved/open every few minutes)."""
    from config import load_settings

    settings = load_settings(data_dir=tmp_path / "d", database_url=str(engine.url), model={"encoder": "fake"},
                             emergence={"resolve_after": "10m", "flap_suppression": "10m", "cooldown": "2h"})
    _chatter(engine, T0 - timedelta(hours=1))
    _outage(engine, T0, 14, minutes=10)
    assert len(_run(settings, engine, T0 + timedelta(minutes=11)).opened) == 1
    resolved, reopened = [], []
    t = T0 + timedelta(minutes=11)
    while t < T0 + timedelta(hours=2, minutes=30):  # the wave stays inside the 3 h long window
        t += timedelta(minutes=5)
        res = _run(settings, engine, t)
        resolved += res.resolved
        reopened += res.reopened
    assert len(resolved) == 1 and reopened == []
    assert _issues(engine)[0].status == "resolved"


def test_cross_posts_count_once(tmp_path, engine) -> None:
    """Six complaints, each cross-posted once more (duplicate_of set by the crawler): six voices,
    below min_volume 8, so nothing is raised; with six more originals it is."""
    from sqlalchemy import update

    from config import load_settings
    from storage.models import Post

    settings = load_settings(data_dir=tmp_path / "d", database_url=str(engine.url), model={"encoder": "fake"})
    _chatter(engine, T0 - timedelta(hours=1))
    originals = _outage(engine, T0, 6, minutes=6)
    copies = _outage(engine, T0 + timedelta(seconds=20), 6, minutes=6, prefix="x")
    with session_scope(engine) as s:
        for orig, copy in zip(originals, copies, strict=True):
            s.execute(update(Post).where(Post.id == copy).values(duplicate_of=orig))
    assert _run(settings, engine, T0 + timedelta(minutes=7)).opened == []
    _outage(engine, T0 + timedelta(minutes=7), 6, minutes=2, prefix="n")
    assert len(_run(settings, engine, T0 + timedelta(minutes=10)).opened) == 1
