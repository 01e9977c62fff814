"""Reads of the Quellen page: source health and recent crawl errors."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, func, select
from sqlmodel import col

from dashboard.data.core import (
    _rows,
    _since,
    cached,
    settings,
)
from storage.models import (
    CrawlRun,
    Post,
    Source,
    utcnow,
)

# --------------------------------------------------------------------------- Quellen


@cached
def source_health(eng: Engine, hours: int = 24) -> pd.DataFrame:
    """Every source with last crawl, posts per hour and a German status that flags trouble."""
    cfg = settings()
    now = utcnow()
    counts = dict(
        _rows(
            eng,
            select(col(Post.source_id), func.count())
            .where(col(Post.published_at) >= _since(hours))
            .group_by(col(Post.source_id)),
        )
    )
    errors = dict(
        _rows(
            eng,
            select(col(CrawlRun.source_id), func.count())
            .where(col(CrawlRun.started_at) >= _since(hours), col(CrawlRun.status).in_(["failed", "partial"]))
            .group_by(col(CrawlRun.source_id)),
        )
    )
    stmt = select(
        col(Source.id),
        col(Source.name),
        col(Source.type),
        col(Source.url),
        col(Source.enabled),
        col(Source.last_attempt_at),
        col(Source.last_success_at),
        col(Source.last_new_post_at),
        col(Source.consecutive_failures),
        col(Source.created_at),
    ).order_by(col(Source.name))
    out = []
    for r in _rows(eng, stmt):
        failing = r.consecutive_failures >= cfg.crawl.failure_flag_after
        newest = r.last_new_post_at or r.created_at
        silent = r.enabled and (now - newest).total_seconds() > cfg.crawl.silent_after
        if not r.enabled:
            status = "deaktiviert"
        elif failing:
            status = f"fehlerhaft ({r.consecutive_failures}× in Folge)"
        elif silent:
            status = "verstummt"
        else:
            status = "in Ordnung"
        out.append(
            {
                "id": r.id,
                "status": status,
                "name": r.name,
                "type": r.type,
                "url": r.url,
                "last_success_at": r.last_success_at,
                "last_attempt_at": r.last_attempt_at,
                "last_new_post_at": r.last_new_post_at,
                "posts_per_hour": round(counts.get(r.id, 0) / hours, 2),
                "errors_24h": int(errors.get(r.id, 0)),
                "consecutive_failures": r.consecutive_failures,
                "flagged": bool(r.enabled and (failing or silent)),
            }
        )
    return pd.DataFrame(
        out,
        columns=[
            "id",
            "status",
            "name",
            "type",
            "url",
            "last_success_at",
            "last_attempt_at",
            "last_new_post_at",
            "posts_per_hour",
            "errors_24h",
            "consecutive_failures",
            "flagged",
        ],
    )


@cached
def crawl_errors(eng: Engine, limit: int = 50) -> pd.DataFrame:
    """The newest failed or partial crawls with their error."""
    stmt = (
        select(
            col(CrawlRun.started_at),
            col(Source.name),
            col(CrawlRun.status),
            col(CrawlRun.error_count),
            col(CrawlRun.error),
        )
        .join(Source, col(Source.id) == col(CrawlRun.source_id))
        .where(col(CrawlRun.status).in_(["failed", "partial"]))
        .order_by(col(CrawlRun.started_at).desc())
        .limit(limit)
    )
    return pd.DataFrame(
        [tuple(r) for r in _rows(eng, stmt)],
        columns=["started_at", "source", "status", "error_count", "error"],
    )
