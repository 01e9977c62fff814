"""Discourse topic lists, topics (post_stream) and further posts."""

from __future__ import annotations

from datetime import datetime

import pytest

from crawlers.parsers import MalformedPayload
from crawlers.parsers.discourse import parse_posts, parse_topic, parse_topic_list
from crawlers.text import html_to_text
from tests.crawlers.server import fixture

BASE = "https://forum.nordnetz.example"


def test_latest() -> None:
    page = parse_topic_list(fixture("discourse/latest.json"))
    assert page.more_url == "/latest?no_definitions=true&page=1"
    assert [(t.id, t.slug, t.highest_post_number) for t in page.topics] == [
        (102, "app-zeigt-falschen-datenverbrauch", 2), (101, "dsl-abbrueche-seit-dem-firmware-update", 22)]
    assert page.topics[0].change_key == "2|2025-05-12T08:30:00.000Z"
    assert parse_topic_list(fixture("discourse/latest_page1.json")).more_url is None


def test_topic_first_chunk_and_stream() -> None:
    page = parse_topic(fixture("discourse/topic_101.json"), base_url=BASE, host="forum.nordnetz.example")
    assert page.topic_id == 101 and page.title == "DSL-Abbrüche seit dem Firmware-Update"
    assert len(page.stream) == 22 and len(page.loaded_ids) == 20
    first, second = page.items[0], page.items[1]
    assert first.external_id == "101/1" and first.title == page.title and first.parent_id is None
    assert second.external_id == "101/2" and second.title is None and second.parent_id == "101/1"
    assert first.thread_id == second.thread_id == "101"
    assert first.url == f"{BASE}/t/dsl-abbrueche-seit-dem-firmware-update/101/1"
    assert first.author == "max_m@forum.nordnetz.example"
    assert first.published_at == datetime(2025, 5, 10, 7, 15)
    assert html_to_text(second.body) == "Kann ich bestätigen, bei mir dreimal heute Nacht. Im Log steht „DSL antwortet nicht“."


def test_more_posts_skip_small_actions() -> None:
    page = parse_posts(fixture("discourse/posts_101.json"), topic_id=101, slug="s", title="t", base_url=BASE,
                       host="forum.nordnetz.example")
    assert [i.external_id for i in page.items] == ["101/22"]
    assert page.items[0].parent_id == "101/21"
    assert page.skipped == {"not_a_visible_post": 1}


def test_quote_aside_is_text_too() -> None:
    page = parse_topic(fixture("discourse/topic_102.json"), base_url=BASE, host="h")
    assert html_to_text(page.items[1].body).startswith("sabine.k: Was stimmt denn nun? Hallo Sabine")


@pytest.mark.parametrize("body", [b'{"topics": []}', b"[]", b'{"topic_list": {"topics": "x"}}'])
def test_bad_topic_lists(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        parse_topic_list(body)


def test_topic_without_post_stream() -> None:
    with pytest.raises(MalformedPayload):
        parse_topic(b'{"id": 5, "title": "x"}', base_url=BASE, host="h")
