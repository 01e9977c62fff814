"""Reads of the Themen page: sources, languages, topics and posts per topic and day."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, Integer, func, select
from sqlmodel import col

from dashboard.data.core import (
    _bucket,
    _rows,
    _since,
    cached,
)
from storage.models import (
    Classification,
    Post,
    Source,
    Topic,
)

# --------------------------------------------------------------------------- Themen (topics)


@cached
def source_names(eng: Engine) -> dict[int, str]:
    return {
        r.id: r.name for r in _rows(eng, select(col(Source.id), col(Source.name)).order_by(col(Source.name)))
    }


@cached
def languages(eng: Engine) -> list[str]:
    stmt = select(col(Classification.lang)).distinct().order_by(col(Classification.lang))
    return [r[0] for r in _rows(eng, stmt) if r[0]]


@cached
def topics(eng: Engine) -> pd.DataFrame:
    """Live topics (not merged away): id, label, keywords."""
    stmt = select(col(Topic.id), col(Topic.label), col(Topic.keywords), col(Topic.size)).where(
        col(Topic.merged_into).is_(None)
    )
    df = pd.DataFrame(
        [dict(r._mapping) for r in _rows(eng, stmt)], columns=["id", "label", "keywords", "size"]
    )
    return df.set_index("id")


@cached
def topic_daily(
    eng: Engine, days: int, source_ids: tuple[int, ...] = (), langs: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Posts per topic and day with sentiment counts (columns: day, topic_id, posts, negativ, neutral, positiv)."""
    day = _bucket(eng, col(Post.published_at), "day").label("day")
    neg = func.sum(func.coalesce((col(Classification.sentiment) == "negative").cast(Integer), 0))
    neu = func.sum(func.coalesce((col(Classification.sentiment) == "neutral").cast(Integer), 0))
    pos = func.sum(func.coalesce((col(Classification.sentiment) == "positive").cast(Integer), 0))
    stmt = (
        select(
            day,
            col(Classification.topic_id),
            func.count().label("posts"),
            neg.label("negativ"),
            neu.label("neutral"),
            pos.label("positiv"),
        )
        .select_from(Post)
        .join(Classification, col(Classification.post_id) == col(Post.id))
        .where(col(Post.published_at) >= _since(days * 24), col(Classification.topic_id).is_not(None))
        .group_by(day, col(Classification.topic_id))
    )
    if source_ids:
        stmt = stmt.where(col(Post.source_id).in_(source_ids))
    if langs:
        stmt = stmt.where(col(Classification.lang).in_(langs))
    cols = ["day", "topic_id", "posts", "negativ", "neutral", "positiv"]
    df = pd.DataFrame([tuple(r) for r in _rows(eng, stmt)], columns=cols)
    df["day"] = pd.to_datetime(df["day"])
    for c in cols[2:]:
        df[c] = df[c].astype("int64")
    return df
