"""RSS and Atom feeds (news, blogs, Khoros board feeds): one conditional GET per crawl.

Requests ``source.url`` with ``If-None-Match``/``If-Modified-Since`` from the cursor; a
304 means nothing new. Cursor: ``etag``, ``last_modified``, ``newest`` (ISO time of
the newest entry). Every entry of a changed feed goes to the pipelines: unchanged ones
are skipped there, edited ones updated.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from scrapy.http import Request, Response

from crawlers.parsers.rss import parse_feed
from crawlers.spiders.base import SourceSpider


class RssSpider(SourceSpider):
    name = "rss"

    def first_requests(self) -> Iterable[Request]:
        headers = {"Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"}
        if self.cursor.get("etag"):
            headers["If-None-Match"] = str(self.cursor["etag"])
        if self.cursor.get("last_modified"):
            headers["If-Modified-Since"] = str(self.cursor["last_modified"])
        yield self.request(self.source.url, self.parse_feed, headers=headers, allow_status=[304])

    def parse_feed(self, response: Response) -> Iterator[Any]:
        if response.status == 304:
            self.ok_responses += 1
            self.stat("not_modified")
            return
        ctype = response.headers.get("Content-Type")
        page = self.parsed(response, parse_feed, response.body, url=response.url,
                           content_type=ctype.decode("latin-1") if ctype else None)
        if page is None:
            return
        if page.bozo:
            self.stat("feed_bozo")  # feedparser complained but found entries: kept
        if not page.items:
            self.stat("empty_feed")
        for header, key in ((b"ETag", "etag"), (b"Last-Modified", "last_modified")):
            value = response.headers.get(header)
            if value:
                self.new_cursor[key] = value.decode("latin-1")
            else:
                self.new_cursor.pop(key, None)
        dates = [i.published_at for i in page.items if i.published_at is not None]
        if dates:
            newest = max(dates).replace(tzinfo=None).isoformat()
            self.new_cursor["newest"] = max(newest, str(self.cursor.get("newest", "")))
        yield from page.items
