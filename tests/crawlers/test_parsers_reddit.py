"""Reddit listings (t3) and comment threads (t1, nested replies, more stubs)."""

from __future__ import annotations

from datetime import datetime

import pytest

from crawlers.parsers import MalformedPayload
from crawlers.parsers.reddit import parse_comments, parse_listing
from tests.crawlers.server import fixture

BASE = "https://www.reddit.com"


def test_listing() -> None:
    page = parse_listing(fixture("reddit/new.json"), base_url=BASE)
    assert page.after == "t3_1kq6abc"
    assert [i.external_id for i in page.items] == ["t3_1kq8x2a", "t3_1kq7zzb", "t3_1kq6abc"]
    post = page.items[0]
    assert post.title == "Komplettausfall Mobilfunk in Hamburg?"
    assert post.body.startswith("Seit ca. 7:30 Uhr habe ich in Hamburg-Altona **gar kein Netz** mehr.")
    assert post.html is False  # markdown: "a > b" must not be read as a tag
    assert post.author == "u/hanseat_92"
    assert post.published_at == datetime(2025, 5, 12, 8, 0)
    assert post.url == "https://www.reddit.com/r/nordnetz/comments/1kq8x2a/komplettausfall_mobilfunk_in_hamburg?/"
    assert post.thread_id == "t3_1kq8x2a" and post.parent_id is None
    assert [(t.id, t.num_comments) for t in page.threads] == [("1kq8x2a", 3), ("1kq7zzb", 0), ("1kq6abc", 0)]
    assert page.items[1].body == ""  # a link post: the title carries the text


def test_last_page_has_no_after() -> None:
    assert parse_listing(fixture("reddit/new_page2.json"), base_url=BASE).after is None


def test_comment_thread_depth_first_with_deleted_and_more() -> None:
    page = parse_comments(fixture("reddit/comments_1kq8x2a.json"), base_url=BASE)
    assert page.post is not None and page.post.external_id == "t3_1kq8x2a"
    assert [(c.external_id, c.parent_id, c.thread_id) for c in page.items] == [
        ("t1_mt0001", "t3_1kq8x2a", "t3_1kq8x2a"),
        ("t1_mt0002", "t1_mt0001", "t3_1kq8x2a"),
    ]
    assert page.skipped == {"deleted": 1, "more_comments": 4}
    assert page.items[1].body == "Ottensen auch. Laut Störungskarte ist es ein Netzelement in Altona."
    assert page.items[0].author == "u/elbkind"


@pytest.mark.parametrize("body", [b'{"kind": "t3", "data": {}}', b"[]", b'{"kind": "Listing", "data": {}}'])
def test_not_a_listing(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        parse_listing(body, base_url=BASE)


def test_comments_payload_must_be_two_listings() -> None:
    with pytest.raises(MalformedPayload):
        parse_comments(fixture("reddit/new.json"), base_url=BASE)
