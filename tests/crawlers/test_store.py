"""Storing posts: new, unchanged, edited, cross-posted; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from crawlers.items import PostItem
from crawlers.store import store_posts
from crawlers.text import content_hash
from storage.db import session_scope
from storage.models import Post, Source

WEEK = 7 * 86400.0
T0 = datetime(2025, 5, 12, 8, 0)


def make_sources(engine: Engine, *names: str) -> list[int]:
    with session_scope(engine) as s:
        rows = [Source(name=n, type="rss", url=f"http://h/{n}") for n in names]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]  # type: ignore[misc]


def it(ext: str, text: str, when: datetime = T0, **kw: Any) -> PostItem:
    return PostItem(external_id=ext, body="", text=text, content_hash=content_hash(text), published_at=when, **kw)


def store(engine: Engine, source_id: int, items: list[PostItem]) -> Any:
    with session_scope(engine) as s:
        return store_posts(s, source_id, items, cross_post_window=WEEK, cross_post_min_chars=20)


def all_posts(engine: Engine) -> list[Post]:
    with Session(engine) as s:
        return list(s.exec(select(Post).order_by(col(Post.id))).all())


TEXT = "Seit heute früh kein Mobilfunk in Hamburg-Ottensen"


def test_new_then_unchanged_then_edited(engine: Engine) -> None:
    (sid,) = make_sources(engine, "a")
    first = store(engine, sid, [it("1", TEXT, thread_id="1", author_hash="h" * 64), it("2", "Zweiter Beitrag zur Störung hier")])
    assert (first.new, first.updated, first.unchanged) == (2, 0, 0)
    again = store(engine, sid, [it("1", TEXT), it("2", "Zweiter Beitrag zur Störung hier")])
    assert (again.new, again.updated, again.unchanged) == (0, 0, 2)
    edited = store(engine, sid, [it("1", TEXT + " (Update: geht wieder)")])
    assert (edited.new, edited.updated) == (0, 1)
    rows = all_posts(engine)
    assert len(rows) == 2
    assert rows[0].text.endswith("(Update: geht wieder)")
    assert rows[0].content_hash == content_hash(rows[0].text)
    assert rows[0].updated_at is not None and rows[1].updated_at is None
    assert rows[0].thread_id == "1" and rows[0].author_hash == "h" * 64


def test_same_post_twice_in_one_batch_is_stored_once(engine: Engine) -> None:
    (sid,) = make_sources(engine, "a")
    got = store(engine, sid, [it("1", TEXT), it("1", TEXT)])
    assert (got.new, got.unchanged) == (1, 1)
    assert len(all_posts(engine)) == 1


def test_cross_post_from_another_source_points_at_the_original(engine: Engine) -> None:
    a, b = make_sources(engine, "a", "b")
    store(engine, a, [it("a1", TEXT)])
    got = store(engine, b, [it("b7", TEXT.upper(), T0 + timedelta(hours=2))])  # case and spacing ignored
    assert (got.new, got.cross_posts) == (1, 1)
    original, copy = all_posts(engine)
    assert copy.duplicate_of == original.id and original.duplicate_of is None


def test_cross_posts_within_one_batch(engine: Engine) -> None:
    (sid,) = make_sources(engine, "a")
    got = store(engine, sid, [it("1", TEXT), it("2", TEXT), it("3", TEXT)])
    assert (got.new, got.cross_posts) == (3, 2)
    first, second, third = all_posts(engine)
    assert second.duplicate_of == first.id and third.duplicate_of == first.id


def test_no_cross_post_outside_the_window_or_for_short_texts(engine: Engine) -> None:
    a, b = make_sources(engine, "a", "b")
    store(engine, a, [it("a1", TEXT), it("a2", "Danke!")])
    got = store(engine, b, [it("b1", TEXT, T0 + timedelta(days=8)), it("b2", "Danke!")])
    assert (got.new, got.cross_posts) == (2, 0)
    assert all(p.duplicate_of is None for p in all_posts(engine))
