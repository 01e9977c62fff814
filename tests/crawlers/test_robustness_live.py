"""Failures fail visibly and locally: 429/5xx/slow/truncated/malformed/huge answers, robots.txt,
repeated failures flagged, one broken source never stopping the others, no duplicates.
"""

from __future__ import annotations

import json

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from config import load_settings
from crawlers.runner import crawl_once
from storage.models import AuditLog, Post
from tests.crawlers.conftest import MakeSettings
from tests.crawlers.helpers import crawl, posts, runs, source_row
from tests.crawlers.platforms import mastodon_timeline
from tests.crawlers.server import HTML, JSON, RSS, LocalServer, Reply, fixture

FEED = fixture("rss/news_rss20.xml")


def test_429_retry_after_is_honoured(srv: LocalServer, make_settings: MakeSettings, live_engine: Engine) -> None:
    srv.route("/feed.xml", Reply(status=429, body=b"slow down", content_type="text/plain",
                                 headers={"Retry-After": "1"}), Reply(body=FEED, content_type=RSS))
    got = crawl(make_settings([{"name": "feed", "type": "rss", "url": srv.url("/feed.xml")}]), live_engine)["feed"]
    assert (got.status, got.new, got.errors) == ("ok", 3, 0)
    first, second = srv.hits("/feed.xml")
    assert second.at - first.at >= 1.0  # waited as told, not the 0.05 s backoff
    stats = runs(live_engine, "feed")[-1].stats
    assert stats["fruehwarn/retry/count"] == 1 and stats["fruehwarn/retry/reason/429"] == 1


def test_a_retry_after_beyond_the_cap_gives_up_instead_of_asking_early(
        srv: LocalServer, make_settings: MakeSettings, live_engine: Engine) -> None:
    srv.route("/feed.xml", Reply(status=503, headers={"Retry-After": "3600"}, content_type="text/plain"))
    got = crawl(make_settings([{"name": "feed", "type": "rss", "url": srv.url("/feed.xml")}]), live_engine)["feed"]
    assert got.status == "failed" and "HTTP 503" in (got.error or "")
    assert len(srv.hits("/feed.xml")) == 1


def test_5xx_are_retried_with_backoff_in_one_layer(srv: LocalServer, make_settings: MakeSettings,
                                                   live_engine: Engine) -> None:
    srv.route("/feed.xml", Reply(status=500), Reply(status=502), Reply(body=FEED, content_type=RSS))
    got = crawl(make_settings([{"name": "feed", "type": "rss", "url": srv.url("/feed.xml")}]), live_engine)["feed"]
    assert (got.status, got.new) == ("ok", 3)
    assert len(srv.hits("/feed.xml")) == 3  # retry_times=2: exactly three attempts, no stacked retries


def test_persistent_failure_is_recorded_counted_and_flagged(srv: LocalServer, make_settings: MakeSettings,
                                                           live_engine: Engine) -> None:
    srv.route("/feed.xml", Reply(status=503, body=b"Wartung", content_type="text/plain"))
    settings = make_settings([{"name": "feed", "type": "rss", "url": srv.url("/feed.xml")}], failure_flag_after=2)
    first = crawl(settings, live_engine)["feed"]
    assert first.status == "failed" and first.errors == 1
    assert first.error is not None and first.error.startswith("HTTP 503 from") and "after 3 attempts" in first.error
    assert len(srv.hits("/feed.xml")) == 3
    assert first.flags == []
    second = crawl(settings, live_engine)["feed"]
    assert second.flags == ["failing"]
    row = source_row(live_engine, "feed")
    assert row.consecutive_failures == 2 and row.last_success_at is None
    history = runs(live_engine, "feed")
    assert [r.status for r in history] == ["failed", "failed"] and all(r.finished_at for r in history)
    with Session(live_engine) as s:
        flagged = s.exec(select(AuditLog).where(AuditLog.action == "source_flagged")).all()
    assert len(flagged) == 1 and flagged[0].detail["flag"] == "failing"
    # the source recovers: counters reset, flag cleared
    srv.route("/feed.xml", Reply(body=FEED, content_type=RSS))
    third = crawl(settings, live_engine)["feed"]
    assert (third.status, third.flags) == ("ok", [])
    assert source_row(live_engine, "feed").consecutive_failures == 0


def test_slow_truncated_huge_and_malformed_answers(srv: LocalServer, make_settings: MakeSettings,
                                                   live_engine: Engine) -> None:
    srv.route("/slow.xml", Reply(body=FEED, content_type=RSS, delay=3))  # download_timeout is 2 s
    srv.route("/cut.xml", Reply(body=FEED, content_type=RSS, truncate_to=600))
    srv.route("/huge.xml", Reply(content_type=RSS, size=20_000_000))  # 20 MB > max_body_bytes (5 MB)
    srv.route("/api/v1/timelines/tag/kaputt", Reply(body=b'[{"id": "1", "content": "<p>abgeschnit'))
    srv.route("/api/v1/timelines/tag/latin", Reply(body='[{"id": "2", "content": "Grüße"}]'.encode("latin-1")))
    srv.route("/empty.json", Reply(body=b""))
    settings = make_settings([
        {"name": "slow", "type": "rss", "url": srv.url("/slow.xml")},
        {"name": "cut", "type": "rss", "url": srv.url("/cut.xml")},
        {"name": "huge", "type": "rss", "url": srv.url("/huge.xml")},
        {"name": "kaputt", "type": "mastodon", "url": srv.url("/api/v1/timelines/tag/kaputt")},
        {"name": "latin", "type": "mastodon", "url": srv.url("/api/v1/timelines/tag/latin")},
        {"name": "leer", "type": "appstore", "url": srv.url("/empty.json")},
    ], retry_times=1)
    got = crawl(settings, live_engine)
    assert {n: s.status for n, s in got.items()} == {n: "failed" for n in got}
    assert "timeout fetching" in (got["slow"].error or "")
    assert "cut off" in (got["cut"].error or "")
    assert "larger than crawl.max_body_bytes" in (got["huge"].error or "")
    assert (got["kaputt"].error or "").startswith("Unterminated string")
    assert "not UTF-8" in (got["latin"].error or "")
    assert "empty" in (got["leer"].error or "")
    stats = {r.source_id: r.stats for r in (runs(live_engine, n)[-1] for n in got)}
    assert any("fruehwarn/errors/timeout" in s for s in stats.values())
    assert any("fruehwarn/errors/too_large" in s for s in stats.values())
    assert len(srv.hits("/huge.xml")) == 1  # a too-large answer is not retried
    assert posts(live_engine) == []


def test_empty_feed_is_fine_and_counted(srv: LocalServer, make_settings: MakeSettings, live_engine: Engine) -> None:
    srv.route("/empty.xml", Reply(body=fixture("rss/empty.xml"), content_type=RSS))
    got = crawl(make_settings([{"name": "leer", "type": "rss", "url": srv.url("/empty.xml")}]), live_engine)["leer"]
    assert (got.status, got.new, got.errors) == ("ok", 0, 0)
    assert runs(live_engine, "leer")[-1].stats["fruehwarn/empty_feed"] == 1


def test_bad_entries_make_a_partial_crawl_and_keep_the_good_ones(srv: LocalServer, make_settings: MakeSettings,
                                                                 live_engine: Engine) -> None:
    statuses = json.loads(fixture("mastodon/tag_timeline.json"))
    statuses.insert(1, {"content": "<p>ohne id</p>"})
    srv.route("/api/v1/timelines/tag/nordnetz", Reply(body=json.dumps(statuses)))
    got = crawl(make_settings([{"name": "m", "type": "mastodon", "url": srv.url("/api/v1/timelines/tag/nordnetz")}]),
                live_engine)["m"]
    assert (got.status, got.new, got.errors) == ("partial", 3, 1)


def test_a_failing_sub_request_is_partial_and_keeps_the_cursor(srv: LocalServer, make_settings: MakeSettings,
                                                               live_engine: Engine) -> None:
    srv.route("/latest.json", Reply(body=fixture("discourse/latest_page1.json")))
    srv.route("/t/rufnummernmitnahme-dauert-ewig/95.json", Reply(status=500))
    settings = make_settings([{"name": "d", "type": "discourse", "url": srv.url("/")}])
    got = crawl(settings, live_engine)["d"]
    assert got.status == "partial" and "HTTP 500" in (got.error or "")
    assert source_row(live_engine, "d").cursor == {}  # the topic is fetched again next time
    srv.route("/t/rufnummernmitnahme-dauert-ewig/95.json", Reply(body=fixture("discourse/topic_95.json")))
    again = crawl(settings, live_engine)["d"]
    assert (again.status, again.new) == ("ok", 1)


def test_robots_txt_is_obeyed(srv: LocalServer, make_settings: MakeSettings, live_engine: Engine) -> None:
    srv.route("/robots.txt", Reply(body=b"User-agent: *\nDisallow: /privat/\n", content_type="text/plain"))
    srv.route("/privat/feed.xml", Reply(body=FEED, content_type=RSS))
    srv.route("/feed.xml", Reply(body=FEED, content_type=RSS))
    got = crawl(make_settings([{"name": "privat", "type": "rss", "url": srv.url("/privat/feed.xml")},
                               {"name": "offen", "type": "rss", "url": srv.url("/feed.xml")}]), live_engine)
    assert got["privat"].status == "failed" and "robots.txt" in (got["privat"].error or "")
    assert srv.hits("/privat/feed.xml") == []
    assert (got["offen"].status, got["offen"].new) == ("ok", 3)


def test_one_broken_source_does_not_stop_the_others(srv: LocalServer, make_settings: MakeSettings,
                                                    live_engine: Engine) -> None:
    srv.route("/feed.xml", Reply(body=FEED, content_type=RSS))
    srv.route("/down.xml", Reply(status=500))
    srv.route("/garbage.json", Reply(body=b"<html>Fehler</html>", content_type=HTML))
    srv.route("/api/v1/timelines/tag/nordnetz", Reply(body=fixture("mastodon/tag_timeline.json"), content_type=JSON))
    settings = make_settings([
        {"name": "gut", "type": "rss", "url": srv.url("/feed.xml")},
        {"name": "down", "type": "rss", "url": srv.url("/down.xml")},
        {"name": "garbage", "type": "reddit", "url": srv.url("/garbage.json")},
        {"name": "no-selectors", "type": "forum", "url": srv.url("/thread.html")},
        {"name": "bad-url", "type": "mastodon", "url": srv.url("/wer/weiss")},
        {"name": "masto", "type": "mastodon", "url": srv.url("/api/v1/timelines/tag/nordnetz")},
    ])
    got = crawl(settings, live_engine)
    assert {n: s.status for n, s in got.items()} == {
        "gut": "ok", "down": "failed", "garbage": "failed", "no-selectors": "failed", "bad-url": "failed",
        "masto": "ok"}
    assert (got["gut"].new, got["masto"].new) == (3, 3)
    assert "config: forum sources need 'selectors:'" in (got["no-selectors"].error or "")
    assert "mastodon url" in (got["bad-url"].error or "")
    assert "malformed_json" in json.dumps(runs(live_engine, "garbage")[-1].stats)


def test_recrawl_inserts_nothing_twice(srv: LocalServer, engine: Engine, db_url: str, tmp_path: object) -> None:
    """On every backend: a second crawl of the same answers stores nothing new."""
    statuses = json.loads(fixture("mastodon/tag_timeline.json"))
    srv.route("/feed.xml", Reply(body=FEED, content_type=RSS))
    srv.route("/api/v1/timelines/tag/nordnetz", mastodon_timeline(statuses))
    srv.route("/r/nordnetz/new.json", Reply(body=fixture("reddit/new.json")))
    srv.route("/comments/1kq8x2a.json", Reply(body=fixture("reddit/comments_1kq8x2a.json")))
    settings = load_settings(database_url=db_url, crawl={"autothrottle": False}, sources=[
        {"name": "feed", "type": "rss", "url": srv.url("/feed.xml")},
        {"name": "masto", "type": "mastodon", "url": srv.url("/api/v1/timelines/tag/nordnetz")},
        {"name": "reddit", "type": "reddit", "url": srv.url("/r/nordnetz")},
    ])
    first = {s.source: s for s in crawl_once(settings, engine)}
    assert {n: (s.status, s.new) for n, s in first.items()} == {
        "feed": ("ok", 3), "masto": ("ok", 3), "reddit": ("ok", 5)}
    before = len(posts(engine))
    second = {s.source: s for s in crawl_once(settings, engine)}
    assert all(s.status == "ok" and s.new == 0 and s.updated == 0 for s in second.values())
    assert len(posts(engine)) == before == 11
    with Session(engine) as s:
        pairs = s.exec(select(Post.source_id, Post.external_id)).all()
    assert len(set(pairs)) == len(pairs)


def test_cross_posts_are_stored_once_as_original(srv: LocalServer, make_settings: MakeSettings,
                                                 live_engine: Engine) -> None:
    text = "Seit heute früh kein Mobilfunk in Hamburg-Ottensen, die Hotline ist nicht erreichbar."
    status = json.loads(fixture("mastodon/tag_timeline.json"))[2]
    status["content"], status["spoiler_text"] = f"<p>{text}</p>", ""
    srv.route("/api/v1/timelines/tag/nordnetz", Reply(body=json.dumps([status])))
    feed = FEED.replace(b"Zwischen 01:00 und 04:00 Uhr kann es im Festnetz zu kurzen Unterbrechungen kommen.",
                        text.encode()).replace(b"<title>Wartungsarbeiten in der Nacht zum Mittwoch</title>", b"")
    srv.route("/feed.xml", Reply(body=feed, content_type=RSS))
    settings = make_settings([{"name": "masto", "type": "mastodon", "url": srv.url("/api/v1/timelines/tag/nordnetz")},
                              {"name": "feed", "type": "rss", "url": srv.url("/feed.xml")}])
    crawl(settings, live_engine, ["masto"])
    crawl(settings, live_engine, ["feed"])
    with Session(live_engine) as s:
        same = s.exec(select(Post).where(Post.text == text).order_by(col(Post.id))).all()
    assert len(same) == 2
    assert same[0].duplicate_of is None and same[1].duplicate_of == same[0].id
    assert runs(live_engine, "feed")[-1].stats["fruehwarn/cross_posts"] == 1


def test_keywords_and_raw_handles(srv: LocalServer, make_settings: MakeSettings, live_engine: Engine) -> None:
    srv.route("/feed.xml", Reply(body=FEED, content_type=RSS))
    settings = make_settings([{"name": "feed", "type": "rss", "url": srv.url("/feed.xml"), "keywords": ["STÖRUNG"]}],
                             store_raw_handles=True)
    got = crawl(settings, live_engine)["feed"]
    assert (got.new, got.skipped) == (1, 2)
    (post,) = posts(live_engine)
    assert post.author_raw == "Pressestelle NordNetz" and post.author_hash is not None
