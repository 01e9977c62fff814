"""Every read of the dashboard: settings, the engine and cached, SQL-aggregated queries.

Pages only lay out what these functions return; writes live in ``dashboard/actions.py``.
The engine is an ``st.cache_resource`` (one per database URL); every query is an
``st.cache_data`` with the TTL of ``dashboard.cache_ttl`` whose key holds the database URL,
so two databases never share an entry. Aggregation happens in SQL on indexed columns
(``post.published_at``, ``issue_post``, ``delivery``); only small results reach pandas.
Times are naive UTC in the database and shown as UTC.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pandas as pd
import streamlit as st
from sqlalchemy import Engine, Integer, func, literal_column, select
from sqlalchemy.sql.elements import ColumnElement

from config import Settings, load_settings
from storage.db import make_engine, upgrade
from storage.models import (
    Alert,
    AuditLog,
    Classification,
    CrawlRun,
    Delivery,
    Issue,
    IssuePost,
    Notice,
    Post,
    Silence,
    Source,
    Topic,
    User,
    utcnow,
)

R = TypeVar("R")

SENTIMENTS_DE = {"negative": "negativ", "neutral": "neutral", "positive": "positiv", None: "ohne"}
KIND_DE = {"incident": "Störung", "update": "Neuigkeit", "resolved": "behoben", "new": "neu",
           "escalation": "Eskalation"}
ALERT_DE = {"pending": "wartet", "sent": "gesendet", "acknowledged": "bestätigt", "silenced": "stumm"}
NOTICE_DE = {"draft": "Entwurf", "approved": "freigegeben", "rejected": "abgelehnt", "queued": "im Versand",
             "done": "versendet"}
DELIVERY_DE = {
    "pending": "wartet", "sending": "wird gesendet", "sent": "gesendet", "failed": "Fehler (Wiederholung)",
    "dead": "unzustellbar", "skipped": "übersprungen",
}


# --------------------------------------------------------------------------- settings and engine


def _env_key() -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("FRUEHWARN_")))


@st.cache_resource(show_spinner=False)
def _settings_for(env: tuple[tuple[str, str], ...]) -> Settings:  # env: the cache key
    return load_settings()


def settings() -> Settings:
    """The settings in force (from FRUEHWARN_CONFIG / FRUEHWARN_* env); raises ConfigError."""
    return _settings_for(_env_key())


@st.cache_resource(show_spinner=False)
def engine_for(url: str) -> Engine:
    """One engine per database URL, migrated to the newest schema."""
    eng = make_engine(url)
    upgrade(eng)
    return eng


def engine() -> Engine:
    return engine_for(settings().db_url)


def cached(fn: Callable[..., R]) -> Callable[..., R]:
    """Wrap a query ``fn(engine, ...)`` in st.cache_data with the configured TTL.

    The wrapper is called without the engine; the cache key holds the database URL.
    """
    by_ttl: dict[int, Callable[..., R]] = {}

    def inner(url: str, *args: Any, **kwargs: Any) -> R:
        return fn(engine_for(url), *args, **kwargs)

    inner.__name__ = inner.__qualname__ = fn.__name__
    inner.__module__ = fn.__module__

    def call(*args: Any, **kwargs: Any) -> R:
        cfg = settings()
        ttl = cfg.dashboard.cache_ttl
        wrapped = by_ttl.get(ttl)
        if wrapped is None:
            wrapped = by_ttl[ttl] = st.cache_data(ttl=ttl, show_spinner=False, max_entries=512)(inner)
        return wrapped(cfg.db_url, *args, **kwargs)

    call.__name__ = fn.__name__
    call.__doc__ = fn.__doc__
    call.uncached = fn  # type: ignore[attr-defined]  # the bare query, for benchmarks and tests
    return call


def clear_cache() -> None:
    """Forget every cached read (after a write)."""
    st.cache_data.clear()


# --------------------------------------------------------------------------- SQL helpers


def _bucket(eng: Engine, col: Any, unit: str) -> ColumnElement[str]:
    """``col`` truncated to the hour or day, as text 'YYYY-MM-DD HH' / 'YYYY-MM-DD'."""
    if eng.dialect.name == "sqlite":
        return func.substr(col, 1, 13 if unit == "hour" else 10)
    fmt = "YYYY-MM-DD HH24" if unit == "hour" else "YYYY-MM-DD"
    return func.to_char(func.date_trunc(unit, col), literal_column(f"'{fmt}'"))


def _rows(eng: Engine, stmt: Any) -> list[Any]:
    with eng.connect() as conn:
        return list(conn.execute(stmt).all())


def _since(hours: float) -> datetime:
    return utcnow() - timedelta(hours=hours)


def mask_address(address: str) -> str:
    """An address with its middle hidden: customers' contact data stays private on screen."""
    if "@" in address and "://" not in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    if "://" in address:
        scheme, _, rest = address.partition("://")
        return f"{scheme}://{rest[:6]}***"
    return f"{address[:3]}***{address[-2:]}" if len(address) > 6 else "***"


# --------------------------------------------------------------------------- Lage (triage)


@cached
def open_issues(eng: Engine) -> list[dict[str, Any]]:
    """Open and acknowledged issues, highest severity first, with their active silence."""
    now = utcnow()
    cols = [Issue.id, Issue.topic_id, Issue.status, Issue.title, Issue.keywords, Issue.severity, Issue.reasons,
            Issue.post_count, Issue.negative_share, Issue.source_count, Issue.author_count, Issue.first_post_at,
            Issue.first_detected_at, Issue.last_seen_at, Issue.acknowledged_by, Issue.reopened_count]
    stmt = (select(*cols).where(Issue.status.in_(["open", "acknowledged"]))
            .order_by(Issue.severity.desc(), Issue.id))
    issues = [dict(r._mapping) for r in _rows(eng, stmt)]
    if not issues:
        return []
    silences = _rows(eng, select(Silence.issue_id, Silence.topic_id, Silence.ends_at)
                     .where(Silence.ends_at > now, Silence.starts_at <= now))
    for issue in issues:
        ends = [s.ends_at for s in silences if s.issue_id == issue["id"] or
                (s.topic_id is not None and s.topic_id == issue["topic_id"])]
        issue["silenced_until"] = max(ends) if ends else None
    return issues


@cached
def volume_by_hour(eng: Engine, hours: int = 24) -> pd.DataFrame:
    """Posts per hour and sentiment over the last ``hours`` (index: hour; columns: German labels)."""
    bucket = _bucket(eng, Post.published_at, "hour").label("stunde")
    stmt = (select(bucket, Classification.sentiment, func.count().label("n"))
            .select_from(Post).join(Classification, Classification.post_id == Post.id, isouter=True)
            .where(Post.published_at >= _since(hours)).group_by(bucket, Classification.sentiment))
    return _pivot_hours(_rows(eng, stmt), hours)


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
    stmt = select(func.count()).select_from(Post).where(Post.published_at >= _since(hours))
    return int(_rows(eng, stmt)[0][0])


@cached
def issue_volume(eng: Engine, issue_id: int, hours: int = 24) -> pd.DataFrame:
    """An issue's posts per hour and sentiment over the last ``hours``."""
    bucket = _bucket(eng, Post.published_at, "hour").label("stunde")
    stmt = (select(bucket, Classification.sentiment, func.count().label("n"))
            .select_from(IssuePost).join(Post, Post.id == IssuePost.post_id)
            .join(Classification, Classification.post_id == Post.id, isouter=True)
            .where(IssuePost.issue_id == issue_id, Post.published_at >= _since(hours))
            .group_by(bucket, Classification.sentiment))
    return _pivot_hours(_rows(eng, stmt), hours)


@cached
def sample_posts(eng: Engine, issue_id: int, limit: int = 5) -> list[dict[str, Any]]:
    """The newest posts of an issue: text, source, time, link, sentiment."""
    stmt = (select(Post.id, Post.text, Post.url, Post.published_at, Post.lang, Source.name.label("source"),
                   Classification.sentiment)
            .select_from(IssuePost).join(Post, Post.id == IssuePost.post_id)
            .join(Source, Source.id == Post.source_id)
            .join(Classification, Classification.post_id == Post.id, isouter=True)
            .where(IssuePost.issue_id == issue_id).order_by(Post.published_at.desc()).limit(limit))
    return [dict(r._mapping) for r in _rows(eng, stmt)]


@cached
def notices_for_issue(eng: Engine, issue_id: int) -> list[dict[str, Any]]:
    """An issue's customer notices, newest first."""
    stmt = (select(Notice.id, Notice.kind, Notice.status, Notice.subject, Notice.body, Notice.created_at,
                   Notice.approved_at, Notice.approved_by, Notice.rejected_at, Notice.edited)
            .where(Notice.issue_id == issue_id).order_by(Notice.id.desc()))
    return [dict(r._mapping) for r in _rows(eng, stmt)]


# --------------------------------------------------------------------------- Themen (topics)


@cached
def source_names(eng: Engine) -> dict[int, str]:
    return {r.id: r.name for r in _rows(eng, select(Source.id, Source.name).order_by(Source.name))}


@cached
def languages(eng: Engine) -> list[str]:
    stmt = select(Classification.lang).distinct().order_by(Classification.lang)
    return [r[0] for r in _rows(eng, stmt) if r[0]]


@cached
def topics(eng: Engine) -> pd.DataFrame:
    """Live topics (not merged away): id, label, keywords."""
    stmt = select(Topic.id, Topic.label, Topic.keywords, Topic.size).where(Topic.merged_into.is_(None))
    df = pd.DataFrame([dict(r._mapping) for r in _rows(eng, stmt)], columns=["id", "label", "keywords", "size"])
    return df.set_index("id")


@cached
def topic_daily(eng: Engine, days: int, source_ids: tuple[int, ...] = (), langs: tuple[str, ...] = ()) -> pd.DataFrame:
    """Posts per topic and day with sentiment counts (columns: day, topic_id, posts, negativ, neutral, positiv)."""
    day = _bucket(eng, Post.published_at, "day").label("day")
    neg = func.sum(func.coalesce((Classification.sentiment == "negative").cast(Integer), 0))
    neu = func.sum(func.coalesce((Classification.sentiment == "neutral").cast(Integer), 0))
    pos = func.sum(func.coalesce((Classification.sentiment == "positive").cast(Integer), 0))
    stmt = (select(day, Classification.topic_id, func.count().label("posts"), neg.label("negativ"),
                   neu.label("neutral"), pos.label("positiv"))
            .select_from(Post).join(Classification, Classification.post_id == Post.id)
            .where(Post.published_at >= _since(days * 24), Classification.topic_id.is_not(None))
            .group_by(day, Classification.topic_id))
    if source_ids:
        stmt = stmt.where(Post.source_id.in_(source_ids))
    if langs:
        stmt = stmt.where(Classification.lang.in_(langs))
    cols = ["day", "topic_id", "posts", "negativ", "neutral", "positiv"]
    df = pd.DataFrame([tuple(r) for r in _rows(eng, stmt)], columns=cols)
    df["day"] = pd.to_datetime(df["day"])
    for c in cols[2:]:
        df[c] = df[c].astype("int64")
    return df


# --------------------------------------------------------------------------- Benachrichtigungen


def _delivery_summary(eng: Engine, key: Any) -> dict[int, str]:
    stmt = (select(key, Delivery.channel, Delivery.status, func.count(), func.max(Delivery.attempts))
            .where(key.is_not(None)).group_by(key, Delivery.channel, Delivery.status))
    parts: dict[int, list[str]] = {}
    for owner, channel, status, n, max_attempts in _rows(eng, stmt):
        retry = f", bis {max_attempts} Versuche" if max_attempts and max_attempts > 1 else ""
        parts.setdefault(owner, []).append(f"{channel}: {n} {DELIVERY_DE.get(status, status)}{retry}")
    return {k: "; ".join(sorted(v)) for k, v in parts.items()}


@cached
def notices(eng: Engine, limit: int = 200) -> pd.DataFrame:
    """Latest customer notices with per-channel delivery status."""
    stmt = (select(Notice.id, Notice.issue_id, Notice.kind, Notice.status, Notice.subject, Notice.created_at,
                   Notice.approved_by, Notice.approved_at, Notice.edited)
            .order_by(Notice.id.desc()).limit(limit))
    df = pd.DataFrame([dict(r._mapping) for r in _rows(eng, stmt)],
                      columns=["id", "issue_id", "kind", "status", "subject", "created_at", "approved_by",
                               "approved_at", "edited"])
    df["kind"] = [KIND_DE.get(k, k) for k in df["kind"]]
    df["status"] = [NOTICE_DE.get(k, k) for k in df["status"]]
    summary = _delivery_summary(eng, Delivery.notice_id)
    df["zustellung"] = [summary.get(i, "–") for i in df["id"]]
    return df


@cached
def alerts(eng: Engine, limit: int = 200) -> pd.DataFrame:
    """Latest internal alerts with per-channel delivery status."""
    stmt = (select(Alert.id, Alert.kind, Alert.status, Alert.title, Alert.issue_ids, Alert.created_at,
                   Alert.acknowledged_by, Alert.escalated_at)
            .order_by(Alert.id.desc()).limit(limit))
    df = pd.DataFrame([dict(r._mapping) for r in _rows(eng, stmt)],
                      columns=["id", "kind", "status", "title", "issue_ids", "created_at", "acknowledged_by",
                               "escalated_at"])
    df["issue_ids"] = [", ".join(str(i) for i in ids or []) for ids in df["issue_ids"]]
    df["kind"] = [KIND_DE.get(k, k) for k in df["kind"]]
    df["status"] = [ALERT_DE.get(k, k) for k in df["status"]]
    summary = _delivery_summary(eng, Delivery.alert_id)
    df["zustellung"] = [summary.get(i, "–") for i in df["id"]]
    return df


@cached
def deliveries(eng: Engine, statuses: tuple[str, ...] = (), retried_only: bool = False,
               limit: int = 500) -> pd.DataFrame:
    """Delivery records (newest first), addresses masked."""
    stmt = (select(Delivery.id, Delivery.notice_id, Delivery.alert_id, Delivery.channel, Delivery.address,
                   Delivery.status, Delivery.attempts, Delivery.next_attempt_at, Delivery.last_status_code,
                   Delivery.last_error, Delivery.sent_at, Delivery.created_at)
            .order_by(Delivery.id.desc()).limit(limit))
    if statuses:
        stmt = stmt.where(Delivery.status.in_(statuses))
    if retried_only:
        stmt = stmt.where(Delivery.attempts > 1)
    df = pd.DataFrame([dict(r._mapping) for r in _rows(eng, stmt)],
                      columns=["id", "notice_id", "alert_id", "channel", "address", "status", "attempts",
                               "next_attempt_at", "last_status_code", "last_error", "sent_at", "created_at"])
    df["address"] = [mask_address(a) for a in df["address"]]
    df["status"] = [DELIVERY_DE.get(k, k) for k in df["status"]]
    return df


@cached
def delivery_counts(eng: Engine) -> dict[str, int]:
    stmt = select(Delivery.status, func.count()).group_by(Delivery.status)
    return {s: int(n) for s, n in _rows(eng, stmt)}


@cached
def audit_trail(eng: Engine, entity_type: str | None = None, limit: int = 300) -> pd.DataFrame:
    """The newest audit entries, optionally of one entity type."""
    stmt = (select(AuditLog.at, AuditLog.actor, AuditLog.action, AuditLog.entity_type, AuditLog.entity_id,
                   AuditLog.detail).order_by(AuditLog.id.desc()).limit(limit))
    if entity_type:
        stmt = stmt.where(AuditLog.entity_type == entity_type)
    df = pd.DataFrame([dict(r._mapping) for r in _rows(eng, stmt)],
                      columns=["at", "actor", "action", "entity_type", "entity_id", "detail"])
    df["detail"] = [", ".join(f"{k}={v}" for k, v in (d or {}).items()) for d in df["detail"]]
    return df


@cached
def audit_entity_types(eng: Engine) -> list[str]:
    return [r[0] for r in _rows(eng, select(AuditLog.entity_type).distinct().order_by(AuditLog.entity_type))]


# --------------------------------------------------------------------------- Quellen


@cached
def source_health(eng: Engine, hours: int = 24) -> pd.DataFrame:
    """Every source with last crawl, posts per hour and a German status that flags trouble."""
    cfg = settings()
    now = utcnow()
    counts = dict(_rows(eng, select(Post.source_id, func.count()).where(Post.published_at >= _since(hours))
                        .group_by(Post.source_id)))
    errors = dict(_rows(eng, select(CrawlRun.source_id, func.count())
                        .where(CrawlRun.started_at >= _since(hours), CrawlRun.status.in_(["failed", "partial"]))
                        .group_by(CrawlRun.source_id)))
    stmt = select(Source.id, Source.name, Source.type, Source.url, Source.enabled, Source.last_attempt_at,
                  Source.last_success_at, Source.last_new_post_at, Source.consecutive_failures,
                  Source.created_at).order_by(Source.name)
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
        out.append({
            "id": r.id, "status": status, "name": r.name, "type": r.type, "url": r.url,
            "last_success_at": r.last_success_at, "last_attempt_at": r.last_attempt_at,
            "last_new_post_at": r.last_new_post_at, "posts_per_hour": round(counts.get(r.id, 0) / hours, 2),
            "errors_24h": int(errors.get(r.id, 0)), "consecutive_failures": r.consecutive_failures,
            "flagged": bool(r.enabled and (failing or silent)),
        })
    return pd.DataFrame(out, columns=["id", "status", "name", "type", "url", "last_success_at", "last_attempt_at",
                                      "last_new_post_at", "posts_per_hour", "errors_24h",
                                      "consecutive_failures", "flagged"])


@cached
def crawl_errors(eng: Engine, limit: int = 50) -> pd.DataFrame:
    """The newest failed or partial crawls with their error."""
    stmt = (select(CrawlRun.started_at, Source.name, CrawlRun.status, CrawlRun.error_count, CrawlRun.error)
            .join(Source, Source.id == CrawlRun.source_id).where(CrawlRun.status.in_(["failed", "partial"]))
            .order_by(CrawlRun.started_at.desc()).limit(limit))
    return pd.DataFrame([tuple(r) for r in _rows(eng, stmt)],
                        columns=["started_at", "source", "status", "error_count", "error"])


# --------------------------------------------------------------------------- users


def user_record(username: str) -> dict[str, Any] | None:
    """The user's current role and state (not cached: checked on every run)."""
    stmt = select(User.username, User.role, User.disabled).where(User.username == username)
    rows = _rows(engine(), stmt)
    return dict(rows[0]._mapping) if rows else None


@cached
def users(eng: Engine) -> pd.DataFrame:
    stmt = select(User.username, User.role, User.disabled, User.created_at, User.last_login_at).order_by(
        User.username)
    return pd.DataFrame([dict(r._mapping) for r in _rows(eng, stmt)],
                        columns=["username", "role", "disabled", "created_at", "last_login_at"])


def db_time() -> datetime:
    """Now, as the database's naive UTC."""
    return utcnow()
