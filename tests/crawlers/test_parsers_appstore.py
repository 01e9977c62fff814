"""Apple App Store customer-review feed (JSON) and its page URLs."""

from __future__ import annotations

from datetime import datetime

import pytest

from crawlers.parsers import MalformedPayload
from crawlers.parsers.appstore import page_url, parse_reviews
from tests.crawlers.server import fixture

URL = "https://itunes.apple.com/de/rss/customerreviews/id=1234567890/sortBy=mostRecent/json"


def test_reviews_page_skips_the_app_entry() -> None:
    page = parse_reviews(fixture("appstore/reviews_page1.json"))
    assert page.skipped == {"app_entry": 1}
    assert [r.item.external_id for r in page.reviews] == ["11223344551", "11223344550", "11223344549"]
    first = page.reviews[0]
    assert first.rating == 1 and first.version == "5.2.0"
    assert first.item.title == "Login geht nicht mehr"
    assert first.item.body.startswith("Seit dem letzten Update stürzt die App direkt nach dem Login ab.")
    assert first.item.author == "Frustkunde2025"
    assert first.item.published_at == datetime(2025, 5, 12, 7, 41, 10)  # -07:00 -> UTC
    assert first.item.html is False


def test_single_entry_is_an_object_not_a_list() -> None:
    page = parse_reviews(fixture("appstore/reviews_page2.json"))
    assert [r.item.external_id for r in page.reviews] == ["11223344500"]


def test_no_entry_means_no_reviews() -> None:
    assert parse_reviews(fixture("appstore/reviews_empty.json")).reviews == []


def test_page_urls() -> None:
    assert page_url(URL, 1) == ("https://itunes.apple.com/de/rss/customerreviews/page=1/id=1234567890/"
                                "sortBy=mostRecent/json")
    assert page_url(page_url(URL, 1), 3).count("page=") == 1 and "/page=3/" in page_url(page_url(URL, 1), 3)


def test_not_a_feed() -> None:
    with pytest.raises(MalformedPayload):
        parse_reviews(b'{"results": []}')
