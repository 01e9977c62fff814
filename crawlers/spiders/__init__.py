"""One spider a platform; the file name, the spider's ``name`` and the source ``type`` match."""

from __future__ import annotations

from crawlers.spiders.appstore import AppstoreSpider
from crawlers.spiders.base import SourceSpider
from crawlers.spiders.discourse import DiscourseSpider
from crawlers.spiders.forum import ForumSpider
from crawlers.spiders.mastodon import MastodonSpider
from crawlers.spiders.reddit import RedditSpider
from crawlers.spiders.rss import RssSpider

SPIDERS: dict[str, type[SourceSpider]] = {
    cls.name: cls
    for cls in (RssSpider, MastodonSpider, RedditSpider, DiscourseSpider, AppstoreSpider, ForumSpider)
}

__all__ = ["SPIDERS", "SourceSpider"]
