"""Discourse forums through the public JSON API: latest topics and their posts.

``source.url`` is the forum's base (``https://forum.example.de`` or a sub-path such as
``https://example.de/forum``: ``/latest.json`` is read), a category
(``.../c/<slug>/<id>``: ``.../c/<slug>/<id>.json``) or a topic list ending in ``.json``.
For every topic whose ``highest_post_number`` or ``bumped_at`` changed since the last
crawl, ``/t/<slug>/<id>.json`` is read (first posts and the id stream) and the posts not
yet seen are fetched with ``/t/<id>/posts.json?post_ids[]=..`` (20 a request, at most
``max_posts_per_topic``). ``more_topics_url`` is followed (as ``.json``) while a page
still has changed topics, up to ``crawl.max_pages``. Cursor: ``topics`` ({topic id:
{"key": change key, "seen": posts seen}}, the most recent 1000).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

from scrapy.http import Request, Response

from crawlers.parsers.discourse import TopicPage, parse_posts, parse_topic, parse_topic_list
from crawlers.spiders.base import SourceSpider

CHUNK = 20
TOPIC_MEMORY = 1000


def json_path(path_and_query: str) -> str:
    """``/latest?page=1`` -> ``/latest.json?page=1``."""
    path, _, query = path_and_query.partition("?")
    if not path.endswith(".json"):
        path = path.rstrip("/") + ".json"
    return f"{path}?{query}" if query else path


class DiscourseSpider(SourceSpider):
    name = "discourse"

    def configure(self) -> None:
        self.max_posts = int(self.options.get("max_posts_per_topic", 200))
        if self.max_posts < 1:
            raise ValueError("discourse option max_posts_per_topic: expected a positive number")
        parts = urlsplit(self.source.url)
        path = parts.path.rstrip("/")
        if path.endswith(".json"):
            self.base = self.origin + path.rsplit("/", 1)[0]
            if "/c/" in path:
                self.base = self.origin + path.split("/c/", 1)[0]
            self.list_url = self.source.url
        elif "/c/" in path:
            self.base = self.origin + path.split("/c/", 1)[0]
            self.list_url = f"{self.origin}{path}.json"
        else:
            self.base = self.origin + path
            self.list_url = f"{self.base}/latest.json"
        self.seen: dict[str, Any] = dict(self.cursor.get("topics") or {})

    def first_requests(self) -> Iterable[Request]:
        yield self.request(self.list_url, self.parse_list, page=1)

    def parse_list(self, response: Response, page: int) -> Iterator[Request]:
        result = self.parsed(response, parse_topic_list, response.body)
        if result is None:
            return
        changed = 0
        for t in result.topics:
            before = self.seen.get(str(t.id)) or {}
            if before.get("key") == t.change_key:
                continue
            changed += 1
            yield self.request(f"{self.base}/t/{t.slug}/{t.id}.json", self.parse_topic,
                               key=t.change_key, seen=int(before.get("seen") or 0))
        if not result.topics:
            self.stat("empty_topic_list")
        if result.more_url and changed and page < self.max_pages:
            yield self.request(self._more_url(result.more_url), self.parse_list, page=page + 1)

    def _more_url(self, more: str) -> str:
        """``more_topics_url`` is a path: from the origin when it already has the forum's sub-path."""
        if more.startswith(("http://", "https://")):
            return json_path(more)
        base_path = urlsplit(self.base).path
        if base_path and more.startswith(base_path + "/"):
            return self.origin + json_path(more)
        return self.base + json_path(more)

    def parse_topic(self, response: Response, key: str, seen: int) -> Iterator[Any]:
        topic = self.parsed(response, parse_topic, response.body, base_url=self.base, host=self.host)
        if topic is None:
            return
        yield from topic.items
        loaded = set(topic.loaded_ids)
        # the stream lists every post id in order: fetch the ones after what was seen, bounded
        start = max(seen, 0)
        missing = [i for i in topic.stream[start:] if i not in loaded][: self.max_posts]
        if not missing:
            self._remember(topic, key)
            return
        for n, i in enumerate(range(0, len(missing), CHUNK)):
            chunk = missing[i:i + CHUNK]
            query = urlencode([("post_ids[]", pid) for pid in chunk])
            last = i + CHUNK >= len(missing)
            yield self.request(f"{self.base}/t/{topic.topic_id}/posts.json?{query}", self.parse_more,
                               topic=topic, key=key if last else None, chunk_no=n)

    def parse_more(self, response: Response, topic: TopicPage, key: str | None, chunk_no: int) -> Iterator[Any]:
        more = self.parsed(response, parse_posts, response.body, topic_id=topic.topic_id, slug=topic.slug,
                           title=topic.title, base_url=self.base, host=self.host)
        if more is None:
            return
        yield from more.items
        if key is not None:
            self._remember(topic, key)

    def _remember(self, topic: TopicPage, key: str) -> None:
        self.seen[str(topic.topic_id)] = {"key": key, "seen": len(topic.stream)}
        self.new_cursor["topics"] = dict(list(self.seen.items())[-TOPIC_MEMORY:])
