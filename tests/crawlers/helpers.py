"""Helpers for the live crawler tests: run a crawl, read what it stored."""

from __future__ import annotations

from collections import Counter

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from config import Settings
from crawlers.runner import CrawlSummary, crawl_once
from storage.models import CrawlRun, Post, Source


def crawl(settings: Settings, engine: Engine, names: list[str] | None = None) -> dict[str, CrawlSummary]:
    """crawl_once, summaries by source name."""
    return {s.source: s for s in crawl_once(settings, engine, names)}


def posts(engine: Engine, source: str | None = None) -> list[Post]:
    with Session(engine) as s:
        stmt = select(Post).order_by(col(Post.published_at), col(Post.id))
        if source is not None:
            src = s.exec(select(Source).where(Source.name == source)).one()
            stmt = stmt.where(Post.source_id == src.id)
        return list(s.exec(stmt).all())


def source_row(engine: Engine, name: str) -> Source:
    with Session(engine) as s:
        return s.exec(select(Source).where(Source.name == name)).one()


def runs(engine: Engine, name: str) -> list[CrawlRun]:
    with Session(engine) as s:
        src = s.exec(select(Source).where(Source.name == name)).one()
        return list(s.exec(select(CrawlRun).where(CrawlRun.source_id == src.id).order_by(col(CrawlRun.id))).all())


class Stats:
    """A stand-in for Scrapy's stats collector (the counters pipelines and middlewares bump)."""

    def __init__(self) -> None:
        self.values: Counter[str] = Counter()

    def inc_value(self, key: str, count: int = 1, start: int = 0) -> None:
        self.values[key] += count
