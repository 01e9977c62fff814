"""``posts export``: one JSON object a line with the fields other tools read."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from crawlers.export import export_posts
from storage.db import session_scope
from storage.models import Post, Source


def test_export_posts_jsonl(engine: Engine, tmp_path: Path) -> None:
    with session_scope(engine) as s:
        a, b = Source(name="a", type="rss", url="http://h/a"), Source(name="b", type="mastodon", url="http://h/b")
        s.add_all([a, b])
        s.flush()
        s.add(Post(source_id=b.id, external_id="2", text="Später", published_at=datetime(2025, 5, 12, 9, 0),  # type: ignore[arg-type]
                   content_hash="h2", lang="de", thread_id="1", parent_id="1", author_hash="x" * 64))
        s.add(Post(source_id=a.id, external_id="1", url="http://h/1", title="Störung", text="Störung\n\nKein Netz",  # type: ignore[arg-type]
                   published_at=datetime(2025, 5, 12, 8, 0), content_hash="h1", lang="de", thread_id="1"))
    out = tmp_path / "sub" / "posts.jsonl"
    assert export_posts(engine, out) == 2
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["source"] for r in rows] == ["a", "b"]  # oldest first
    first = rows[0]
    assert {"id", "source", "url", "text", "published_at", "lang", "thread_id"} <= set(first)
    assert first["text"] == "Störung\n\nKein Netz" and first["published_at"] == "2025-05-12T08:00:00Z"
    assert rows[1]["author"] == "x" * 64 and rows[1]["parent_id"] == "1"
    assert export_posts(engine, out, sources=["b"]) == 1
    assert not (tmp_path / "sub" / "posts.jsonl.part").exists()
