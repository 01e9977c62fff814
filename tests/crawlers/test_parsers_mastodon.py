"""Mastodon API v1 statuses, Link header pagination and account lookup."""

from __future__ import annotations

from datetime import datetime

import pytest

from crawlers.parsers import MalformedPayload
from crawlers.parsers.mastodon import newest_id, parse_account, parse_link_header, parse_statuses
from crawlers.text import html_to_text
from tests.crawlers.server import fixture

LINK = ('<https://social.nordnetz.example/api/v1/timelines/tag/nordnetz?max_id=113456789012345678>; rel="next", '
        '<https://social.nordnetz.example/api/v1/timelines/tag/nordnetz?min_id=113456789012345680>; rel="prev"')


def test_tag_timeline_page() -> None:
    page = parse_statuses(fixture("mastodon/tag_timeline.json"), host="social.nordnetz.example", link_header=LINK)
    assert page.ids == ["113456789012345680", "113456789012345679", "113456789012345678"]
    assert page.next_url == "https://social.nordnetz.example/api/v1/timelines/tag/nordnetz?max_id=113456789012345678"
    assert page.prev_url is not None and page.prev_url.endswith("min_id=113456789012345680")
    newest, reply, first = page.items
    assert first.title == "Netzstörung"  # spoiler_text, joined before the text
    assert first.author == "anna_hh@social.nordnetz.example"  # local handles qualified with the host
    assert first.published_at == datetime(2025, 5, 12, 7, 42, 11)
    assert first.url == "https://social.nordnetz.example/@anna_hh/113456789012345678"
    assert first.thread_id == "113456789012345678" and first.parent_id is None
    assert reply.author == "jens@chaos.example"  # remote handles kept as they are
    assert reply.parent_id == "113456789012345678" and reply.thread_id == "113456789012345678"
    assert html_to_text(reply.body) == "@anna_hh Bei mir in Altona dasselbe, LTE komplett weg & auch kein WLAN-Call möglich."
    assert html_to_text(newest.body) == "Auch in Eimsbüttel: kein Netz seit halb acht. #nordnetz #störung"
    assert newest.lang == "de"


def test_reblogs_are_skipped_by_default_and_counted() -> None:
    page = parse_statuses(fixture("mastodon/account_statuses.json"), host="social.nordnetz.example")
    assert [i.external_id for i in page.items] == ["113456789012345700", "113456789012345650"]
    assert page.skipped == {"reblog": 1}
    assert len(page.ids) == 3  # the reblog still moves the cursor
    kept = parse_statuses(fixture("mastodon/account_statuses.json"), host="h", include_reblogs=True)
    assert "113456789012345685" in [i.external_id for i in kept.items]  # the boosted original


def test_link_header_and_ids() -> None:
    links = parse_link_header(LINK)
    assert set(links) == {"next", "prev"}
    assert parse_link_header(None) == {}
    assert newest_id(["99", "100", "98"]) == "100"  # numeric order, not string order
    assert newest_id([], "5") == "5"


def test_account_lookup() -> None:
    assert parse_account(fixture("mastodon/account_lookup.json")) == "109010"


@pytest.mark.parametrize("body,reason", [
    (b'{"error": "Record not found"}', "api_error"),
    (b'{"statuses": []}', "unexpected_json"),
    (b'[{"id": "1", "content": "<p>abgeschnit', "malformed_json"),
    (b"", "empty_body"),
    ("[{\"id\": \"1\", \"content\": \"Gr\u00fc\u00dfe\"}]".encode("latin-1"), "bad_encoding"),
])
def test_bad_payloads(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedPayload) as exc:
        parse_statuses(body, host="h")
    assert exc.value.reason == reason


def test_entries_without_id_are_problems_not_failures() -> None:
    page = parse_statuses(b'[{"content": "x"}, {"id": "7", "content": "<p>ok</p>", "created_at": "2025-05-12T07:00:00Z"}]',
                          host="h")
    assert [i.external_id for i in page.items] == ["7"]
    assert page.problems == ["status_without_id"]
