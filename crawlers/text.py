"""Text and time normalisation shared by parsers and pipelines (pure functions).

- :func:`html_to_text`: tags stripped (script/style dropped, block elements become
  spaces), entities decoded *after* stripping (feeds carry ``&amp;uuml;``-style double
  escapes that survive one round of parsing), whitespace folded.
- :func:`plain_text`: the same for text that is not HTML (Reddit markdown, app reviews):
  entities decoded and whitespace folded, nothing parsed as a tag (``a<b`` stays).
- :func:`to_utc_naive`: any datetime, ISO 8601 string, RFC 822 date or epoch -> naive UTC.
- :func:`content_hash`: sha256 of the case-folded normalised text (catches cross-posts).
"""

from __future__ import annotations

import hashlib
import html
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import lxml.etree  # type: ignore[import-untyped]
import lxml.html  # type: ignore[import-untyped]

_WS = re.compile(r"\s+")
_BLOCK = {
    "p", "div", "br", "li", "ul", "ol", "blockquote", "pre", "h1", "h2", "h3", "h4", "h5", "h6",
    "tr", "td", "th", "table", "section", "article", "header", "footer", "aside", "dd", "dt", "hr",
}
_DROP = {"script", "style", "noscript", "template", "iframe", "object", "svg", "head", "title"}
_TAGLIKE = re.compile(r"<[A-Za-z!/?]")


def fold_ws(text: str) -> str:
    """Every run of whitespace (newlines, tabs, NBSP) becomes one space; ends trimmed."""
    return _WS.sub(" ", text.replace("\u00a0", " ").replace("\u200b", "")).strip()


def plain_text(text: str | None) -> str:
    """Text that is not HTML: entities decoded, whitespace folded."""
    if not text:
        return ""
    return fold_ws(html.unescape(text))


def html_to_text(markup: str | None) -> str:
    """Visible text of an HTML fragment: tags stripped, then entities decoded, whitespace folded."""
    if not markup:
        return ""
    if not _TAGLIKE.search(markup):
        return plain_text(markup)
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return plain_text(re.sub(r"<[^>]*>", " ", markup))
    parts: list[str] = []
    _collect(root, parts)
    return fold_ws(html.unescape("".join(parts)))


def _collect(el: Any, out: list[str]) -> None:
    tag = el.tag if isinstance(el.tag, str) else ""
    if tag.lower() in _DROP:
        if el.tail:
            out.append(el.tail)
        return
    block = tag.lower() in _BLOCK
    if block:
        out.append(" ")
    if isinstance(el.tag, str) and el.text:
        out.append(el.text)
    for child in el:
        _collect(child, out)
    if block:
        out.append(" ")
    if el.tail:
        out.append(el.tail)


def join_title_body(title: str, body: str) -> str:
    """One text from a platform's separate title and body (body alone if it repeats the title)."""
    if not title:
        return body
    if not body or body.casefold().startswith(title.casefold()):
        return body or title
    return f"{title}\n\n{body}"


def content_hash(text: str) -> str:
    """sha256 hex of the case-folded, whitespace-folded text."""
    return hashlib.sha256(fold_ws(text).casefold().encode("utf-8")).hexdigest()


def to_utc_naive(value: Any) -> datetime | None:
    """Naive UTC datetime from a datetime, ISO 8601 / RFC 822 string or epoch seconds.

    A naive input datetime is taken as UTC already. Returns None when nothing parses.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            dt = datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            return None
    elif isinstance(value, str):
        dt_or_none = _parse_date_string(value.strip())
        if dt_or_none is None:
            return None
        dt = dt_or_none
    else:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def _parse_date_string(s: str) -> datetime | None:
    if re.fullmatch(r"\d{9,11}(\.\d+)?", s):
        return datetime.fromtimestamp(float(s), UTC)
    iso = s[:-1] + "+00:00" if s.endswith(("Z", "z")) else s
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(s)
    except (TypeError, ValueError, IndexError):
        return None
