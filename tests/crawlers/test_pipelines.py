"""Each item pipeline on its own, with a stand-in crawler (stats) and spider (source, settings)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import pytest
from scrapy.exceptions import DropItem

from config import SourceConfig, load_settings
from crawlers.items import PostItem
from crawlers.pipelines import PIPELINES
from crawlers.pipelines.keywords import KeywordFilterPipeline
from crawlers.pipelines.language import LanguagePipeline, normalise_lang
from crawlers.pipelines.pseudonymise import PseudonymisePipeline, author_hash
from crawlers.pipelines.validate import MAX_TEXT_CHARS, ValidatePipeline
from crawlers.text import content_hash
from storage.models import utcnow
from tests.crawlers.helpers import Stats


def crawler_for(source: dict[str, Any] | None = None, **settings: Any) -> Any:
    src = SourceConfig(**(source or {"name": "s", "type": "rss", "url": "http://h/feed"}))
    spider = SimpleNamespace(source=src, app_settings=load_settings(secret_key="k", **settings))
    return SimpleNamespace(stats=Stats(), spider=spider)


def item(**kw: Any) -> PostItem:
    base: dict[str, Any] = {"external_id": "1", "body": "<p>Kein Netz</p>", "title": "Störung",
                            "published_at": datetime(2025, 5, 12, 9, 0, tzinfo=timezone(timedelta(hours=2)))}
    return PostItem(**{**base, **kw})


def test_pipeline_order_is_one_dict_in_the_documented_order() -> None:
    names = [k.rsplit(".", 1)[-1] for k, _ in sorted(PIPELINES.items(), key=lambda kv: kv[1])]
    assert names == ["ValidatePipeline", "KeywordFilterPipeline", "LanguagePipeline", "PseudonymisePipeline",
                     "StorePipeline"]


def test_validate_normalises_text_time_and_hash() -> None:
    c = crawler_for()
    out = ValidatePipeline(c).process_item(item(body="<p>Kein&nbsp;<b>Netz</b></p>\n<p>seit 7 Uhr</p>"))
    assert out.text == "Störung\n\nKein Netz seit 7 Uhr"
    assert out.title == "Störung"
    assert out.published_at == datetime(2025, 5, 12, 7, 0)  # naive UTC
    assert out.content_hash == content_hash(out.text)


def test_validate_plain_text_bodies_are_not_parsed_as_html() -> None:
    out = ValidatePipeline(crawler_for()).process_item(item(body="Ping a<b c>d", title=None, html=False))
    assert out.text == "Ping a<b c>d"


@pytest.mark.parametrize("kw,key", [
    ({"body": "  <p> </p>", "title": ""}, "fruehwarn/dropped/empty_text"),
    ({"external_id": " "}, "fruehwarn/errors/missing_id"),
    ({"external_id": "x" * 501}, "fruehwarn/errors/id_too_long"),
])
def test_validate_drops_and_counts(kw: dict[str, Any], key: str) -> None:
    c = crawler_for()
    with pytest.raises(DropItem):
        ValidatePipeline(c).process_item(item(**kw))
    assert c.stats.values[key] == 1


def test_validate_missing_future_and_long() -> None:
    c = crawler_for()
    p = ValidatePipeline(c)
    before = utcnow()
    assert p.process_item(item(published_at=None)).published_at >= before  # type: ignore[operator]
    future = datetime.now(UTC) + timedelta(days=3)
    assert p.process_item(item(published_at=future)).published_at <= utcnow()  # type: ignore[operator]
    long = p.process_item(item(body="wort " * 20_000))
    assert len(long.text) == MAX_TEXT_CHARS
    assert c.stats.values["fruehwarn/missing_date"] == 1
    assert c.stats.values["fruehwarn/future_date"] == 1
    assert c.stats.values["fruehwarn/truncated_text"] == 1


def test_keywords_keep_matching_posts_case_insensitively() -> None:
    c = crawler_for({"name": "s", "type": "rss", "url": "http://h/", "keywords": ["Störung", "ausfall"]})
    p = KeywordFilterPipeline(c)
    p.open_spider()
    kept = item(text="Netzstörung in Hamburg")
    assert p.process_item(kept) is kept
    assert p.process_item(item(text="Totalausfall!")).text == "Totalausfall!"
    with pytest.raises(DropItem):
        p.process_item(item(text="Neue Tarife"))
    assert c.stats.values["fruehwarn/dropped/keyword"] == 1


def test_no_keywords_keep_everything() -> None:
    p = KeywordFilterPipeline(crawler_for())
    p.open_spider()
    assert p.process_item(item(text="irgendwas")).text == "irgendwas"


def test_language_declared_by_platform_else_source() -> None:
    c = crawler_for({"name": "s", "type": "rss", "url": "http://h/", "language": "de"})
    p = LanguagePipeline(c)
    assert p.process_item(item(lang="en-GB")).lang == "en"
    assert p.process_item(item(lang=None)).lang == "de"
    assert p.process_item(item(lang="???")).lang == "de"
    assert normalise_lang("de_AT") == "de"


@pytest.mark.parametrize("keep_raw", [False, True])
def test_pseudonymise_keyed_hash_and_raw_only_when_allowed(keep_raw: bool) -> None:
    c = crawler_for(crawl={"store_raw_handles": keep_raw})
    p = PseudonymisePipeline(c)
    p.open_spider()
    out = p.process_item(item(author="Anna_HH@social.example"))
    expected = hmac.new(b"k", b"anna_hh@social.example", hashlib.sha256).hexdigest()
    assert out.author_hash == expected == author_hash(b"k", "anna_hh@SOCIAL.example")
    assert out.author == ("Anna_HH@social.example" if keep_raw else None)
    assert author_hash(b"other-key", "anna_hh@social.example") != expected
