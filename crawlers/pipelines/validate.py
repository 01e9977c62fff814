"""Normalise a post: text without HTML (title and body joined), UTC time, bounded fields."""

from __future__ import annotations

from datetime import timedelta

from crawlers.items import PostItem
from crawlers.pipelines.base import Pipeline
from crawlers.text import content_hash, html_to_text, join_title_body, plain_text, to_utc_naive
from storage.models import utcnow

MAX_TEXT_CHARS = 50_000  # a post longer than this is cut (and counted)
FUTURE_TOLERANCE = timedelta(hours=1)  # clock skew accepted before a date is clamped to now


class ValidatePipeline(Pipeline):
    def process_item(self, item: PostItem) -> PostItem:
        stats = self.crawler.stats
        assert stats is not None
        ext = (item.external_id or "").strip()
        if not ext:
            raise self.reject("missing_id", "a post without an external id")
        if len(ext) > 500:
            raise self.reject("id_too_long", ext[:80])
        clean = html_to_text if item.html else plain_text
        title = clean(item.title)
        text = join_title_body(title, clean(item.body))
        if not text:
            raise self.skip("empty_text", ext)
        if len(text) > MAX_TEXT_CHARS:
            stats.inc_value("fruehwarn/truncated_text")
            text = text[:MAX_TEXT_CHARS]
        now = utcnow()
        published = to_utc_naive(item.published_at)
        if published is None:
            stats.inc_value("fruehwarn/missing_date")
            published = now
        if published > now + FUTURE_TOLERANCE:
            stats.inc_value("fruehwarn/future_date")
            published = now
        item.external_id = ext
        item.title = title[:5000] or None
        item.text = text
        item.content_hash = content_hash(text)
        item.published_at = published
        item.url = item.url[:2000] if item.url else None
        item.author = item.author.strip()[:300] if item.author and item.author.strip() else None
        item.thread_id = item.thread_id[:500] if item.thread_id else None
        item.parent_id = item.parent_id[:500] if item.parent_id else None
        return item
