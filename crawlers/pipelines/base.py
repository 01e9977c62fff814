"""What every pipeline shares: the crawler, its spider and the drop counters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy.exceptions import DropItem

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

    from crawlers.spiders.base import SourceSpider


class Pipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    @property
    def spider(self) -> SourceSpider:
        spider: Any = self.crawler.spider
        return spider  # type: ignore[no-any-return]

    def skip(self, reason: str, message: str) -> DropItem:
        """Count a skipped item and return the DropItem to raise."""
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(f"fruehwarn/dropped/{reason}")
        return DropItem(f"{reason}: {message}", log_level="DEBUG")

    def reject(self, reason: str, message: str) -> DropItem:
        """Count a malformed item as an error and return the DropItem to raise."""
        assert self.crawler.stats is not None
        self.crawler.stats.inc_value(f"fruehwarn/errors/{reason}")
        return DropItem(f"{reason}: {message}", log_level="WARNING")
