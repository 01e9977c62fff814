"""Mastodon hashtag and account timelines (REST API v1, public, no token).

URL forms accepted as ``source.url``:

- ``https://host/api/v1/timelines/tag/<tag>`` or ``https://host/tags/<tag>``
- ``https://host/api/v1/accounts/<id>/statuses``
- ``https://host/@user`` (looked up once via ``/api/v1/accounts/lookup?acct=user``)

Each crawl requests ``<timeline>?limit=<n>[&since_id=<cursor>]`` and follows the
``Link: <...>; rel="next"`` header (older statuses, ``max_id``) with ``since_id`` kept,
up to ``crawl.max_pages`` pages, so a gap between two crawls is filled. Cursor:
``since_id`` (the newest status id seen), ``account_id`` (resolved once).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

from scrapy.http import Request, Response

from crawlers.parsers.mastodon import newest_id, parse_account, parse_statuses
from crawlers.spiders.base import SourceSpider, with_params

_TAG = re.compile(r"^/(?:api/v1/timelines/tag|tags)/([^/?#]+)/?$")
_ACCOUNT = re.compile(r"^/api/v1/accounts/([^/]+)/statuses/?$")
_PROFILE = re.compile(r"^/@([^/?#]+)/?$")


class MastodonSpider(SourceSpider):
    name = "mastodon"

    def configure(self) -> None:
        limit = self.options.get("limit", 40)
        if not isinstance(limit, int) or not 1 <= limit <= 40:
            raise ValueError(f"mastodon option limit = {limit!r}: expected 1-40")
        self.limit = limit
        self.exclude_replies = bool(self.options.get("exclude_replies", False))
        self.include_reblogs = not bool(self.options.get("exclude_reblogs", True))
        path = urlsplit(self.source.url).path
        self.timeline: str | None = None
        self.acct: str | None = None
        if m := _TAG.match(path):
            self.timeline = f"{self.origin}/api/v1/timelines/tag/{m.group(1)}"
        elif _ACCOUNT.match(path):
            self.timeline = f"{self.origin}{path.rstrip('/')}"
        elif m := _PROFILE.match(path):
            self.acct = m.group(1)
            if self.cursor.get("account_id"):
                self.timeline = self._account_timeline(str(self.cursor["account_id"]))
        else:
            raise ValueError(f"mastodon url {self.source.url!r}: expected /api/v1/timelines/tag/<tag>, "
                             "/tags/<tag>, /api/v1/accounts/<id>/statuses or /@user")

    def _account_timeline(self, account_id: str) -> str:
        return f"{self.origin}/api/v1/accounts/{account_id}/statuses"

    def _first_page(self, timeline: str) -> str:
        params: dict[str, Any] = {"limit": self.limit, "since_id": self.cursor.get("since_id")}
        if "/accounts/" in timeline:
            params["exclude_replies"] = self.exclude_replies or None
            params["exclude_reblogs"] = (not self.include_reblogs) or None
        return with_params(timeline, **params)

    def first_requests(self) -> Iterable[Request]:
        if self.timeline is None:
            assert self.acct is not None
            url = f"{self.origin}/api/v1/accounts/lookup?acct={quote(self.acct)}"
            yield self.request(url, self.parse_lookup)
        else:
            yield self.request(self._first_page(self.timeline), self.parse_timeline, page=1)

    def parse_lookup(self, response: Response) -> Iterator[Request]:
        account_id = self.parsed(response, parse_account, response.body)
        if account_id is None:
            return
        self.new_cursor["account_id"] = account_id
        self.timeline = self._account_timeline(account_id)
        yield self.request(self._first_page(self.timeline), self.parse_timeline, page=1)

    def parse_timeline(self, response: Response, page: int) -> Iterator[Any]:
        link = response.headers.get("Link")
        result = self.parsed(response, parse_statuses, response.body, host=self.host,
                             link_header=link.decode("latin-1") if link else None,
                             include_reblogs=self.include_reblogs)
        if result is None:
            return
        newest = newest_id(result.ids, self.new_cursor.get("since_id"))
        if newest:
            self.new_cursor["since_id"] = newest
        yield from result.items
        if result.ids and result.next_url and page < self.max_pages:
            # keep since_id on the older pages: stop at what the last crawl already has
            nxt = with_params(result.next_url, since_id=self.cursor.get("since_id"), limit=self.limit)
            yield self.request(nxt, self.parse_timeline, page=page + 1)
