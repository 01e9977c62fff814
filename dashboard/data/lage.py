"""Reads of the Lage page: open issues, hourly volume and sentiment, sample posts, notices."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select
from sqlmodel import col

from dashboard.data.core import (
    SENTIMENTS_DE,
    _bucket,
    _rows,
    _since,
    cached,
)
from storage.models import (
    Classification,
    Issue,
    IssuePost,
    Notice,
    Post,
    Silence,
    Source,
    utcnow,
)

# --------------------------------------------------------------------------- Lage (triage)


@cached
def open_issues(eng: Engine) -> list[dict[str, Any]]:
    """Open and acknowledged issues, highest severity first, with their active silence."""
    now = utcnow()
    cols = [
        col(Issue.id),
        col(Issue.topic_id),
        col(Issue.status),
        col(Issue.title),
        col(Issue.keywords),
        col(Issue.severity),
        col(Issue.reasons),
        col(Issue.post_count),
        col(Issue.negative_share),
        col(Issue.source_count),
        col(Issue.author_count),
        col(Issue.first_post_at),
        col(Issue.first_detected_at),
        col(Issue.last_seen_at),
        col(Issue.acknowledged_by),
        col(Issue.reopened_count),
    ]
    stmt = (
        select(*cols)
        .where(col(Issue.status).in_(["open", "acknowledged"]))
        .order_by(col(Issue.severity).desc(), col(Issue.id))
    )
    issues = [dict(r._mapping) for r in _rows(eng, stmt)]
    if not issues:
        return []
    silences = _rows(
        eng,
        select(col(Silence.issue_id), col(Silence.topic_id), col(Silence.ends_at)).where(
            col(Silence.ends_at) > now, col(Silence.starts_at) <= now
        ),
    )
    for issue in issues:
        ends = [
            s.ends_at
            for s in silences
            if s.issue_id == issue["id"] or (s.topic_id is not None and s.topic_id == issue["topic_id"])
        ]
        issue["silenced_until"] = max(ends) if ends else None
    return issues


@cached
def volume_by_hour(eng: Engine, hours: int = 24) -> pd.DataFrame:
    """Posts per hour and sentiment over the last ``hours`` (index: hour; columns: German labels)."""
    return _pivot_hours(_rows(eng, _hourly(eng, hours)), hours)


def _hourly(eng: Engine, hours: int, issue_id: int | None = None) -> Any:
    """SELECT hour, sentiment, count over the window's posts (of one issue if given).

    The sentiment is a correlated lookup by primary key rather than a join: a join lets
    PostgreSQL hash the whole classification table (0.66 s at 1M posts, growing with it);
    the lookup costs the same per post on every size (0.13 s for a day of 10,000 posts).
    """
    sentiment = (
        select(col(Classification.sentiment))
        .where(col(Classification.post_id) == col(Post.id))
        .scalar_subquery()
    )
    per_post = select(_bucket(eng, col(Post.published_at), "hour").label("stunde"), sentiment.label("sentiment"))
    if issue_id is None:
        per_post = per_post.select_from(Post)
    else:
        per_post = per_post.select_from(IssuePost).join(Post, col(Post.id) == col(IssuePost.post_id))
        per_post = per_post.where(col(IssuePost.issue_id) == issue_id)
    inner = per_post.where(col(Post.published_at) >= _since(hours)).subquery()
    return select(inner.c.stunde, inner.c.sentiment, func.count()).group_by(inner.c.stunde, inner.c.sentiment)


def _pivot_hours(rows: list[Any], hours: int) -> pd.DataFrame:
    cols = ["negativ", "neutral", "positiv", "ohne"]
    end = utcnow().replace(minute=0, second=0, microsecond=0)
    index = pd.date_range(end=end, periods=hours, freq="h", name="Stunde (UTC)")
    slot = {ts.strftime("%Y-%m-%d %H"): i for i, ts in enumerate(index)}
    counts = [[0] * len(cols) for _ in range(hours)]
    for stunde, sentiment, n in rows:
        i = slot.get(stunde)
        if i is not None:
            counts[i][cols.index(SENTIMENTS_DE.get(sentiment, "ohne"))] += int(n)
    return pd.DataFrame(counts, index=index, columns=cols)


@cached
def posts_in_window(eng: Engine, hours: int = 1) -> int:
    stmt = select(func.count()).select_from(Post).where(col(Post.published_at) >= _since(hours))
    return int(_rows(eng, stmt)[0][0])


@cached
def issue_volume(eng: Engine, issue_id: int, hours: int = 24) -> pd.DataFrame:
    """An issue's posts per hour and sentiment over the last ``hours``."""
    return _pivot_hours(_rows(eng, _hourly(eng, hours, issue_id)), hours)


@cached
def sample_posts(eng: Engine, issue_id: int, limit: int = 5) -> list[dict[str, Any]]:
    """The newest posts of an issue: text, source, time, link, sentiment."""
    stmt: Any = (
        select(
            col(Post.id),
            col(Post.text),
            col(Post.url),
            col(Post.published_at),
            col(Post.lang),
            col(Source.name).label("source"),
            col(Classification.sentiment),
        )
        .select_from(IssuePost)
        .join(Post, col(Post.id) == col(IssuePost.post_id))
        .join(Source, col(Source.id) == col(Post.source_id))
        .join(Classification, col(Classification.post_id) == col(Post.id), isouter=True)
        .where(col(IssuePost.issue_id) == issue_id)
        # the tie-break on issuepost keeps PostgreSQL from walking ix_post_published backwards through
        # the whole table hunting for the issue's posts (11 s at 1M posts); it sorts the issue's posts instead
        .order_by(col(Post.published_at).desc(), col(IssuePost.post_id).desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in _rows(eng, stmt)]


@cached
def notices_for_issue(eng: Engine, issue_id: int) -> list[dict[str, Any]]:
    """An issue's customer notices, newest first."""
    stmt = (
        select(
            col(Notice.id),
            col(Notice.kind),
            col(Notice.status),
            col(Notice.subject),
            col(Notice.body),
            col(Notice.created_at),
            col(Notice.approved_at),
            col(Notice.approved_by),
            col(Notice.rejected_at),
            col(Notice.edited),
        )
        .where(col(Notice.issue_id) == issue_id)
        .order_by(col(Notice.id).desc())
    )
    return [dict(r._mapping) for r in _rows(eng, stmt)]
