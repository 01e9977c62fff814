"""Reddit subreddit listings and searches through the public .json endpoints, with comments.

``source.url`` is a subreddit (``https://www.reddit.com/r/<sub>``: its ``/new.json``
listing is read) or any listing already ending in ``.json``; option ``search`` reads
``/r/<sub>/search.json?q=<search>&restrict_sr=1&sort=new`` instead. Pages follow
``data.after`` up to ``crawl.max_pages`` and stop at posts older than the cursor.
For each post whose ``num_comments`` changed since the last crawl (up to
``max_comment_threads`` a crawl), ``/comments/<id>.json`` is read. Every request carries
``raw_json=1`` (no HTML escaping in JSON). Cursor: ``newest`` (created_utc of the newest
post), ``comments`` ({post fullname: num_comments}, the most recent 500).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

from scrapy.http import Request, Response

from crawlers.parsers.reddit import parse_comments, parse_listing
from crawlers.spiders.base import SourceSpider, with_params

_SUB = re.compile(r"^(/r/[^/]+)")
COMMENT_MEMORY = 500


class RedditSpider(SourceSpider):
    name = "reddit"

    def configure(self) -> None:
        self.limit = int(self.options.get("limit", 100))
        if not 1 <= self.limit <= 100:
            raise ValueError(f"reddit option limit = {self.limit}: expected 1-100")
        self.comments = bool(self.options.get("comments", True))
        self.max_threads = int(self.options.get("max_comment_threads", 25))
        search = self.options.get("search")
        path = urlsplit(self.source.url).path.rstrip("/")
        extra: dict[str, str] = {}
        if path.endswith(".json"):
            listing = self.source.url  # any listing or search, its own query kept
        else:
            m = _SUB.match(path)
            if not m:
                raise ValueError(f"reddit url {self.source.url!r}: expected https://host/r/<subreddit> "
                                 "or a listing URL ending in .json")
            if search:
                listing = f"{self.origin}{m.group(1)}/search.json"
                extra = {"q": str(search), "restrict_sr": "1", "sort": "new"}
            else:
                listing = f"{self.origin}{m.group(1)}/new.json"
        self.listing = with_params(listing, **extra, limit=self.limit, raw_json=1)
        self.threads_requested = 0
        self.seen_comments: dict[str, int] = dict(self.cursor.get("comments") or {})

    def first_requests(self) -> Iterable[Request]:
        yield self.request(self.listing, self.parse_listing, page=1)

    def parse_listing(self, response: Response, page: int) -> Iterator[Any]:
        result = self.parsed(response, parse_listing, response.body, base_url=self.origin)
        if result is None:
            return
        old_newest = float(self.cursor.get("newest") or 0)
        if result.threads:
            newest = max(t.created_utc for t in result.threads)
            self.new_cursor["newest"] = max(newest, float(self.new_cursor.get("newest") or 0))
        yield from result.items
        for t in result.threads:
            if not self.comments or t.num_comments == 0 or self.seen_comments.get(t.fullname) == t.num_comments:
                continue
            if self.threads_requested >= self.max_threads:
                self.stat("comment_threads_deferred")
                continue
            self.threads_requested += 1
            url = with_params(f"{self.origin}/comments/{t.id}.json", raw_json=1, sort="new", limit=500)
            yield self.request(url, self.parse_thread, fullname=t.fullname, num_comments=t.num_comments)
        reached_known = bool(result.threads) and min(t.created_utc for t in result.threads) <= old_newest
        if result.after and not reached_known and page < self.max_pages:
            yield self.request(with_params(self.listing, after=result.after), self.parse_listing, page=page + 1)

    def parse_thread(self, response: Response, fullname: str, num_comments: int) -> Iterator[Any]:
        result = self.parsed(response, parse_comments, response.body, base_url=self.origin)
        if result is None:
            return
        self.seen_comments[fullname] = num_comments
        recent = list(self.seen_comments.items())[-COMMENT_MEMORY:]
        self.new_cursor["comments"] = dict(recent)
        yield from result.items
