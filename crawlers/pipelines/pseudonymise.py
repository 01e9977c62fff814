"""Replace the author handle by a keyed hash (HMAC-SHA256 with ``settings.secret_key``).

The same handle always gets the same hash (so "one loud author" stays countable) but
cannot be reversed or recomputed without the key. The raw handle survives only when
``crawl.store_raw_handles`` is on; otherwise it is dropped here, before storage.
Handles are case-folded first; parsers qualify per-host handles (``name@host``).
"""

from __future__ import annotations

import hashlib
import hmac

from crawlers.items import PostItem
from crawlers.pipelines.base import Pipeline


def author_hash(key: bytes, handle: str) -> str:
    return hmac.new(key, handle.strip().casefold().encode("utf-8"), hashlib.sha256).hexdigest()


class PseudonymisePipeline(Pipeline):
    def open_spider(self) -> None:
        settings = self.spider.app_settings
        self.key = settings.secret_key.get_secret_value().encode("utf-8")
        self.keep_raw = settings.crawl.store_raw_handles

    def process_item(self, item: PostItem) -> PostItem:
        if item.author:
            item.author_hash = author_hash(self.key, item.author)
        if not self.keep_raw:
            item.author = None
        return item
