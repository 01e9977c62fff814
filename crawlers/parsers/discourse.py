"""Discourse's public JSON API: topic lists and the posts of a topic.

- ``GET /latest.json`` (or ``/c/<slug>/<id>.json``): ``topic_list.topics[]`` with ``id``,
  ``slug``, ``title``, ``highest_post_number``, ``bumped_at``, ``last_posted_at``; the
  next page is ``topic_list.more_topics_url`` (``/latest?page=1``, no ``.json``).
- ``GET /t/<slug>/<id>.json``: the topic with its first posts in
  ``post_stream.posts[]`` (``id``, ``post_number``, ``username``, ``created_at``,
  ``updated_at``, ``cooked`` HTML, ``reply_to_post_number``, ``post_type``) and every
  post id of the topic, in order, in ``post_stream.stream``.
- ``GET /t/<id>/posts.json?post_ids[]=..``: further posts, same shape.

External ids are ``<topic_id>/<post_number>`` (Discourse's own permalink scheme,
``/t/<slug>/<topic_id>/<post_number>``), so ``reply_to_post_number`` maps to a parent id
without a lookup. The thread id is the topic id; the first post carries the title.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crawlers.items import PostItem
from crawlers.parsers.common import MalformedPayload, load_json
from crawlers.text import to_utc_naive

REGULAR, MODERATOR_ACTION, SMALL_ACTION, WHISPER = 1, 2, 3, 4


@dataclass
class TopicRef:
    id: int
    slug: str
    title: str
    highest_post_number: int
    bumped_at: str | None
    last_posted_at: str | None

    @property
    def change_key(self) -> str:
        """Changes when a post is added or the topic is bumped (edits usually bump)."""
        return f"{self.highest_post_number}|{self.bumped_at or self.last_posted_at or ''}"


@dataclass
class TopicListPage:
    topics: list[TopicRef]
    more_url: str | None = None  # as given: a path without .json
    problems: list[str] = field(default_factory=list)


@dataclass
class TopicPage:
    items: list[PostItem]
    topic_id: int
    slug: str
    title: str
    stream: list[int] = field(default_factory=list)  # all post ids of the topic, in order
    loaded_ids: list[int] = field(default_factory=list)  # ids of the posts in this answer
    skipped: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def parse_topic_list(body: bytes | str) -> TopicListPage:
    data = load_json(body)
    tl = data.get("topic_list") if isinstance(data, dict) else None
    if not isinstance(tl, dict) or not isinstance(tl.get("topics"), list):
        raise MalformedPayload("unexpected_json", "expected topic_list.topics")
    page = TopicListPage(topics=[], more_url=tl.get("more_topics_url") or None)
    for t in tl["topics"]:
        if not isinstance(t, dict) or not isinstance(t.get("id"), int):
            page.problems.append("topic_without_id")
            continue
        page.topics.append(TopicRef(
            id=t["id"],
            slug=str(t.get("slug") or "topic"),
            title=str(t.get("title") or t.get("fancy_title") or ""),
            highest_post_number=int(t.get("highest_post_number") or t.get("posts_count") or 0),
            bumped_at=t.get("bumped_at"),
            last_posted_at=t.get("last_posted_at"),
        ))
    return page


def parse_topic(body: bytes | str, *, base_url: str, host: str) -> TopicPage:
    """A topic answer (``/t/<slug>/<id>.json``)."""
    data = load_json(body)
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        raise MalformedPayload("unexpected_json", "expected a topic with an id")
    ps = data.get("post_stream")
    if not isinstance(ps, dict) or not isinstance(ps.get("posts"), list):
        raise MalformedPayload("unexpected_json", "topic without post_stream.posts")
    page = TopicPage(items=[], topic_id=data["id"], slug=str(data.get("slug") or "topic"),
                     title=str(data.get("title") or data.get("fancy_title") or ""),
                     stream=[i for i in ps.get("stream") or [] if isinstance(i, int)])
    _add_posts(page, ps["posts"], base_url=base_url, host=host)
    return page


def parse_posts(body: bytes | str, *, topic_id: int, slug: str, title: str, base_url: str,
                host: str) -> TopicPage:
    """Further posts of a topic (``/t/<id>/posts.json?post_ids[]=...``)."""
    data = load_json(body)
    ps = data.get("post_stream") if isinstance(data, dict) else None
    if not isinstance(ps, dict) or not isinstance(ps.get("posts"), list):
        raise MalformedPayload("unexpected_json", "expected post_stream.posts")
    page = TopicPage(items=[], topic_id=topic_id, slug=slug, title=title)
    _add_posts(page, ps["posts"], base_url=base_url, host=host)
    return page


def _add_posts(page: TopicPage, posts: list[Any], *, base_url: str, host: str) -> None:
    for p in posts:
        if not isinstance(p, dict) or not isinstance(p.get("post_number"), int):
            page.problems.append("post_without_number")
            continue
        if isinstance(p.get("id"), int):
            page.loaded_ids.append(p["id"])
        if p.get("post_type", REGULAR) in (SMALL_ACTION, WHISPER) or p.get("deleted_at") or p.get("hidden"):
            page.skipped["not_a_visible_post"] = page.skipped.get("not_a_visible_post", 0) + 1
            continue
        page.items.append(post_item(p, topic_id=page.topic_id, slug=page.slug, title=page.title,
                                    base_url=base_url, host=host))


def post_item(p: dict[str, Any], *, topic_id: int, slug: str, title: str, base_url: str,
              host: str) -> PostItem:
    n = p["post_number"]
    reply_to = p.get("reply_to_post_number")
    user = p.get("username")
    return PostItem(
        external_id=f"{topic_id}/{n}",
        title=title if n == 1 else None,
        body=p.get("cooked") or "",
        html=True,
        url=f"{base_url.rstrip('/')}/t/{slug}/{topic_id}/{n}",
        published_at=to_utc_naive(p.get("created_at")),
        author=f"{user}@{host}" if user else None,
        thread_id=str(topic_id),
        parent_id=None if n == 1 else f"{topic_id}/{reply_to or 1}",
        lang=None,
    )
