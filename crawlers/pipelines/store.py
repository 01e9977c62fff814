"""Store posts in batches (one transaction per ``crawl.store_batch_size`` posts).

A batch that hits a unique-key race (another process inserted the same post meanwhile)
is rolled back and written again, then seeing that row. A batch that still fails is
counted as errors and marks the crawl failed: the cursor then stays where it was, so
the next crawl fetches those posts again.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from crawlers.items import PostItem
from crawlers.pipelines.base import Pipeline
from crawlers.store import StoreCounts, store_posts
from storage.db import session_scope

log = logging.getLogger("fruehwarn.crawl.store")


class StorePipeline(Pipeline):
    def open_spider(self) -> None:
        spider = self.spider
        self.engine = spider.engine
        self.crawl = spider.app_settings.crawl
        self.buffer: list[PostItem] = []
        self.counts = StoreCounts()

    def process_item(self, item: PostItem) -> PostItem:
        self.buffer.append(item)
        if len(self.buffer) >= self.crawl.store_batch_size:
            self.flush()
        return item

    def close_spider(self) -> None:
        self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        batch, self.buffer = self.buffer, []
        stats = self.crawler.stats
        assert stats is not None
        for attempt in (1, 2):
            try:
                with session_scope(self.engine) as s:
                    got = store_posts(s, self.spider.job.source_id, batch,
                                      cross_post_window=self.crawl.cross_post_window,
                                      cross_post_min_chars=self.crawl.cross_post_min_chars)
                break
            except IntegrityError:
                if attempt == 2:
                    self._failed(batch, "unique-key conflict twice")
                    return
            except SQLAlchemyError as exc:
                self._failed(batch, f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
                return
        self.counts += got
        stats.inc_value("fruehwarn/new", got.new)
        stats.inc_value("fruehwarn/updated", got.updated)
        if got.unchanged:
            stats.inc_value("fruehwarn/dropped/unchanged", got.unchanged)
        if got.cross_posts:
            stats.inc_value("fruehwarn/cross_posts", got.cross_posts)

    def _failed(self, batch: list[PostItem], message: str) -> None:
        stats = self.crawler.stats
        assert stats is not None
        stats.inc_value("fruehwarn/errors/store", len(batch))
        self.spider.fatal = f"storing {len(batch)} posts failed: {message}"
        log.error("source %s: %s", self.spider.source.name, self.spider.fatal)
