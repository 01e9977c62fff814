"""Keep only posts that mention one of the source's ``keywords`` (case-insensitive substring).

Substrings suit German compounds: ``störung`` keeps "Netzstörung" and "Störungsmeldung".
A source without keywords keeps everything.
"""

from __future__ import annotations

from crawlers.items import PostItem
from crawlers.pipelines.base import Pipeline


class KeywordFilterPipeline(Pipeline):
    def open_spider(self) -> None:
        self.keywords = [k.casefold() for k in self.spider.source.keywords if k.strip()]

    def process_item(self, item: PostItem) -> PostItem:
        if self.keywords:
            text = item.text.casefold()
            if not any(k in text for k in self.keywords):
                raise self.skip("keyword", item.external_id)
        return item
