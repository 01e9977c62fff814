"""Write normalised posts: insert new ones, update edited ones, never store one twice.

- A post is identified by (source, external id) (``uq_post_source_external``): seen again
  with the same content hash -> unchanged (skipped); with a different hash -> an edit:
  text, title and hash are replaced, ``updated_at`` is set, counted as updated.
- A new post whose content hash matches an earlier post (any source, another external
  id) published within ``crawl.cross_post_window`` is a cross-post: it is stored, with
  ``duplicate_of`` pointing at the earliest such post, so each source keeps its full
  record while later stages can count the text once (``duplicate_of IS NULL``). Texts
  shorter than ``crawl.cross_post_min_chars`` are never matched ("Danke!").
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from crawlers.items import PostItem
from storage.models import Post, utcnow


@dataclass
class StoreCounts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    cross_posts: int = 0

    def __iadd__(self, other: StoreCounts) -> StoreCounts:
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.cross_posts += other.cross_posts
        return self


def store_posts(session: Session, source_id: int, items: list[PostItem], *, cross_post_window: float,
                cross_post_min_chars: int, now: datetime | None = None) -> StoreCounts:
    """Insert or update ``items`` (normalised, pseudonymised) in the caller's transaction."""
    now = now or utcnow()
    counts = StoreCounts()
    batch: dict[str, PostItem] = {}
    for it in items:
        if it.external_id in batch:
            counts.unchanged += 1  # the same post twice in one batch (listing and thread page)
        batch[it.external_id] = it
    if not batch:
        return counts
    existing = {p.external_id: p for p in session.exec(
        select(Post).where(Post.source_id == source_id, col(Post.external_id).in_(list(batch)))).all()}

    fresh = [it for ext, it in batch.items() if ext not in existing]
    eligible = {it.content_hash for it in fresh if len(it.text) >= cross_post_min_chars}
    originals: dict[str, list[tuple[int, datetime]]] = {}
    if eligible:
        found = session.exec(select(Post.id, Post.content_hash, Post.published_at).where(
            col(Post.content_hash).in_(sorted(eligible)), col(Post.duplicate_of).is_(None))
            .order_by(col(Post.id))).all()
        for pid, h, published in found:
            if pid is not None:
                originals.setdefault(h, []).append((pid, published))
    repeated = {h for h, n in Counter(it.content_hash for it in fresh).items() if n > 1 and h in eligible}
    window = timedelta(seconds=cross_post_window)

    rows: list[dict[str, Any]] = []
    for ext, it in batch.items():
        row = existing.get(ext)
        if row is not None:
            if row.content_hash == it.content_hash:
                counts.unchanged += 1
                continue
            row.text, row.title, row.content_hash = it.text, it.title, it.content_hash
            row.url = it.url or row.url
            row.updated_at = now
            session.add(row)
            counts.updated += 1
            continue
        published = it.published_at or now
        dup_of = None
        if it.content_hash in eligible:
            dup_of = next((pid for pid, when in originals.get(it.content_hash, [])
                           if abs(when - published) <= window), None)
        values = {
            "source_id": source_id, "external_id": ext, "url": it.url, "title": it.title, "text": it.text,
            "author_hash": it.author_hash, "author_raw": it.author, "published_at": published, "fetched_at": now,
            "updated_at": None, "lang": it.lang, "thread_id": it.thread_id, "parent_id": it.parent_id,
            "content_hash": it.content_hash, "duplicate_of": dup_of, "label": None,
        }
        counts.new += 1
        if dup_of is not None:
            counts.cross_posts += 1
            rows.append(values)
        elif it.content_hash in repeated:
            # a later item of this batch has the same text: it needs this row's id now
            new_id = session.execute(insert(Post).values(**values).returning(col(Post.id))).scalar_one()
            originals.setdefault(it.content_hash, []).append((int(new_id), published))
        else:
            rows.append(values)
    if rows:
        session.execute(insert(Post), rows)  # one executemany: no ORM objects for new posts
    return counts
