"""Apple App Store customer reviews: the public JSON feed of one app in one country.

``https://itunes.apple.com/<country>/rss/customerreviews[/page=<n>]/id=<appid>/sortBy=mostRecent/json``
answers ``{"feed": {"entry": [...], "link": [...]}}``; each value is wrapped as
``{"label": ...}``. A review entry has ``id.label``, ``author.name.label``,
``updated.label`` (ISO 8601 with offset), ``im:rating.label`` (1-5), ``im:version.label``,
``title.label`` and ``content.label`` (plain text). Older answers start with an entry
describing the app itself (``im:name``, no rating): skipped. ``entry`` is an object, not
a list, when there is one review, and absent when there are none. Apple serves at most 10
pages of 50 reviews; the pagination links point at the XML variant, so page URLs are
built from the configured URL instead (:func:`page_url`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from crawlers.items import PostItem
from crawlers.parsers.common import MalformedPayload, as_list, label, load_json
from crawlers.text import to_utc_naive

MAX_PAGES = 10
_PAGE = re.compile(r"/page=\d+/", re.IGNORECASE)
_REVIEWS = re.compile(r"/customerreviews/", re.IGNORECASE)


@dataclass
class Review:
    item: PostItem
    rating: int | None
    version: str | None


@dataclass
class ReviewPage:
    reviews: list[Review]
    skipped: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def items(self) -> list[PostItem]:
        return [r.item for r in self.reviews]


def page_url(url: str, page: int) -> str:
    """The configured feed URL for page ``page`` (``.../customerreviews/page=<n>/id=...``)."""
    if _PAGE.search(url):
        return _PAGE.sub(f"/page={page}/", url, count=1)
    if _REVIEWS.search(url):
        return _REVIEWS.sub(f"/customerreviews/page={page}/", url, count=1)
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}page={page}"


def parse_reviews(body: bytes | str) -> ReviewPage:
    data = load_json(body)
    feed = data.get("feed") if isinstance(data, dict) else None
    if not isinstance(feed, dict):
        raise MalformedPayload("unexpected_json", "expected {feed: {...}}")
    page = ReviewPage(reviews=[])
    for e in as_list(feed.get("entry")):
        if not isinstance(e, dict):
            page.problems.append("malformed_entry")
            continue
        if "im:rating" not in e:
            page.skipped["app_entry"] = page.skipped.get("app_entry", 0) + 1
            continue
        review = _review(e)
        if review is None:
            page.problems.append("review_without_id")
        else:
            page.reviews.append(review)
    return page


def _review(e: dict[str, Any]) -> Review | None:
    rid = label(e, "id", "label")
    if not rid:
        return None
    content_type = label(e, "content", "attributes", "type") or "text"
    rating = label(e, "im:rating", "label")
    link = e.get("link")
    href = None
    for lk in as_list(link):
        href = label(lk, "attributes", "href") or href
    item = PostItem(
        external_id=rid,
        title=label(e, "title", "label") or "",
        body=label(e, "content", "label") or "",
        html=content_type == "html",
        url=href,
        published_at=to_utc_naive(label(e, "updated", "label")),
        author=label(e, "author", "name", "label"),
        thread_id=None,
        parent_id=None,
        lang=None,
    )
    return Review(item=item, rating=int(rating) if rating and rating.isdigit() else None,
                  version=label(e, "im:version", "label"))
