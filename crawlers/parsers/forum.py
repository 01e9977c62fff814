"""Generic forum threads (phpBB, vBulletin, Khoros HTML, ...) read with per-site selectors.

A source configures, under ``selectors``, where things are on its pages. A selector is
XPath when it starts with ``/``, ``./``, ``(`` or ``@``, else CSS (with Scrapy's ``::text``
and ``::attr(name)``). Fields of a post are looked up inside the post's element:

- ``post`` (required): each post's element on a thread page
- ``body`` (required): the post's text (HTML; quotes and signatures may be excluded by
  pointing at the right element)
- ``id`` (default ``@id``): a stable id of the post (phpBB ``p12345``, vBulletin ``post_678``)
- ``author``, ``date`` (a ``<time>`` element's ``datetime`` is used when the selector
  points at the element), page-level ``title`` (joined with the thread's first post)
- ``next_page``: link to the thread's next page; ``thread_links``: on a board page,
  links to threads (then the source URL is the board, not a thread)

Dates: ISO 8601, German forms (``12.05.2025, 14:03``, ``Mo 12. Mai 2025, 14:03``,
``Heute, 14:03``, ``Gestern um 09:12``) or ``date_format`` (strptime); without an offset
they are local time in ``timezone`` (default Europe/Berlin).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from parsel import Selector, SelectorList

from crawlers.items import PostItem
from crawlers.parsers.common import MalformedPayload
from crawlers.text import html_to_text

_XPATH_START = ("/", "./", "(", "@")
_MONTHS = {
    "jan": 1, "januar": 1, "jänner": 1, "feb": 2, "februar": 2, "mär": 3, "märz": 3, "mrz": 3, "maerz": 3,
    "apr": 4, "april": 4, "mai": 5, "may": 5, "jun": 6, "juni": 6, "jul": 7, "juli": 7, "aug": 8,
    "august": 8, "sep": 9, "sept": 9, "september": 9, "okt": 10, "oktober": 10, "oct": 10, "nov": 11,
    "november": 11, "dez": 12, "dezember": 12, "dec": 12, "march": 3, "june": 6, "july": 7,
    "october": 10, "december": 12, "january": 1, "february": 2,
}
_NUMERIC = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{2,4})(?:\D+(\d{1,2}):(\d{2}))?")
_WORDY = re.compile(r"(\d{1,2})\.?\s+([A-Za-zäÄöÖüÜ]+)\.?\s+(\d{4})(?:\D+(\d{1,2}):(\d{2}))?")
_RELATIVE = re.compile(r"(heute|gestern|today|yesterday)\D*(\d{1,2}):(\d{2})", re.IGNORECASE)


@dataclass
class ForumSelectors:
    post: str
    body: str
    id: str = "@id"
    author: str | None = None
    date: str | None = None
    title: str | None = None
    next_page: str | None = None
    thread_links: str | None = None

    @classmethod
    def from_options(cls, raw: Any) -> ForumSelectors:
        if not isinstance(raw, dict):
            raise ValueError("forum sources need 'selectors:' with at least 'post' and 'body'")
        unknown = set(raw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown selector(s) {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        missing = [k for k in ("post", "body") if not raw.get(k)]
        if missing:
            raise ValueError(f"forum selectors {missing} are required")
        return cls(**{k: str(v) for k, v in raw.items() if v})


@dataclass
class ThreadPage:
    items: list[PostItem]
    title: str | None = None
    next_url: str | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class BoardPage:
    thread_urls: list[str]
    next_url: str | None = None


def select(sel: Selector | SelectorList[Selector], expr: str) -> SelectorList[Selector]:
    """XPath or CSS, by the expression's first characters."""
    return sel.xpath(expr) if expr.startswith(_XPATH_START) else sel.css(expr)


def _first_text(sel: Selector, expr: str | None, *, prefer_attr: str | None = None) -> str | None:
    if not expr:
        return None
    found = select(sel, expr)
    if not found:
        return None
    node = found[0]
    if prefer_attr and node.attrib.get(prefer_attr):
        return str(node.attrib[prefer_attr])
    value = node.get()
    return html_to_text(value) or None


def parse_thread(html: str, *, url: str, selectors: ForumSelectors, tz: str = "Europe/Berlin",
                 date_format: str | None = None, thread_id: str | None = None,
                 root_id: str | None = None, now: datetime | None = None) -> ThreadPage:
    """Posts on one thread page. ``thread_id``/``root_id`` carry over from the thread's first page."""
    if not html or not html.strip():
        raise MalformedPayload("empty_body", "the page was empty")
    sel = Selector(text=html)
    posts = select(sel, selectors.post)
    page = ThreadPage(items=[])
    page.title = _first_text(sel, selectors.title)
    nxt = select(sel, selectors.next_page).get() if selectors.next_page else None
    page.next_url = urljoin(url, nxt.strip()) if nxt and nxt.strip() else None
    if not posts:
        raise MalformedPayload("no_posts_found", f"selector {selectors.post!r} matched nothing")
    first_page = root_id is None
    tid = thread_id or url.split("#", 1)[0]
    for post in posts:
        pid = _first_text(post, selectors.id)
        if not pid:
            page.problems.append("post_without_id")
            continue
        body = "".join(select(post, selectors.body).getall())
        author = _first_text(post, selectors.author)
        raw_date = _first_text(post, selectors.date, prefer_attr="datetime")
        is_root = first_page and root_id is None
        if is_root:
            root_id = pid
        page.items.append(PostItem(
            external_id=pid,
            title=page.title if is_root else None,
            body=body,
            html=True,
            url=f"{url.split('#', 1)[0]}#{pid}",
            published_at=parse_forum_date(raw_date, tz=tz, date_format=date_format, now=now) if raw_date else None,
            author=author,
            thread_id=tid,
            parent_id=None if pid == root_id else root_id,
            lang=None,
        ))
    return page


def parse_board(html: str, *, url: str, selectors: ForumSelectors) -> BoardPage:
    """Thread links on a board (forum index) page."""
    if not selectors.thread_links:
        raise ValueError("parse_board needs selectors.thread_links")
    if not html or not html.strip():
        raise MalformedPayload("empty_body", "the page was empty")
    sel = Selector(text=html)
    links = [urljoin(url, h.strip()) for h in select(sel, selectors.thread_links).getall() if h and h.strip()]
    if not links:
        raise MalformedPayload("no_threads_found", f"selector {selectors.thread_links!r} matched nothing")
    nxt = select(sel, selectors.next_page).get() if selectors.next_page else None
    return BoardPage(thread_urls=list(dict.fromkeys(links)), next_url=urljoin(url, nxt.strip()) if nxt else None)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r}; expected an IANA name such as Europe/Berlin") from None


def parse_forum_date(text: str, *, tz: str = "Europe/Berlin", date_format: str | None = None,
                     now: datetime | None = None) -> datetime | None:
    """A forum's date text as naive UTC; None when it cannot be read."""
    local = zone(tz)
    s = text.strip()
    dt = _try_iso(s)
    if dt is None:
        dt = _try_german(s, local, now)
    if dt is None and date_format:
        try:
            dt = datetime.strptime(s, date_format)
        except ValueError:
            dt = None
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=local)
    return dt.astimezone(UTC).replace(tzinfo=None)


def _try_iso(s: str) -> datetime | None:
    iso = s[:-1] + "+00:00" if s.endswith(("Z", "z")) else s
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        return None


def _try_german(s: str, local: ZoneInfo, now: datetime | None) -> datetime | None:
    m = _RELATIVE.search(s)
    if m:
        today = (now or datetime.now(UTC)).astimezone(local).date()
        day = today - timedelta(days=1) if m.group(1).lower() in ("gestern", "yesterday") else today
        return datetime(day.year, day.month, day.day, int(m.group(2)), int(m.group(3)))
    m = _NUMERIC.search(s)
    if m:
        d, mo, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        return _build(y + 2000 if y < 100 else y, mo, d, m.group(4), m.group(5))
    m = _WORDY.search(s)
    if m and m.group(2).lower() in _MONTHS:
        return _build(int(m.group(3)), _MONTHS[m.group(2).lower()], int(m.group(1)), m.group(4), m.group(5))
    return None


def _build(y: int, mo: int, d: int, hh: str | None, mm: str | None) -> datetime | None:
    try:
        return datetime(y, mo, d, int(hh or 0), int(mm or 0))
    except ValueError:
        return None
