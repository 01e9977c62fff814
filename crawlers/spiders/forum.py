"""Generic forum threads (phpBB, vBulletin and similar HTML) read with per-site selectors.

``source.url`` is a thread, or a board page when ``selectors.thread_links`` is set (then
each linked thread is read). A thread's pages follow ``selectors.next_page`` up to
``crawl.max_pages``; so do a board's pages. See crawlers/parsers/forum.py for the
selectors and the date forms understood. No cursor: pages are re-read, the store skips
unchanged posts and updates edited ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from scrapy.http import Request, Response

from crawlers.parsers.forum import ForumSelectors, parse_board, parse_thread, zone
from crawlers.spiders.base import SourceSpider


class ForumSpider(SourceSpider):
    name = "forum"

    def configure(self) -> None:
        self.selectors = ForumSelectors.from_options(self.options.get("selectors"))
        self.tz = str(self.options.get("timezone", "Europe/Berlin"))
        zone(self.tz)  # raises ValueError on an unknown zone
        fmt = self.options.get("date_format")
        self.date_format = str(fmt) if fmt else None

    def first_requests(self) -> Iterable[Request]:
        if self.selectors.thread_links:
            yield self.request(self.source.url, self.parse_board, page=1)
        else:
            yield self.request(self.source.url, self.parse_thread, page=1, thread_id=None, root_id=None)

    def _text(self, response: Response) -> str:
        try:
            return response.text
        except AttributeError:  # not a text response (binary content type)
            return response.body.decode("utf-8", errors="replace")

    def parse_board(self, response: Response, page: int) -> Iterator[Request]:
        board = self.parsed(response, parse_board, self._text(response), url=response.url,
                            selectors=self.selectors)
        if board is None:
            return
        for url in board.thread_urls:
            yield self.request(url, self.parse_thread, page=1, thread_id=None, root_id=None)
        if board.next_url and page < self.max_pages:
            yield self.request(board.next_url, self.parse_board, page=page + 1)

    def parse_thread(self, response: Response, page: int, thread_id: str | None,
                     root_id: str | None) -> Iterator[Any]:
        result = self.parsed(response, parse_thread, self._text(response), url=response.url,
                             selectors=self.selectors, tz=self.tz, date_format=self.date_format,
                             thread_id=thread_id, root_id=root_id)
        if result is None:
            return
        yield from result.items
        if result.next_url and page < self.max_pages and result.items:
            tid = result.items[0].thread_id
            root = root_id or result.items[0].external_id
            yield self.request(result.next_url, self.parse_thread, page=page + 1, thread_id=tid, root_id=root)
