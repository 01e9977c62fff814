"""Every table of fruehwarn, in one place.

Stages hand work on through these tables: crawlers write Post rows, classifiers write
Classification rows and Topic/Issue rows, alerting writes Alert/Notice/Delivery rows,
the dashboard reads all and writes actions (acknowledge, approve, silence). Each stage
records what it did (CrawlRun, Checkpoint, Delivery, AuditLog) so that it can stop and
resume anywhere.

All timestamps are naive UTC datetimes (``utcnow()``, columns typed ``NaiveDatetime`` so
that SQLModel stores them as plain DATETIME); SQLite has no time zones.
After changing a table here, add an Alembic revision (``storage/migrations``);
``tests/storage/test_migrations.py`` fails while models and migrations differ.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import NaiveDatetime
from sqlalchemy import JSON, Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Current time as naive UTC (the convention of every table)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _json(default: Any = None) -> Any:
    factory = (lambda: {}) if default == "dict" else (lambda: [])
    return Field(default_factory=factory, sa_column=Column(JSON, nullable=False))


# --------------------------------------------------------------------------- sources


class Source(SQLModel, table=True):
    """A crawled source, synced by name from the config's ``sources:`` list."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=100)
    type: str = Field(max_length=20)  # rss | mastodon | reddit | discourse | appstore | forum
    url: str = Field(max_length=2000)
    enabled: bool = True
    options: dict[str, Any] = _json("dict")  # the source's full config entry
    cursor: dict[str, Any] = _json("dict")  # since_id / newest timestamp / etag / last_modified
    last_attempt_at: NaiveDatetime | None = None
    last_success_at: NaiveDatetime | None = None
    last_new_post_at: NaiveDatetime | None = None
    consecutive_failures: int = 0
    created_at: NaiveDatetime = Field(default_factory=utcnow)


class CrawlRun(SQLModel, table=True):
    """One crawl of one source: what it found and how it ended."""

    __table_args__ = (Index("ix_crawlrun_source_started", "source_id", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id")
    started_at: NaiveDatetime = Field(default_factory=utcnow)
    finished_at: NaiveDatetime | None = None
    status: str = Field(default="running", max_length=20)  # running | ok | partial | failed
    new_count: int = 0
    updated_count: int = 0
    skipped_count: int = 0  # duplicates, filtered by keywords, unchanged
    error_count: int = 0  # malformed payloads, HTTP errors
    error: str | None = Field(default=None, sa_column=Column(Text))
    stats: dict[str, Any] = _json("dict")  # Scrapy stats, fruehwarn/dropped/* counters


# --------------------------------------------------------------------------- posts


class Post(SQLModel, table=True):
    """A normalised public post, comment or review."""

    __table_args__ = (
        UniqueConstraint("source_id", "external_id", name="uq_post_source_external"),
        Index("ix_post_published", "published_at"),
        Index("ix_post_content_hash", "content_hash"),
        Index("ix_post_source_published", "source_id", "published_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="source.id")
    external_id: str = Field(max_length=500)
    url: str | None = Field(default=None, max_length=2000)
    title: str | None = Field(default=None, sa_column=Column(Text))
    text: str = Field(sa_column=Column(Text, nullable=False))  # normalised: title + body, no HTML
    author_hash: str | None = Field(default=None, max_length=64)  # keyed hash of the handle
    author_raw: str | None = Field(default=None, max_length=300)  # only if crawl.store_raw_handles
    published_at: NaiveDatetime
    fetched_at: NaiveDatetime = Field(default_factory=utcnow)
    updated_at: NaiveDatetime | None = None  # set when an edit was seen
    lang: str | None = Field(default=None, max_length=10)  # declared or detected language
    thread_id: str | None = Field(default=None, max_length=500)
    parent_id: str | None = Field(default=None, max_length=500)
    content_hash: str = Field(max_length=64)  # sha256 of the normalised text (catches cross-posts)
    duplicate_of: int | None = Field(default=None, foreign_key="post.id")  # cross-post of an earlier post
    label: str | None = Field(default=None, max_length=100)  # incident label (replay/demo data only)


class Classification(SQLModel, table=True):
    """What the classifiers made of a post: language, sentiment, embedding, topic."""

    __table_args__ = (
        Index("ix_classification_topic", "topic_id"),
        Index("ix_classification_grouped", "grouped"),
    )

    post_id: int = Field(foreign_key="post.id", primary_key=True)
    lang: str = Field(max_length=10)
    is_german: bool = True
    sentiment: str | None = Field(default=None, max_length=10)  # negative | neutral | positive | None (not German)
    score_negative: float = 0.0
    score_neutral: float = 0.0
    score_positive: float = 0.0
    embedding: bytes | None = Field(default=None, sa_column=Column(LargeBinary))  # float16 vector
    model_version: str = Field(default="", max_length=100)
    classified_at: NaiveDatetime = Field(default_factory=utcnow)
    topic_id: int | None = Field(default=None, foreign_key="topic.id")
    grouped: bool = False  # topic grouping done


# --------------------------------------------------------------------------- topics and issues


class Topic(SQLModel, table=True):
    """A group of posts about one thing; its id keeps its meaning as it grows."""

    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(default="", max_length=300)  # German label from top keywords
    keywords: list[str] = _json("list")
    centroid: bytes | None = Field(default=None, sa_column=Column(LargeBinary))  # float32 vector
    size: int = 0
    merged_into: int | None = Field(default=None, foreign_key="topic.id")  # survivor after a merge
    state: dict[str, Any] = _json("dict")  # term counts and other grouping state
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    updated_at: NaiveDatetime = Field(default_factory=utcnow)
    last_post_at: NaiveDatetime | None = None


class Issue(SQLModel, table=True):
    """An emerging issue raised for a topic: open -> acknowledged -> resolved (-> re-opened)."""

    __table_args__ = (Index("ix_issue_status_severity", "status", "severity"),)

    id: int | None = Field(default=None, primary_key=True)
    topic_id: int = Field(foreign_key="topic.id", index=True)
    status: str = Field(default="open", max_length=20)  # open | acknowledged | resolved
    title: str = Field(default="", max_length=300)
    keywords: list[str] = _json("list")
    severity: float = 0.0  # 0..100
    reasons: str = Field(default="", sa_column=Column(Text, nullable=False))  # German, human-readable
    post_count: int = 0
    negative_share: float = 0.0
    source_count: int = 0
    author_count: int = 0
    first_post_at: NaiveDatetime | None = None
    first_detected_at: NaiveDatetime = Field(default_factory=utcnow)
    last_seen_at: NaiveDatetime | None = None
    acknowledged_at: NaiveDatetime | None = None
    acknowledged_by: str | None = Field(default=None, max_length=100)
    resolved_at: NaiveDatetime | None = None
    resolved_by: str | None = Field(default=None, max_length=100)  # None: auto-resolved
    reopened_count: int = 0
    updated_at: NaiveDatetime = Field(default_factory=utcnow)


class IssuePost(SQLModel, table=True):
    """Posts linked to an issue."""

    issue_id: int = Field(foreign_key="issue.id", primary_key=True)
    post_id: int = Field(foreign_key="post.id", primary_key=True, index=True)


class Checkpoint(SQLModel, table=True):
    """A stage's progress marker (e.g. detection clock, last processed id)."""

    name: str = Field(primary_key=True, max_length=100)
    value: dict[str, Any] = _json("dict")
    updated_at: NaiveDatetime = Field(default_factory=utcnow)


# --------------------------------------------------------------------------- subscribers


class Subscriber(SQLModel, table=True):
    """A customer who opted in to proactive notices."""

    id: int | None = Field(default=None, primary_key=True)
    external_ref: str | None = Field(default=None, max_length=200, index=True)  # CRM id
    name: str | None = Field(default=None, max_length=200)
    language: str = Field(default="de", max_length=10)
    products: list[str] = _json("list")
    regions: list[str] = _json("list")
    topics: list[str] = _json("list")  # keywords the subscriber cares about
    quiet_hours_start: int | None = Field(default=None, ge=0, le=23)  # local hour, inclusive
    quiet_hours_end: int | None = Field(default=None, ge=0, le=23)  # local hour, exclusive
    timezone: str = Field(default="Europe/Berlin", max_length=50)
    opt_in_requested_at: NaiveDatetime | None = None
    opt_in_confirmed_at: NaiveDatetime | None = None  # double opt-in: only confirmed subscribers get notices
    opt_in_token: str | None = Field(default=None, max_length=100)
    unsubscribe_token: str = Field(default="", max_length=100, index=True)
    unsubscribed_at: NaiveDatetime | None = None
    created_at: NaiveDatetime = Field(default_factory=utcnow)


class SubscriberChannel(SQLModel, table=True):
    """One of a subscriber's channels, in order of preference (priority 0 first)."""

    __table_args__ = (UniqueConstraint("subscriber_id", "priority", name="uq_subchannel_priority"),)

    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True)
    priority: int = 0
    channel: str = Field(max_length=30)  # email | sms | telegram | webhook | push | apprise
    address: str = Field(max_length=1000)  # e-mail address, phone, chat id, URL or Apprise URL
    verified: bool = True


# --------------------------------------------------------------------------- alerting


class Alert(SQLModel, table=True):
    """An internal alert to the social-care team (may group several issues)."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default="new", max_length=20)  # new | escalation | resolved
    issue_ids: list[int] = _json("list")
    dedup_key: str = Field(max_length=200, index=True)
    title: str = Field(default="", max_length=300)
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", max_length=20)  # pending | sent | acknowledged | silenced
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    acknowledged_at: NaiveDatetime | None = None
    acknowledged_by: str | None = Field(default=None, max_length=100)
    escalated_at: NaiveDatetime | None = None


class Notice(SQLModel, table=True):
    """A proactive customer notice: draft -> approved (or rejected) -> queued -> done."""

    __table_args__ = (Index("ix_notice_issue_kind", "issue_id", "kind"),)

    id: int | None = Field(default=None, primary_key=True)
    issue_id: int = Field(foreign_key="issue.id")
    kind: str = Field(default="incident", max_length=20)  # incident | update | resolved
    status: str = Field(default="draft", max_length=20)  # draft | approved | rejected | queued | done
    subject: str = Field(default="", max_length=300)
    facts: dict[str, Any] = _json("dict")  # the facts every channel renders (product, region, text, ...)
    body: str = Field(default="", sa_column=Column(Text, nullable=False))  # editable German text
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    approved_at: NaiveDatetime | None = None
    approved_by: str | None = Field(default=None, max_length=100)  # "auto" when a rule approved it
    rejected_at: NaiveDatetime | None = None
    edited: bool = False


class Delivery(SQLModel, table=True):
    """The outbox: one message to one address on one channel, sent at most once."""

    __table_args__ = (Index("ix_delivery_status_next", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(max_length=200, unique=True)  # (notice|alert, subscriber, channel)
    notice_id: int | None = Field(default=None, foreign_key="notice.id", index=True)
    alert_id: int | None = Field(default=None, foreign_key="alert.id", index=True)
    subscriber_id: int | None = Field(default=None, foreign_key="subscriber.id")
    channel: str = Field(max_length=30)
    address: str = Field(max_length=1000)
    status: str = Field(default="pending", max_length=20)  # pending | sending | sent | failed | dead | skipped
    attempts: int = 0
    next_attempt_at: NaiveDatetime = Field(default_factory=utcnow)
    claimed_by: str | None = Field(default=None, max_length=100)
    claimed_until: NaiveDatetime | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_status_code: int | None = None
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    sent_at: NaiveDatetime | None = None


class Silence(SQLModel, table=True):
    """Mute a topic or a channel for a time window."""

    id: int | None = Field(default=None, primary_key=True)
    topic_id: int | None = Field(default=None, foreign_key="topic.id")
    issue_id: int | None = Field(default=None, foreign_key="issue.id")
    channel: str | None = Field(default=None, max_length=30)
    starts_at: NaiveDatetime = Field(default_factory=utcnow)
    ends_at: NaiveDatetime
    created_by: str | None = Field(default=None, max_length=100)
    reason: str = Field(default="", max_length=500)


# --------------------------------------------------------------------------- users and audit


class User(SQLModel, table=True):
    """A dashboard user with a hashed password and a role."""

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=100, unique=True, index=True)
    password_hash: str = Field(max_length=300)
    role: str = Field(max_length=20)  # agent | marketing | admin
    disabled: bool = False
    created_at: NaiveDatetime = Field(default_factory=utcnow)
    last_login_at: NaiveDatetime | None = None


class AuditLog(SQLModel, table=True):
    """Every alert, notice, approval, delivery attempt and user action."""

    __table_args__ = (Index("ix_audit_entity", "entity_type", "entity_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: NaiveDatetime = Field(default_factory=utcnow, index=True)
    actor: str = Field(default="system", max_length=100)
    action: str = Field(max_length=50)
    entity_type: str = Field(max_length=30)
    entity_id: int | None = None
    detail: dict[str, Any] = _json("dict")
