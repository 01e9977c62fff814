"""The one retry layer: 429, 5xx and network failures, honouring ``Retry-After``.

Scrapy's own RetryMiddleware is switched off (``RETRY_ENABLED = False`` and removed from
``DOWNLOADER_MIDDLEWARES``), spiders never retry, so a request is tried at most
``1 + crawl.retry_times`` times. The wait before a retry is the server's
``Retry-After`` (seconds or an HTTP date) or else an exponential backoff
(``crawl.retry_backoff`` x 2^(attempt-1), +-10 % jitter), both capped at
``crawl.retry_max_wait``; a ``Retry-After`` beyond the cap is honoured by giving up
rather than by asking early. The wait happens inside the download (an asyncio sleep),
so the engine keeps the request in flight and AutoThrottle's per-host slot sees it.
Too-large answers (``DOWNLOAD_MAXSIZE``), robots.txt refusals and 4xx other than 408/429
are not retried. Counters: ``fruehwarn/retry/count``, ``fruehwarn/retry/reason/<why>``,
``fruehwarn/retry/gave_up``.
"""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    NotConfigured,
    ResponseDataLossError,
)
from scrapy.http import Request, Response
from scrapy.utils.asyncio import sleep
from twisted.internet.error import ConnectError, ConnectionDone, ConnectionLost, TimeoutError
from twisted.web.client import ResponseFailed

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

log = logging.getLogger("fruehwarn.crawl.retry")

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 522, 524})
RETRY_EXCEPTIONS: tuple[type[BaseException], ...] = (
    DownloadTimeoutError, DownloadConnectionRefusedError, DownloadFailedError, ResponseDataLossError,
    CannotResolveHostError, ConnectError, ConnectionDone, ConnectionLost, TimeoutError, ResponseFailed,
)


def parse_retry_after(value: str | bytes | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent or bad."""
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class RetryAfterMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        self.max_retries = settings.getint("FRUEHWARN_RETRY_TIMES", 3)
        if self.max_retries < 0:
            raise NotConfigured
        self.backoff = float(settings.getfloat("FRUEHWARN_RETRY_BACKOFF", 2.0))
        self.max_wait = float(settings.getfloat("FRUEHWARN_RETRY_MAX_WAIT", 60.0))
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _inc(self, key: str) -> None:
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(f"fruehwarn/retry/{key}")

    def _wait_for(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds before retry number ``attempt``; None: give up (Retry-After beyond the cap)."""
        if retry_after is not None:
            return retry_after if retry_after <= self.max_wait else None
        base: float = self.backoff * 2.0 ** (attempt - 1)
        return min(self.max_wait, base * random.uniform(0.9, 1.1))

    async def _retry(self, request: Request, reason: str, retry_after: float | None) -> Request | None:
        if request.meta.get("dont_retry"):
            return None
        attempt = int(request.meta.get("fruehwarn_retries", 0)) + 1
        if attempt > self.max_retries:
            self._inc("gave_up")
            return None
        wait = self._wait_for(attempt, retry_after)
        if wait is None:
            self._inc("gave_up")
            log.warning("not retrying %s: Retry-After %.0fs exceeds crawl.retry_max_wait %.0fs",
                        request.url, retry_after or 0, self.max_wait)
            return None
        self._inc("count")
        self._inc(f"reason/{reason}")
        log.info("retry %d/%d of %s in %.1fs (%s)", attempt, self.max_retries, request.url, wait, reason)
        if wait > 0:
            await sleep(wait)
        retry = request.copy()
        retry.meta["fruehwarn_retries"] = attempt
        retry.dont_filter = True
        return retry

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        if response.status not in RETRY_STATUSES:
            return response
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        again = await self._retry(request, str(response.status), retry_after)
        return again or response

    async def process_exception(self, request: Request, exception: Exception) -> Request | None:
        if not isinstance(exception, RETRY_EXCEPTIONS):
            return None
        return await self._retry(request, type(exception).__name__, None)
