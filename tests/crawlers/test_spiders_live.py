"""Every spider run for real by Scrapy (in a crawl process) against the LocalServer.

Each test crawls twice or more: the second crawl proves the cursor (ETag, since_id,
after, topic keys, newest review) and that nothing is stored twice.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.engine import Engine

from tests.crawlers.conftest import MakeSettings
from tests.crawlers.helpers import crawl, posts, source_row
from tests.crawlers.platforms import mastodon_timeline, reddit_listing
from tests.crawlers.server import ATOM, HTML, RSS, LocalServer, Reply, Seen, fixture

UA = "fruehwarn-test/1.0 (+https://example.org/kontakt)"


def test_rss_conditional_get_then_edit_and_new_entry(srv: LocalServer, make_settings: MakeSettings,
                                                     live_engine: Engine) -> None:
    state = {"version": 1}
    original = fixture("rss/news_rss20.xml")
    edited = original.replace(b"Die St\xc3\xb6rung im Raum Hamburg ist seit 13:50 Uhr behoben.",
                              b"Die St\xc3\xb6rung im Raum Hamburg ist seit 13:50 Uhr behoben (Nachtrag 15 Uhr).")
    edited = edited.replace(b"<item>", b"<item><title>Neu: Hotline wieder erreichbar</title>"
                            b"<guid>nordnetz-presse-neu</guid><pubDate>Mon, 12 May 2025 15:00:00 +0200</pubDate>"
                            b"<description>Die Hotline ist wieder erreichbar.</description></item><item>", 1)
    edited = edited.replace(b"13:50&nbsp;Uhr behoben.</p>", b"13:50&nbsp;Uhr behoben. Nachtrag: alles stabil.</p>")

    def feed(seen: Seen) -> Reply:
        etag = f'"v{state["version"]}"'
        if seen.headers.get("if-none-match") == etag:
            return Reply(status=304, body=b"", headers={"ETag": etag})
        return Reply(body=original if state["version"] == 1 else edited, content_type=RSS, headers={"ETag": etag})

    srv.route("/presse/feed.xml", feed)
    settings = make_settings([{"name": "presse", "type": "rss", "url": srv.url("/presse/feed.xml")}],
                             user_agent=UA)
    first = crawl(settings, live_engine)["presse"]
    assert (first.status, first.new, first.updated, first.errors) == ("ok", 3, 0, 0)
    stored = posts(live_engine)
    assert [p.external_id for p in stored][-1] == "nordnetz-presse-2025-0512-01"
    top = stored[-1]
    assert top.text.startswith("Störung im Mobilfunknetz in Hamburg behoben\n\nDie Störung im Mobilfunknetz")
    assert top.lang == "de" and top.url == "https://www.nordnetz.example/presse/stoerung-hamburg-behoben"
    assert top.author_hash is not None and len(top.author_hash) == 64 and top.author_raw is None

    second = crawl(settings, live_engine)["presse"]
    assert (second.status, second.new, second.updated, second.skipped) == ("ok", 0, 0, 0)
    assert srv.hits("/presse/feed.xml")[-1].headers["if-none-match"] == '"v1"'

    state["version"] = 2
    third = crawl(settings, live_engine)["presse"]
    assert (third.status, third.new, third.updated, third.skipped) == ("ok", 1, 1, 2)
    assert len(posts(live_engine)) == 4
    edited_post = [p for p in posts(live_engine) if p.external_id == "nordnetz-presse-2025-0512-01"][0]
    assert "Nachtrag: alles stabil." in edited_post.text and edited_post.updated_at is not None
    # polite: the configured User-Agent on every request, robots.txt asked first
    assert {r.headers["user-agent"] for r in srv.requests} == {UA}
    assert srv.requests[0].path == "/robots.txt"
    assert source_row(live_engine, "presse").cursor["etag"] == '"v2"'


def test_atom_and_khoros_feeds(srv: LocalServer, make_settings: MakeSettings, live_engine: Engine) -> None:
    srv.route("/forum.atom", Reply(body=fixture("atom/forum_atom.xml"), content_type=ATOM))
    srv.route("/t5/rss/board", Reply(body=fixture("rss/khoros_board.xml"), content_type=RSS))
    settings = make_settings([
        {"name": "forum-atom", "type": "rss", "url": srv.url("/forum.atom")},
        {"name": "community", "type": "rss", "url": srv.url("/t5/rss/board")},
    ])
    got = crawl(settings, live_engine)
    assert (got["forum-atom"].new, got["community"].new) == (2, 2)
    texts = [p.text for p in posts(live_engine, "community")]
    assert texts[1] == "Re: Seit heute Morgen kein Internet in 22765 Hamburg\n\nBei mir in Ottensen genau das gleiche. Hotline ist dauerbesetzt 😡"


def _statuses() -> list[dict[str, Any]]:
    return json.loads(fixture("mastodon/tag_timeline.json")) + json.loads(fixture("mastodon/tag_timeline_page2.json"))


def test_mastodon_tag_timeline_pages_with_link_header_then_resumes_from_since_id(
        srv: LocalServer, make_settings: MakeSettings, live_engine: Engine) -> None:
    statuses = _statuses()
    srv.route("/api/v1/timelines/tag/nordnetz", lambda seen: mastodon_timeline(statuses)(seen))
    settings = make_settings([{"name": "masto", "type": "mastodon", "url": srv.url("/tags/nordnetz"), "limit": 2}])
    first = crawl(settings, live_engine)["masto"]
    assert (first.status, first.new) == ("ok", 5)
    pages = srv.hits("/api/v1/timelines/tag/nordnetz")
    assert [p.query.get("max_id", [None])[0] for p in pages] == [
        None, "113456789012345679", "113456789012345001", "113456789012344900"]
    assert source_row(live_engine, "masto").cursor["since_id"] == "113456789012345680"
    reply = [p for p in posts(live_engine) if p.external_id == "113456789012345679"][0]
    assert reply.parent_id == "113456789012345678" and reply.lang == "de"

    newer = dict(statuses[0], id="113456789012345999", content="<p>Jetzt geht wieder alles, danke!</p>")
    statuses.append(newer)
    srv.requests.clear()
    second = crawl(settings, live_engine)["masto"]
    assert (second.status, second.new, second.skipped) == ("ok", 1, 0)
    assert srv.hits("/api/v1/timelines/tag/nordnetz")[0].query["since_id"] == ["113456789012345680"]
    assert len(posts(live_engine)) == 6


def test_mastodon_account_timeline_from_profile_url(srv: LocalServer, make_settings: MakeSettings,
                                                    live_engine: Engine) -> None:
    srv.route("/api/v1/accounts/lookup", Reply(body=fixture("mastodon/account_lookup.json")))
    srv.route("/api/v1/accounts/109010/statuses", Reply(body=fixture("mastodon/account_statuses.json")))
    settings = make_settings([{"name": "hilft", "type": "mastodon", "url": srv.url("/@nordnetz_hilft")}])
    first = crawl(settings, live_engine)["hilft"]
    assert (first.status, first.new, first.skipped) == ("ok", 2, 1)  # the reblog skipped
    assert srv.hits("/api/v1/accounts/lookup")[0].query["acct"] == ["nordnetz_hilft"]
    assert srv.hits("/api/v1/accounts/109010/statuses")[0].query["exclude_reblogs"] == ["true"]
    crawl(settings, live_engine)
    assert len(srv.hits("/api/v1/accounts/lookup")) == 1  # the account id is remembered


def test_reddit_listing_pages_and_comment_threads(srv: LocalServer, make_settings: MakeSettings,
                                                  live_engine: Engine) -> None:
    children = json.loads(fixture("reddit/new.json"))["data"]["children"] + \
        json.loads(fixture("reddit/new_page2.json"))["data"]["children"]
    srv.route("/r/nordnetz/new.json", reddit_listing(children))
    srv.route("/comments/1kq8x2a.json", Reply(body=fixture("reddit/comments_1kq8x2a.json")))
    settings = make_settings([{"name": "reddit", "type": "reddit", "url": srv.url("/r/nordnetz/"), "limit": 3}])
    first = crawl(settings, live_engine)["reddit"]
    assert (first.status, first.new, first.errors) == ("ok", 6, 0)  # 4 posts, 2 comments
    assert first.skipped == 5  # a deleted comment and a "more" stub for 4
    listing = srv.hits("/r/nordnetz/new.json")
    assert [h.query.get("after", [None])[0] for h in listing] == [None, "t3_1kq6abc"]
    assert all(h.query["raw_json"] == ["1"] for h in listing)
    reply = [p for p in posts(live_engine) if p.external_id == "t1_mt0002"][0]
    assert (reply.parent_id, reply.thread_id) == ("t1_mt0001", "t3_1kq8x2a")
    post = [p for p in posts(live_engine) if p.external_id == "t3_1kq8x2a"][0]
    assert post.text.startswith("Komplettausfall Mobilfunk in Hamburg?\n\nSeit ca. 7:30 Uhr")
    assert 'Q&A der Hotline: "Wir prüfen das" > hilft nicht.' in post.text

    second = crawl(settings, live_engine)["reddit"]
    assert (second.status, second.new, second.updated) == ("ok", 0, 0)
    assert len(srv.hits("/comments/1kq8x2a.json")) == 1  # num_comments unchanged: not fetched again
    assert len(srv.hits("/r/nordnetz/new.json")) == 3  # stopped at known posts after one page
    assert len(posts(live_engine)) == 6


def test_reddit_search_option(srv: LocalServer, make_settings: MakeSettings, live_engine: Engine) -> None:
    srv.route("/r/nordnetz/search.json", Reply(body=fixture("reddit/search.json")))
    settings = make_settings([{"name": "suche", "type": "reddit", "url": srv.url("/r/nordnetz"),
                               "search": "Ausfall Hamburg", "comments": False}])
    got = crawl(settings, live_engine)["suche"]
    assert (got.status, got.new) == ("ok", 1)
    q = srv.hits("/r/nordnetz/search.json")[0].query
    assert (q["q"], q["restrict_sr"], q["sort"]) == (["Ausfall Hamburg"], ["1"], ["new"])


def test_discourse_latest_topics_and_posts_under_a_sub_path(srv: LocalServer, make_settings: MakeSettings,
                                                            live_engine: Engine) -> None:
    srv.route("/forum/latest.json", Reply(body=fixture("discourse/latest.json")))
    srv.route("/forum/latest.json?no_definitions=true&page=1", Reply(body=fixture("discourse/latest_page1.json")))
    srv.route("/forum/t/dsl-abbrueche-seit-dem-firmware-update/101.json", Reply(body=fixture("discourse/topic_101.json")))
    srv.route("/forum/t/101/posts.json", Reply(body=fixture("discourse/posts_101.json")))
    srv.route("/forum/t/app-zeigt-falschen-datenverbrauch/102.json", Reply(body=fixture("discourse/topic_102.json")))
    srv.route("/forum/t/rufnummernmitnahme-dauert-ewig/95.json", Reply(body=fixture("discourse/topic_95.json")))
    settings = make_settings([{"name": "forum", "type": "discourse", "url": srv.url("/forum")}])
    first = crawl(settings, live_engine)["forum"]
    assert (first.status, first.new, first.skipped, first.errors) == ("ok", 24, 1, 0)
    more = srv.hits("/forum/t/101/posts.json")[0]
    assert more.query["post_ids[]"] == ["5021", "5022"]
    stored = {p.external_id: p for p in posts(live_engine)}
    assert stored["101/22"].parent_id == "101/21" and stored["101/22"].thread_id == "101"
    assert stored["102/1"].text.startswith("App zeigt falschen Datenverbrauch\n\nDie App zeigt mir 18 GB verbraucht")

    srv.requests.clear()
    second = crawl(settings, live_engine)["forum"]
    assert (second.status, second.new) == ("ok", 0)
    assert [r.path for r in srv.requests if r.path != "/robots.txt"] == ["/forum/latest.json"]  # nothing changed


def test_appstore_review_pages(srv: LocalServer, make_settings: MakeSettings, live_engine: Engine) -> None:
    base = "/de/rss/customerreviews/{}id=1234567890/sortBy=mostRecent/json"
    srv.route(base.format("page=1/"), Reply(body=fixture("appstore/reviews_page1.json")))
    srv.route(base.format("page=2/"), Reply(body=fixture("appstore/reviews_page2.json")))
    srv.route(base.format("page=3/"), Reply(body=fixture("appstore/reviews_empty.json")))
    settings = make_settings([{"name": "app", "type": "appstore", "url": srv.url(base.format(""))}])
    first = crawl(settings, live_engine)["app"]
    assert (first.status, first.new, first.skipped) == ("ok", 4, 1)
    review = [p for p in posts(live_engine) if p.external_id == "11223344551"][0]
    assert review.text == ("Login geht nicht mehr\n\nSeit dem letzten Update stürzt die App direkt nach dem Login "
                           "ab. Neu installieren hilft nicht. So kann ich meine Rechnung nicht einsehen!")
    assert len(srv.hits(base.format("page=3/"))) == 1
    second = crawl(settings, live_engine)["app"]
    assert (second.status, second.new) == ("ok", 0)
    assert len(srv.hits(base.format("page=2/"))) == 1  # page 1 reached known reviews


PHPBB = {"post": "div.post", "body": "div.content", "author": "p.author strong a::text", "date": "p.author time",
         "title": "h2.topic-title a::text", "next_page": "a[rel=next]::attr(href)",
         "thread_links": "a.topictitle::attr(href)"}


def test_forum_board_threads_and_pages(srv: LocalServer, make_settings: MakeSettings, live_engine: Engine) -> None:
    srv.route("/viewforum.php", Reply(body=fixture("forum/phpbb_board.html"), content_type=HTML))
    srv.route("/viewtopic.php?t=4711", Reply(body=fixture("forum/phpbb_thread.html"), content_type=HTML))
    srv.route("/viewtopic.php?t=4711&start=2", Reply(body=fixture("forum/phpbb_thread_page2.html"), content_type=HTML))
    srv.route("/viewtopic.php?t=4698", Reply(body=fixture("forum/phpbb_thread_4698.html"), content_type=HTML))
    settings = make_settings([{"name": "phpbb", "type": "forum", "url": srv.url("/viewforum.php?f=3"),
                               "selectors": PHPBB}])
    got = crawl(settings, live_engine)["phpbb"]
    assert (got.status, got.new, got.errors) == ("ok", 4, 0)
    stored = {p.external_id: p for p in posts(live_engine)}
    assert stored["p90230"].parent_id == "p90211"
    assert stored["p90230"].thread_id == stored["p90211"].thread_id == srv.url("/viewtopic.php?t=4711")
    assert stored["p90211"].text.startswith("Router verliert ständig die Verbindung\n\nMoin, seit Freitag")
    assert crawl(settings, live_engine)["phpbb"].new == 0


def test_forum_thread_in_latin1(srv: LocalServer, make_settings: MakeSettings, live_engine: Engine) -> None:
    srv.route("/showthread.php", Reply(body=fixture("forum/vbulletin_thread.html"),
                                       content_type="text/html; charset=ISO-8859-1"))
    settings = make_settings([{"name": "vb", "type": "forum", "url": srv.url("/showthread.php?t=33190"),
                               "selectors": {"post": "li.postcontainer", "body": "blockquote.postcontent",
                                             "author": "a.username strong::text", "date": "span.date",
                                             "title": "span.threadtitle a::text"}}])
    got = crawl(settings, live_engine)["vb"]
    assert (got.status, got.new) == ("ok", 2)
    stored = {p.external_id: p for p in posts(live_engine, "vb")}
    assert stored["post_512007"].text.endswith("Grüße aus Barmbek-Süd")
    assert stored["post_512001"].text.startswith("Kein Empfang in der U-Bahn\n\nSeit einer Woche")
