"""Reddit's public .json endpoints: listings (``kind: Listing`` of ``t3`` links) and a
post's comment thread (``/comments/<id>.json``: ``[Listing(t3), Listing(t1...)]``).

Ids are Reddit "fullnames" (``t3_abc`` for a post, ``t1_def`` for a comment), so a
comment's ``parent_id`` and ``link_id`` point straight at other external ids. Bodies are
markdown (``html=False``); request with ``raw_json=1`` so ``&``, ``<``, ``>`` arrive
unescaped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from crawlers.items import PostItem
from crawlers.parsers.common import MalformedPayload, load_json
from crawlers.text import to_utc_naive

_GONE = {"[deleted]", "[removed]", ""}


@dataclass
class ThreadRef:
    """A post whose comments may be fetched."""

    fullname: str  # t3_abc
    id: str  # abc
    num_comments: int
    created_utc: float


@dataclass
class ListingPage:
    items: list[PostItem]
    threads: list[ThreadRef]
    after: str | None = None  # fullname to page on with ?after=
    skipped: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass
class CommentsPage:
    items: list[PostItem]
    post: PostItem | None = None  # the post itself (first listing)
    skipped: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _listing_children(obj: Any) -> list[Any]:
    if not isinstance(obj, dict) or obj.get("kind") != "Listing" or not isinstance(obj.get("data"), dict):
        raise MalformedPayload("unexpected_json", "expected a Reddit Listing")
    children = obj["data"].get("children")
    if not isinstance(children, list):
        raise MalformedPayload("unexpected_json", "Listing without children")
    return children


def _author(name: Any) -> str | None:
    if not name or name in ("[deleted]", "[removed]"):
        return None
    return f"u/{name}"


def post_item(d: dict[str, Any], base_url: str) -> PostItem | None:
    name = d.get("name") or (f"t3_{d['id']}" if d.get("id") else None)
    if not name:
        return None
    selftext = d.get("selftext") or ""
    if selftext in ("[deleted]", "[removed]"):
        selftext = ""
    permalink = d.get("permalink")
    return PostItem(
        external_id=str(name),
        title=d.get("title") or "",
        body=selftext,
        html=False,
        url=urljoin(base_url, permalink) if permalink else d.get("url"),
        published_at=to_utc_naive(d.get("created_utc")),
        author=_author(d.get("author")),
        thread_id=str(name),
        parent_id=None,
        lang=None,
    )


def parse_listing(body: bytes | str, *, base_url: str) -> ListingPage:
    """Posts of a subreddit listing or a search (``/r/x/new.json``, ``/r/x/search.json``)."""
    listing = load_json(body)
    children = _listing_children(listing)
    page = ListingPage(items=[], threads=[], after=listing["data"].get("after") or None)
    for child in children:
        if not isinstance(child, dict) or child.get("kind") != "t3" or not isinstance(child.get("data"), dict):
            page.skipped["not_a_post"] = page.skipped.get("not_a_post", 0) + 1
            continue
        d = child["data"]
        item = post_item(d, base_url)
        if item is None:
            page.problems.append("post_without_id")
            continue
        page.items.append(item)
        page.threads.append(ThreadRef(
            fullname=item.external_id,
            id=str(d.get("id") or item.external_id.removeprefix("t3_")),
            num_comments=int(d.get("num_comments") or 0),
            created_utc=float(d.get("created_utc") or 0.0),
        ))
    return page


def parse_comments(body: bytes | str, *, base_url: str) -> CommentsPage:
    """Every comment of a thread, depth first (``kind: more`` stubs are counted, not followed)."""
    data = load_json(body)
    if not isinstance(data, list) or len(data) < 2:
        raise MalformedPayload("unexpected_json", "expected [post listing, comment listing]")
    page = CommentsPage(items=[])
    posts = _listing_children(data[0])
    if posts and isinstance(posts[0], dict) and isinstance(posts[0].get("data"), dict):
        page.post = post_item(posts[0]["data"], base_url)
    stack = list(reversed(_listing_children(data[1])))
    while stack:
        child = stack.pop()
        if not isinstance(child, dict) or not isinstance(child.get("data"), dict):
            page.problems.append("malformed_comment")
            continue
        kind, d = child.get("kind"), child["data"]
        if kind == "more":
            page.skipped["more_comments"] = page.skipped.get("more_comments", 0) + int(d.get("count") or 0)
            continue
        if kind != "t1":
            continue
        replies = d.get("replies")
        if isinstance(replies, dict):
            try:
                stack.extend(reversed(_listing_children(replies)))
            except MalformedPayload:
                page.problems.append("malformed_replies")
        name = d.get("name") or (f"t1_{d['id']}" if d.get("id") else None)
        text = d.get("body") or ""
        if not name:
            page.problems.append("comment_without_id")
            continue
        if text.strip() in _GONE:
            page.skipped["deleted"] = page.skipped.get("deleted", 0) + 1
            continue
        permalink = d.get("permalink")
        page.items.append(PostItem(
            external_id=str(name),
            body=text,
            html=False,
            url=urljoin(base_url, permalink) if permalink else None,
            published_at=to_utc_naive(d.get("created_utc")),
            author=_author(d.get("author")),
            thread_id=d.get("link_id") or (page.post.external_id if page.post else None),
            parent_id=d.get("parent_id"),
            lang=None,
        ))
    return page
