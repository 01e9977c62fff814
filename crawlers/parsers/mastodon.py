"""Mastodon REST API v1: statuses of a hashtag or account timeline, the Link header, lookup.

A timeline answer (``GET /api/v1/timelines/tag/:hashtag``, ``GET
/api/v1/accounts/:id/statuses``) is a JSON array of Status objects, newest first; the
``Link`` header carries ``rel="next"`` (``max_id``: older) and ``rel="prev"``
(``min_id``: newer). Status ids are strings of digits that sort as integers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from crawlers.items import PostItem
from crawlers.parsers.common import MalformedPayload, load_json
from crawlers.text import to_utc_naive

_LINK = re.compile(r'<([^>]*)>\s*((?:;\s*[^;,]+)*)')


@dataclass
class StatusPage:
    items: list[PostItem]
    ids: list[str]  # every status id seen on the page, kept or not (for the since_id cursor)
    next_url: str | None = None  # older statuses (max_id)
    prev_url: str | None = None  # newer statuses (min_id)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count (reblogs, ...)
    problems: list[str] = field(default_factory=list)


def parse_link_header(value: str | None) -> dict[str, str]:
    """``<url>; rel="next", <url>; rel="prev"`` -> {"next": url, "prev": url}."""
    out: dict[str, str] = {}
    if not value:
        return out
    for m in _LINK.finditer(value):
        url, params = m.group(1), m.group(2)
        rel = re.search(r'rel\s*=\s*"?([^";,]+)"?', params)
        if rel:
            for name in rel.group(1).split():
                out.setdefault(name.lower(), url)
    return out


def id_key(status_id: str) -> tuple[int, str]:
    """Sort key for Mastodon ids (digit strings compare as integers)."""
    return (len(status_id), status_id)


def newest_id(ids: list[str], current: str | None = None) -> str | None:
    candidates = [i for i in ids if i] + ([current] if current else [])
    return max(candidates, key=id_key) if candidates else None


def parse_statuses(body: bytes | str, *, host: str, link_header: str | None = None,
                   include_reblogs: bool = False) -> StatusPage:
    """Statuses of one timeline page; ``host`` qualifies local handles (``user`` -> ``user@host``)."""
    data = load_json(body)
    if isinstance(data, dict) and "error" in data:
        raise MalformedPayload("api_error", str(data.get("error"))[:200])
    if not isinstance(data, list):
        raise MalformedPayload("unexpected_json", f"expected a list of statuses, got {type(data).__name__}")
    links = parse_link_header(link_header)
    page = StatusPage(items=[], ids=[], next_url=links.get("next"), prev_url=links.get("prev"))
    for raw in data:
        if not isinstance(raw, dict) or not raw.get("id"):
            page.problems.append("status_without_id")
            continue
        page.ids.append(str(raw["id"]))
        status = raw
        if raw.get("reblog"):
            if not include_reblogs or not isinstance(raw["reblog"], dict):
                page.skipped["reblog"] = page.skipped.get("reblog", 0) + 1
                continue
            status = raw["reblog"]
        item = status_to_item(status, host=host)
        if item is None:
            page.problems.append("status_without_id")
        else:
            page.items.append(item)
    return page


def status_to_item(status: dict[str, Any], *, host: str) -> PostItem | None:
    sid = status.get("id")
    if not sid:
        return None
    raw_account = status.get("account")
    account: dict[str, Any] = raw_account if isinstance(raw_account, dict) else {}
    acct = account.get("acct") or account.get("username")
    if acct and "@" not in acct:
        acct = f"{acct}@{host}"
    reply_to = status.get("in_reply_to_id")
    return PostItem(
        external_id=str(sid),
        title=status.get("spoiler_text") or None,  # the content warning, shown before the text
        body=status.get("content") or "",
        html=True,
        url=status.get("url") or status.get("uri"),
        published_at=to_utc_naive(status.get("created_at")),
        author=acct,
        # the root of a conversation is unknown without /context: the nearest known ancestor
        thread_id=str(reply_to) if reply_to else str(sid),
        parent_id=str(reply_to) if reply_to else None,
        lang=(status.get("language") or None),
    )


def parse_account(body: bytes | str) -> str:
    """The id from ``GET /api/v1/accounts/lookup?acct=...`` (an Account object)."""
    data = load_json(body)
    if not isinstance(data, dict) or not data.get("id"):
        raise MalformedPayload("unexpected_json", "expected an Account object with an id")
    return str(data["id"])
