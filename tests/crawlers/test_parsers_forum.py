"""Generic forum pages (phpBB, vBulletin) read with configured CSS/XPath selectors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crawlers.parsers import MalformedPayload
from crawlers.parsers.forum import ForumSelectors, parse_board, parse_forum_date, parse_thread
from crawlers.text import html_to_text
from tests.crawlers.server import fixture

PHPBB = {
    "post": "div.post", "body": "div.content", "author": "p.author strong a::text",
    "date": "p.author time", "title": "h2.topic-title a::text", "next_page": "a[rel=next]::attr(href)",
    "thread_links": "a.topictitle::attr(href)",
}
VBULLETIN = {  # XPath where CSS is awkward
    "post": "//li[contains(@class, 'postcontainer')]", "body": ".//blockquote[contains(@class, 'postcontent')]",
    "author": "a.username strong::text", "date": "span.date", "title": "span.threadtitle a::text",
}


def test_phpbb_thread_page() -> None:
    sel = ForumSelectors.from_options({k: v for k, v in PHPBB.items() if k != "thread_links"})
    page = parse_thread(fixture("forum/phpbb_thread.html").decode(), url="https://forum.example/viewtopic.php?t=4711",
                        selectors=sel)
    assert page.title == "Router verliert ständig die Verbindung"
    assert page.next_url == "https://forum.example/viewtopic.php?t=4711&start=2"
    root, reply = page.items
    assert (root.external_id, root.parent_id, root.title) == ("p90211", None, page.title)
    assert (reply.external_id, reply.parent_id, reply.title) == ("p90214", "p90211", None)
    assert root.thread_id == reply.thread_id == "https://forum.example/viewtopic.php?t=4711"
    assert root.author == "Heinz_Kiel" and reply.author == "NordNetz_Moderation"
    assert root.published_at == datetime(2025, 5, 12, 6, 12)  # <time datetime=...> preferred to the text
    assert html_to_text(root.body).startswith("Moin, seit Freitag verliert mein Router mehrmals am Tag")
    assert "Gruß aus Kiel" not in html_to_text(root.body)  # the signature is outside div.content


def test_later_pages_carry_thread_and_root() -> None:
    sel = ForumSelectors.from_options({k: v for k, v in PHPBB.items() if k != "thread_links"})
    page = parse_thread(fixture("forum/phpbb_thread_page2.html").decode(), url="https://f/viewtopic.php?t=4711&start=2",
                        selectors=sel, thread_id="https://f/viewtopic.php?t=4711", root_id="p90211")
    (item,) = page.items
    assert item.parent_id == "p90211" and item.thread_id == "https://f/viewtopic.php?t=4711"
    assert item.title is None


def test_vbulletin_latin1_with_german_relative_dates() -> None:
    sel = ForumSelectors.from_options(VBULLETIN)
    html = fixture("forum/vbulletin_thread.html").decode("iso-8859-1")
    page = parse_thread(html, url="https://f/showthread.php?t=33190", selectors=sel,
                        now=datetime(2025, 5, 12, 12, 0, tzinfo=UTC))
    first, second = page.items
    assert first.external_id == "post_512001" and first.author == "U3-Pendler"
    assert first.published_at == datetime(2025, 5, 11, 16, 22)  # "Gestern, 18:22" Berlin summer time
    assert second.published_at == datetime(2025, 5, 12, 5, 5)  # "12.05.2025, 07:05"
    assert html_to_text(second.body).endswith("Grüße aus Barmbek-Süd")
    assert "überhaupt keinen Empfang" in html_to_text(first.body)


def test_board_lists_threads() -> None:
    board = parse_board(fixture("forum/phpbb_board.html").decode(), url="https://f/viewforum.php?f=3",
                        selectors=ForumSelectors.from_options(PHPBB))
    assert board.thread_urls == ["https://f/viewtopic.php?t=4711", "https://f/viewtopic.php?t=4698"]


def test_nothing_matched_is_malformed() -> None:
    sel = ForumSelectors.from_options({"post": "div.beitrag", "body": "div.text"})
    with pytest.raises(MalformedPayload) as exc:
        parse_thread("<html><body><p>Fehler 503</p></body></html>", url="u", selectors=sel)
    assert exc.value.reason == "no_posts_found"


@pytest.mark.parametrize("raw", [{}, {"post": "div"}, {"post": "div", "body": "p", "avatar": "img"}, "div.post"])
def test_selector_config_is_checked(raw: object) -> None:
    with pytest.raises(ValueError):
        ForumSelectors.from_options(raw)


@pytest.mark.parametrize("text,expected", [
    ("2025-05-12T08:12:00+02:00", datetime(2025, 5, 12, 6, 12)),
    ("2025-05-12 08:12", datetime(2025, 5, 12, 6, 12)),  # no offset: Berlin local time
    ("Mo 12. Mai 2025, 08:12", datetime(2025, 5, 12, 6, 12)),
    ("12. März 2025 08:12", datetime(2025, 3, 12, 7, 12)),  # winter time
    ("12.05.25, 08:12", datetime(2025, 5, 12, 6, 12)),
    ("Heute, 13:30", datetime(2025, 5, 12, 11, 30)),
    ("gestern um 09:05", datetime(2025, 5, 11, 7, 5)),
])
def test_forum_dates(text: str, expected: datetime) -> None:
    assert parse_forum_date(text, now=datetime(2025, 5, 12, 12, 0, tzinfo=UTC)) == expected


def test_date_format_fallback_and_unknown() -> None:
    assert parse_forum_date("May 12 2025 8:12AM", date_format="%b %d %Y %I:%M%p", tz="UTC") == datetime(2025, 5, 12, 8, 12)
    assert parse_forum_date("vor langer Zeit") is None
    with pytest.raises(ValueError):
        parse_forum_date("2025-05-12", tz="Mars/Olympus")
