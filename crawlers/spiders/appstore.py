"""Apple App Store customer reviews: the public JSON feed of one app in one country.

``source.url`` is the feed, e.g.
``https://itunes.apple.com/de/rss/customerreviews/id=<appid>/sortBy=mostRecent/json``.
Pages ``/customerreviews/page=<n>/...`` are read in order (Apple serves at most 10) until
a page is empty, a page reaches reviews older than the cursor, or ``crawl.max_pages``.
Cursor: ``newest`` (ISO time of the newest review seen).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from scrapy.http import Request, Response

from crawlers.parsers.appstore import MAX_PAGES, page_url, parse_reviews
from crawlers.spiders.base import SourceSpider


class AppstoreSpider(SourceSpider):
    name = "appstore"

    def first_requests(self) -> Iterable[Request]:
        yield self.request(page_url(self.source.url, 1), self.parse_reviews, page=1)

    def parse_reviews(self, response: Response, page: int) -> Iterator[Any]:
        result = self.parsed(response, parse_reviews, response.body)
        if result is None:
            return
        items = result.items
        dates = [i.published_at.isoformat() for i in items if i.published_at is not None]
        old_newest = str(self.cursor.get("newest") or "")
        if dates:
            self.new_cursor["newest"] = max([*dates, str(self.new_cursor.get("newest") or "")])
        yield from items
        reached_known = bool(dates) and min(dates) <= old_newest
        if items and not reached_known and page < min(self.max_pages, MAX_PAGES):
            yield self.request(page_url(self.source.url, page + 1), self.parse_reviews, page=page + 1)
