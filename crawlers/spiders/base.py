"""The shared spider: one instance crawls one configured source once.

A platform spider only says which requests to make and hands payloads to its parser
(crawlers/parsers/). Everything else is here: requests with an errback, counting of
errors and skips in stats keys, the cursor, and the verdict when the spider closes.

Verdict: ``failed`` when no request succeeded (or storing failed, or the spider could
not start); ``partial`` when something was counted as an error (a failed page, a
malformed payload or entry) or the crawl hit ``crawl.source_timeout``; else ``ok``.
The new cursor is kept only when no request failed, so a gap is fetched again next time.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import scrapy
from scrapy import signals
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest
from scrapy.http import Request, Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from crawlers.parsers.common import MalformedPayload
from crawlers.runs import CrawlJob, SourceResult, finish_run

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from sqlalchemy.engine import Engine

    from config import Settings

log = logging.getLogger("fruehwarn.crawl")
T = TypeVar("T")

MAX_ERROR_MESSAGES = 3


def describe_failure(failure: Failure) -> tuple[str, str]:
    """(counter reason, one-line message) for a failed request."""
    exc = failure.value
    request: Request | None = getattr(failure, "request", None)
    url = request.url if request is not None else "?"
    tries = int(request.meta.get("fruehwarn_retries", 0)) + 1 if request is not None else 1
    after = f" after {tries} attempts" if tries > 1 else ""
    if isinstance(exc, HttpError):
        status = exc.response.status
        return f"http_{status}", f"HTTP {status} from {url}{after}"
    if isinstance(exc, DownloadCancelledError):
        return "too_large", f"answer from {url} larger than crawl.max_body_bytes"
    if isinstance(exc, IgnoreRequest):
        msg = str(exc) or "ignored"
        if "robots.txt" in msg:
            return "robots_txt", f"{url} is disallowed by robots.txt"
        return "ignored", f"{url}: {msg}"
    name = type(exc).__name__
    lowered = name.lower()
    if "timeout" in lowered:
        return "timeout", f"timeout fetching {url}{after}"
    if "dataloss" in lowered or "responsefailed" in lowered:
        return "truncated", f"answer from {url} was cut off{after}"
    if "connect" in lowered or "dns" in lowered or "resolve" in lowered:
        return "connection", f"cannot connect to {url}{after}: {exc}"
    return lowered, f"{name} fetching {url}{after}: {exc}"


def with_params(url: str, **params: Any) -> str:
    """``url`` with query parameters set (None removes one)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    for k, v in params.items():
        if v is None:
            query.pop(k, None)
        else:
            query[k] = str(v).lower() if isinstance(v, bool) else str(v)
    return urlunsplit(parts._replace(query=urlencode(query)))


class SourceSpider(scrapy.Spider):
    """Base of the platform spiders; ``name`` is the source type it serves."""

    name = "source"

    def __init__(self, *, job: CrawlJob, app_settings: Settings, engine: Engine, **kwargs: Any) -> None:
        super().__init__(name=self.name, **kwargs)
        self.job = job
        self.source = job.source
        self.options: dict[str, Any] = job.source.options
        self.cursor: dict[str, Any] = dict(job.cursor)
        self.new_cursor: dict[str, Any] = dict(job.cursor)
        self.app_settings = app_settings
        self.engine = engine
        self.max_pages = app_settings.crawl.max_pages
        self.ok_responses = 0
        self.failed_requests = 0
        self.messages: list[str] = []
        self.fatal: str | None = None
        self.result: SourceResult | None = None
        parts = urlsplit(self.source.url)
        self.host = parts.hostname or ""
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.configure()

    # --------------------------------------------------------------- what platforms define
    def configure(self) -> None:
        """Check and read the type-specific options; raise ValueError naming a wrong one."""

    def first_requests(self) -> Iterable[Request]:
        raise NotImplementedError

    # --------------------------------------------------------------- Scrapy entry points
    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._on_spider_error, signal=signals.spider_error)
        return spider

    async def start(self) -> AsyncIterator[Any]:
        try:
            for request in self.first_requests():
                yield request
        except Exception as exc:  # noqa: BLE001 - a bad source must fail visibly, not crash the crawl
            self.error("start_failed", f"{type(exc).__name__}: {exc}")

    def closed(self, reason: str) -> None:
        self.result = self.verdict(reason)
        finish_run(self.engine, self.job, self.result, self.app_settings)

    # --------------------------------------------------------------- helpers for platforms
    def request(self, url: str, callback: Callable[..., Any], *, headers: dict[str, str] | None = None,
                meta: dict[str, Any] | None = None, allow_status: Iterable[int] = (),
                **cb_kwargs: Any) -> Request:
        m = dict(meta or {})
        allowed = list(allow_status)
        if allowed:
            m["handle_httpstatus_list"] = allowed
        return Request(url, callback=callback, errback=self.on_error, headers=headers, meta=m,
                       cb_kwargs=cb_kwargs)

    def parsed(self, response: Response, parse: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """``parse(*args, **kwargs)``, counting a MalformedPayload as an error (None returned)."""
        try:
            page = parse(*args, **kwargs)
        except MalformedPayload as exc:
            self.error(exc.reason, f"{exc.detail} ({response.url})")
            return None
        self.ok_responses += 1
        for problem in getattr(page, "problems", []) or []:
            self.error(problem, f"skipped an entry of {response.url}")
        for reason, n in (getattr(page, "skipped", {}) or {}).items():
            self.skip(reason, n)
        return page

    def stat(self, key: str, n: int = 1) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(f"fruehwarn/{key}", n)

    def skip(self, reason: str, n: int = 1) -> None:
        if n:
            self.stat(f"dropped/{reason}", n)

    def error(self, reason: str, message: str, n: int = 1) -> None:
        self.stat(f"errors/{reason}", n)
        if len(self.messages) < MAX_ERROR_MESSAGES:
            self.messages.append(message)
        log.warning("source %s: %s", self.source.name, message)

    def on_error(self, failure: Failure) -> None:
        self.failed_requests += 1
        reason, message = describe_failure(failure)
        self.error(reason, message)

    def _on_spider_error(self, failure: Failure, response: Response, spider: scrapy.Spider) -> None:
        if spider is self:
            exc = failure.value
            self.error("parse_error", f"{type(exc).__name__} parsing {response.url}: {exc}")

    def verdict(self, reason: str) -> SourceResult:
        assert self.crawler.stats is not None
        stats = self.crawler.stats.get_stats()
        ours = {k: v for k, v in stats.items() if k.startswith("fruehwarn/")}
        errors = sum(int(v) for k, v in ours.items() if k.startswith("fruehwarn/errors/"))
        skipped = sum(int(v) for k, v in ours.items() if k.startswith("fruehwarn/dropped/"))
        messages = list(self.messages)
        if reason == "closespider_timeout":
            messages.insert(0, f"stopped after crawl.source_timeout ({self.app_settings.crawl.source_timeout:.0f}s)")
        if self.fatal:
            status = "failed"
            messages.insert(0, self.fatal)
        elif self.ok_responses == 0:
            status = "failed"
            if not messages:
                messages.append("no request succeeded")
        elif errors or reason != "finished":
            status = "partial"
        else:
            status = "ok"
        error = None
        if messages:
            error = "; ".join(messages)
            if errors > len(self.messages):
                error += f" (and {errors - len(self.messages)} more)"
        keep = {k: v for k, v in stats.items()
                if k.startswith(("fruehwarn/", "downloader/response_status_count/", "robotstxt/"))
                or k in ("downloader/request_count", "downloader/response_count", "item_scraped_count",
                         "item_dropped_count", "elapsed_time_seconds", "finish_reason")}
        return SourceResult(
            status=status,
            new=int(ours.get("fruehwarn/new", 0)),
            updated=int(ours.get("fruehwarn/updated", 0)),
            skipped=skipped,
            errors=errors,
            error=error,
            cursor=self.new_cursor if self.failed_requests == 0 and status != "failed" else None,
            stats={k: (v if isinstance(v, int | float | str) else str(v)) for k, v in keep.items()},
        )
