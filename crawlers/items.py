"""What a spider yields: one post, comment or review, as the platform gave it.

Parsers fill the raw fields; the pipelines (crawlers/pipelines/) normalise text and
time, filter, pseudonymise and store. Scrapy handles dataclass items natively.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass
class PostItem:
    external_id: str  # the platform's id, unique within the source
    body: str  # the text as delivered: HTML when ``html`` is true, else plain/markdown
    title: str | None = None  # where the platform splits title and body (joined by the pipeline)
    html: bool = True  # body (and title) are HTML fragments
    url: str | None = None  # permalink
    published_at: datetime | None = None  # aware or naive UTC; None: the pipeline uses the fetch time
    author: str | None = None  # raw handle, qualified where handles are per host (user@host)
    thread_id: str | None = None  # id shared by a thread's posts (the root's id where known)
    parent_id: str | None = None  # the post this one answers
    lang: str | None = None  # language the platform declares, if any
    # filled by the pipelines
    text: str = ""  # normalised: title + body, no HTML, entities decoded, whitespace folded
    author_hash: str | None = None  # keyed HMAC-SHA256 of the handle
    content_hash: str = ""  # sha256 of the normalised text
