"""Run crawl jobs with Scrapy in *this* process (the runner calls it in a child process).

Sources on different hosts are crawled concurrently in one reactor; sources on the same
host one after another, so per-host politeness (``CONCURRENT_REQUESTS_PER_DOMAIN``,
AutoThrottle) holds across sources too. A source whose spider cannot even start (a
wrong option) is closed as failed and the others go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from crawlers.pipelines import PIPELINES
from crawlers.runs import CrawlJob, SourceResult, finish_run

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from config import Settings

log = logging.getLogger("fruehwarn.crawl")


def scrapy_settings(settings: Settings) -> dict[str, Any]:
    """Scrapy settings from ``settings.crawl`` (the one place they are mapped)."""
    c = settings.crawl
    per_host = c.concurrent_requests_per_domain
    return {
        "BOT_NAME": "fruehwarn",
        "USER_AGENT": c.user_agent,
        "ROBOTSTXT_OBEY": c.obey_robots,
        "CONCURRENT_REQUESTS": max(16, per_host),
        "CONCURRENT_REQUESTS_PER_DOMAIN": per_host,
        "DOWNLOAD_DELAY": c.download_delay or 0.0,
        "AUTOTHROTTLE_ENABLED": c.autothrottle,
        "AUTOTHROTTLE_START_DELAY": c.autothrottle_start_delay,
        "AUTOTHROTTLE_MAX_DELAY": c.retry_max_wait,
        "AUTOTHROTTLE_TARGET_CONCURRENCY": float(per_host),
        "DOWNLOAD_TIMEOUT": c.download_timeout,
        "DOWNLOAD_MAXSIZE": c.max_body_bytes,
        "DOWNLOAD_WARNSIZE": 0,
        "DOWNLOAD_FAIL_ON_DATALOSS": True,
        # one retry layer: ours (crawlers/middlewares.py), Scrapy's switched off
        "RETRY_ENABLED": False,
        "FRUEHWARN_RETRY_TIMES": c.retry_times,
        "FRUEHWARN_RETRY_BACKOFF": c.retry_backoff,
        "FRUEHWARN_RETRY_MAX_WAIT": c.retry_max_wait,
        "DOWNLOADER_MIDDLEWARES": {
            "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
            "crawlers.middlewares.RetryAfterMiddleware": 550,
        },
        "ITEM_PIPELINES": PIPELINES,
        # only what a crawl uses: fewer imports, nothing listening on a port
        "EXTENSIONS": {f"scrapy.extensions.{name}": None for name in (
            "telnet.TelnetConsole", "memusage.MemoryUsage", "memdebug.MemoryDebugger",
            "feedexport.FeedExporter", "spiderstate.SpiderState", "remote_control.RemoteControl")},
        "DOWNLOAD_HANDLERS": {"data": None, "file": None, "s3": None, "ftp": None},
        "CLOSESPIDER_TIMEOUT": c.source_timeout,
        "COOKIES_ENABLED": False,
        "DEFAULT_REQUEST_HEADERS": {"Accept": "application/json, application/xml;q=0.9, text/html;q=0.8, */*;q=0.5",
                                    "Accept-Language": "de-DE,de;q=0.9,en;q=0.5"},
        "STATS_DUMP": False,
        "LOG_LEVEL": c.log_level,
        "LOGSTATS_INTERVAL": 0,
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    }


def host_groups(jobs: list[CrawlJob]) -> list[list[CrawlJob]]:
    """Jobs by host name (ports ignored: one machine), in config order within a host."""
    groups: dict[str, list[CrawlJob]] = defaultdict(list)
    for job in jobs:
        groups[(urlsplit(job.source.url).hostname or job.source.name).lower()].append(job)
    return list(groups.values())


def run_jobs(settings: Settings, engine: Engine, jobs: list[CrawlJob], *, install_handlers: bool) -> None:
    """Crawl ``jobs`` with Scrapy; each spider closes its CrawlRun when it ends. Blocks."""
    from scrapy.crawler import AsyncCrawlerProcess

    from crawlers.spiders import SPIDERS

    process = AsyncCrawlerProcess({**scrapy_settings(settings), "LOG_INSTALL_ROOT_HANDLER": install_handlers})
    # Scrapy's logging defaults put its loggers at DEBUG; in a host process that would
    # flood the host's handlers, so its loggers get crawl.log_level too
    logging.getLogger("scrapy").setLevel(settings.crawl.log_level)
    from twisted.internet import reactor  # the asyncio reactor the process just installed

    async def crawl_one(job: CrawlJob) -> None:
        try:
            spider_cls = SPIDERS[job.source.type]
            await process.crawl(spider_cls, job=job, app_settings=settings, engine=engine)
        except Exception as exc:  # noqa: BLE001 - one source's failure must not stop the others
            message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ValueError) else f"config: {exc}"
            log.error("source %s could not be crawled: %s", job.source.name, message)
            finish_run(engine, job, SourceResult(status="failed", errors=1, error=message,
                                                 stats={"fruehwarn/errors/start_failed": 1}), settings)

    async def one_host(group: list[CrawlJob]) -> None:
        for job in group:
            await crawl_one(job)

    async def main() -> None:
        try:
            await asyncio.gather(*(one_host(g) for g in host_groups(jobs)))
        finally:
            core: Any = reactor
            core.callLater(0, core.stop)

    asyncio.get_event_loop().create_task(main())
    process.start(stop_after_crawl=False, install_signal_handlers=install_handlers)
