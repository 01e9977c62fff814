"""Export stored posts as JSON Lines (``fruehwarn posts export OUT.jsonl``).

One object a line, oldest first: ``id``, ``source`` (name), ``url``, ``text``,
``published_at`` (ISO 8601 UTC, ``Z``), ``lang``, ``thread_id``, ``parent_id``,
``external_id``, ``title``, ``author`` (the keyed hash, never the raw handle),
``duplicate_of``, ``updated_at``, ``label``. The same shape ``fruehwarn replay`` reads.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from storage.models import Post, Source


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat(timespec="seconds") + "Z" if dt is not None else None


def post_record(post: Post, source_name: str) -> dict[str, Any]:
    return {
        "id": post.id,
        "source": source_name,
        "url": post.url,
        "text": post.text,
        "published_at": _iso(post.published_at),
        "lang": post.lang,
        "thread_id": post.thread_id,
        "parent_id": post.parent_id,
        "external_id": post.external_id,
        "title": post.title,
        "author": post.author_hash,
        "duplicate_of": post.duplicate_of,
        "updated_at": _iso(post.updated_at),
        "label": post.label,
    }


def export_posts(engine: Engine, out_path: str | Path, *, sources: list[str] | None = None) -> int:
    """Write every stored post (or those of ``sources``) to ``out_path``; return the count.

    Streams in batches, writes to a temporary file first and renames it, so a failed
    export never leaves a half-written file under the final name.
    """
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    n = 0
    with Session(engine) as s, tmp.open("w", encoding="utf-8") as fh:
        names = {src.id: src.name for src in s.exec(select(Source))}
        stmt = select(Post).order_by(col(Post.published_at), col(Post.id))
        if sources is not None:
            ids = [i for i, name in names.items() if name in set(sources)]
            stmt = stmt.where(col(Post.source_id).in_(ids))
        for post in s.exec(stmt.execution_options(yield_per=1000)):
            fh.write(json.dumps(post_record(post, names.get(post.source_id, "?")), ensure_ascii=False))
            fh.write("\n")
            n += 1
    os.replace(tmp, out)
    return n
