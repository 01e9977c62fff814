"""The one retry layer: Retry-After parsing, backoff, caps and the retry budget."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from scrapy.exceptions import DownloadCancelledError, DownloadTimeoutError, IgnoreRequest
from scrapy.http import Request, Response
from scrapy.settings import Settings

from crawlers.middlewares import RetryAfterMiddleware, parse_retry_after
from crawlers.process import scrapy_settings
from tests.crawlers.helpers import Stats


def middleware(**settings: Any) -> RetryAfterMiddleware:
    values = {"FRUEHWARN_RETRY_TIMES": 2, "FRUEHWARN_RETRY_BACKOFF": 2.0, "FRUEHWARN_RETRY_MAX_WAIT": 10.0, **settings}
    return RetryAfterMiddleware(SimpleNamespace(settings=Settings(values), stats=Stats()))  # type: ignore[arg-type]


def test_parse_retry_after() -> None:
    now = datetime(2025, 5, 12, 8, 0, 0, tzinfo=UTC)
    assert parse_retry_after(b"7") == 7.0
    assert parse_retry_after("Mon, 12 May 2025 08:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Mon, 12 May 2025 07:00:00 GMT", now=now) == 0.0  # in the past: now
    assert parse_retry_after(None) is None
    assert parse_retry_after(b"bald") is None


def test_waits_honour_retry_after_back_off_and_cap() -> None:
    mw = middleware()
    assert mw._wait_for(1, 3.0) == 3.0
    assert mw._wait_for(1, 11.0) is None  # beyond crawl.retry_max_wait: give up, never ask early
    assert 1.8 <= mw._wait_for(1, None) <= 2.2  # type: ignore[operator]
    assert 3.6 <= mw._wait_for(2, None) <= 4.4  # type: ignore[operator]
    assert mw._wait_for(6, None) == 10.0  # capped


def test_retries_until_the_budget_is_spent() -> None:
    mw = middleware()
    req = Request("http://h/x")
    resp = Response("http://h/x", status=429, headers={"Retry-After": "0"})
    first = asyncio.run(mw.process_response(req, resp))
    assert isinstance(first, Request) and first.meta["fruehwarn_retries"] == 1 and first.dont_filter
    second = asyncio.run(mw.process_response(first, resp))
    assert isinstance(second, Request) and second.meta["fruehwarn_retries"] == 2
    assert asyncio.run(mw.process_response(second, resp)) is resp  # third failure: handed on, not retried
    stats = mw.crawler.stats.values  # type: ignore[union-attr]
    assert stats["fruehwarn/retry/count"] == 2 and stats["fruehwarn/retry/gave_up"] == 1
    assert stats["fruehwarn/retry/reason/429"] == 2


def test_what_is_not_retried() -> None:
    mw = middleware()
    req = Request("http://h/x")
    for status in (200, 304, 404, 403):
        r = Response("http://h/x", status=status)
        assert asyncio.run(mw.process_response(req, r)) is r
    assert asyncio.run(mw.process_exception(req, DownloadCancelledError("too big"))) is None
    assert asyncio.run(mw.process_exception(req, IgnoreRequest("robots"))) is None
    assert asyncio.run(mw.process_exception(Request("http://h/x", meta={"dont_retry": True}),
                                            DownloadTimeoutError("slow"))) is None


def test_scrapy_has_exactly_one_retry_layer() -> None:
    from config import load_settings

    s = scrapy_settings(load_settings())
    assert s["RETRY_ENABLED"] is False
    assert s["DOWNLOADER_MIDDLEWARES"]["scrapy.downloadermiddlewares.retry.RetryMiddleware"] is None
    assert "crawlers.middlewares.RetryAfterMiddleware" in s["DOWNLOADER_MIDDLEWARES"]
    assert s["ROBOTSTXT_OBEY"] is True and s["AUTOTHROTTLE_ENABLED"] is True
    assert s["CONCURRENT_REQUESTS_PER_DOMAIN"] == 2
