"""RSS 0.9x/1.0/2.0 and Atom 1.0 feeds (news, blogs, Khoros board feeds) via feedparser.

feedparser never raises on bad input: a malformed feed still yields entries with
``bozo=1``. So: no entries and ``bozo`` -> MalformedPayload; entries and ``bozo`` ->
entries kept, the problem reported in ``FeedPage.bozo`` (counted, not fatal); no entries
and no feed version -> not a feed at all (an HTML error page, say); a well-formed feed
without entries is an empty page, not an error.
"""

from __future__ import annotations

import hashlib
from calendar import timegm
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import feedparser  # type: ignore[import-untyped]
from feedparser.exceptions import NonXMLContentType  # type: ignore[import-untyped]

from crawlers.items import PostItem
from crawlers.parsers.common import MalformedPayload


@dataclass
class FeedPage:
    items: list[PostItem]
    version: str  # e.g. rss20, atom10
    title: str | None = None
    language: str | None = None
    bozo: str | None = None  # what feedparser disliked, when it still found entries
    problems: list[str] = field(default_factory=list)


def parse_feed(body: bytes, *, url: str = "", content_type: str | None = None) -> FeedPage:
    """Entries of an RSS or Atom document."""
    if not body or not body.strip():
        raise MalformedPayload("empty_body", "the feed was empty")
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    d = feedparser.parse(body, response_headers=headers, sanitize_html=True, resolve_relative_uris=True)
    entries = d.get("entries") or []
    bozo_exc = d.get("bozo_exception") if d.get("bozo") else None
    if isinstance(bozo_exc, NonXMLContentType):
        bozo_exc = None  # served as text/html or without a type: says nothing about the document
    if not entries:
        why = f" ({type(bozo_exc).__name__}: {bozo_exc})" if bozo_exc is not None else ""
        if not d.get("version"):
            raise MalformedPayload("not_a_feed", f"neither RSS nor Atom{why}")
        if bozo_exc is not None:
            raise MalformedPayload("malformed_feed", f"a broken feed without entries{why}")
    feed = d.get("feed") or {}
    language = _lang(feed.get("language"))
    page = FeedPage(items=[], version=d.get("version") or "", title=feed.get("title"), language=language,
                    bozo=f"{type(bozo_exc).__name__}: {bozo_exc}" if bozo_exc is not None and entries else None)
    for entry in entries:
        item = _entry(entry, language)
        if item is None:
            page.problems.append("entry_without_content")
        else:
            page.items.append(item)
    return page


def _entry(e: Any, feed_lang: str | None) -> PostItem | None:
    title = e.get("title") or ""
    body, body_lang = _body(e)
    if not title and not body:
        return None
    link = e.get("link")
    ext = e.get("id") or e.get("guid") or link
    if not ext:
        ext = "sha1:" + hashlib.sha1(f"{title}\n{body}".encode()).hexdigest()
    when = e.get("published_parsed") or e.get("updated_parsed") or e.get("created_parsed")
    published = datetime.fromtimestamp(timegm(when), UTC) if when else None  # feedparser: UTC struct_time
    return PostItem(
        external_id=str(ext),
        title=title,
        body=body,
        html=True,
        url=link,
        published_at=published,
        author=e.get("author") or None,
        thread_id=None,
        parent_id=None,
        lang=body_lang or feed_lang,
    )


def _body(e: Any) -> tuple[str, str | None]:
    """The fullest body the entry has: content:encoded / atom:content, else the summary."""
    best, lang = "", None
    for c in e.get("content") or []:
        value = c.get("value") or ""
        if len(value) > len(best):
            best, lang = value, _lang(c.get("language"))
    summary = e.get("summary") or ""
    if len(summary) > len(best):
        detail = e.get("summary_detail") or {}
        best, lang = summary, _lang(detail.get("language"))
    return best, lang


def _lang(value: Any) -> str | None:
    if not value or not isinstance(value, str):
        return None
    return value.split("-")[0].split("_")[0].strip().lower()[:10] or None
