"""RSS 2.0, Atom and Khoros board feeds parsed from recorded payloads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crawlers.parsers import MalformedPayload
from crawlers.parsers.rss import parse_feed
from crawlers.text import html_to_text
from tests.crawlers.server import RSS, fixture


def test_rss20_with_content_encoded_and_entities() -> None:
    page = parse_feed(fixture("rss/news_rss20.xml"), url="https://www.nordnetz.example/presse/feed.xml",
                      content_type=RSS)
    assert page.version == "rss20"
    assert page.language == "de"
    assert page.bozo is None
    assert [i.external_id for i in page.items] == [
        "nordnetz-presse-2025-0512-01", "https://www.nordnetz.example/presse/neue-tarife",
        "nordnetz-presse-2025-0506-02"]
    first = page.items[0]
    assert first.title == "Störung im Mobilfunknetz in Hamburg behoben"
    assert first.published_at == datetime(2025, 5, 12, 12, 5, tzinfo=UTC)
    assert first.author == "Pressestelle NordNetz"
    assert first.url == "https://www.nordnetz.example/presse/stoerung-hamburg-behoben"
    body = html_to_text(first.body)  # content:encoded, the fuller body, not the description
    assert body.startswith("Die Störung im Mobilfunknetz im Raum Hamburg ist seit 13:50 Uhr behoben.")
    assert "für die Unannehmlichkeiten" in body and "trackPageView" not in body
    assert html_to_text(page.items[1].body) == (
        "Ab Juni gibt es neue Tarife über alle Laufzeiten – mehr Datenvolumen für Geschäftskunden.")
    assert page.items[1].title == "Neue Tarife für Großkunden"


def test_khoros_board_feed() -> None:
    page = parse_feed(fixture("rss/khoros_board.xml"), url="https://community.nordnetz.example/rss/board",
                      content_type=RSS)
    assert len(page.items) == 2
    reply = page.items[1]
    assert reply.author == "ottenser_jung"
    assert reply.external_id.endswith("/m-p/2456801#M98771")
    assert html_to_text(reply.body) == "Bei mir in Ottensen genau das gleiche. Hotline ist dauerbesetzt 😡"
    assert html_to_text(page.items[0].body).startswith('Hallo zusammen, seit ca. 7 Uhr habe ich kein Internet mehr.')


def test_atom_feed() -> None:
    page = parse_feed(fixture("atom/forum_atom.xml"), url="https://forum.nordnetz.example/feed.atom",
                      content_type="application/atom+xml")
    assert page.version == "atom10"
    assert [i.external_id for i in page.items] == ["urn:nordnetz-forum:post:881-1", "urn:nordnetz-forum:post:879-1"]
    assert page.items[0].published_at == datetime(2025, 5, 12, 7, 58, tzinfo=UTC)  # published, not updated
    assert page.items[1].published_at == datetime(2025, 5, 11, 21, 40, tzinfo=UTC)  # only updated given
    assert page.items[0].author == "maria.k"
    assert page.items[0].lang == "de"
    assert "stürzt die NordNetz-App beim Login sofort ab" in html_to_text(page.items[0].body)


def test_empty_feed_is_a_page_without_items() -> None:
    page = parse_feed(fixture("rss/empty.xml"), url="x", content_type=RSS)
    assert page.items == [] and page.version == "rss20"


def test_truncated_feed_keeps_the_entries_it_has_and_reports_bozo() -> None:
    page = parse_feed(fixture("rss/truncated.xml"), url="x", content_type=RSS)
    assert page.bozo is not None and "SAXParseException" in page.bozo
    assert len(page.items) == 2


@pytest.mark.parametrize("name", ["rss/latin1.xml", "rss/wrong_encoding.xml"])
def test_encodings_declared_or_wrong_still_give_german_text(name: str) -> None:
    page = parse_feed(fixture(name), url="x", content_type="application/rss+xml")
    assert page.items[0].title == "Störung im Mobilfunknetz in Hamburg behoben"


@pytest.mark.parametrize("body,reason", [
    (b"", "empty_body"),
    (b"   \n", "empty_body"),
    (b"<<<>>> kaputt", "not_a_feed"),
    (fixture("rss/news_rss20.xml")[:420], "malformed_feed"),  # cut before the first item ends
    (fixture("rss/not_a_feed.html"), "not_a_feed"),
])
def test_unusable_payloads_raise(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedPayload) as exc:
        parse_feed(body, url="x", content_type="text/html")
    assert exc.value.reason == reason
