"""Retention: delete what fruehwarn no longer needs, per kind of data (GDPR Art. 5(1)(e)).

``purge(settings, engine, now)`` removes, each in its own transaction and in batches:
posts past ``retention.posts`` (with their classifications and issue links), audit
entries past ``retention.audit``, finished deliveries past ``retention.deliveries``,
crawl runs past ``retention.crawl_runs`` and customers who unsubscribed more than
``retention.unsubscribed`` ago (with their channels). Issues and topics stay: they hold
no personal data and carry the history that the trends page shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine

from config import Settings
from storage.db import audit, posts_changed, session_scope
from storage.models import (
    AuditLog,
    Classification,
    CrawlRun,
    Delivery,
    IssuePost,
    Post,
    Subscriber,
    SubscriberChannel,
    utcnow,
)

BATCH = 5000
FINISHED_DELIVERY = ("sent", "dead", "skipped", "failed")


@dataclass
class PurgeResult:
    posts: int = 0
    audit: int = 0
    deliveries: int = 0
    crawl_runs: int = 0
    subscribers: int = 0


def _purge_posts(engine: Engine, cutoff: datetime) -> int:
    total = 0
    while True:
        with session_scope(engine) as s:
            ids = list(s.execute(select(Post.id).where(Post.published_at < cutoff).limit(BATCH)).scalars())
            if not ids:
                return total
            s.execute(update(Post).where(Post.duplicate_of.in_(ids)).values(duplicate_of=None))  # type: ignore[union-attr]
            s.execute(delete(Classification).where(Classification.post_id.in_(ids)))  # type: ignore[attr-defined]
            s.execute(delete(IssuePost).where(IssuePost.post_id.in_(ids)))  # type: ignore[attr-defined]
            s.execute(delete(Post).where(Post.id.in_(ids)))  # type: ignore[union-attr]
            posts_changed(s)
            total += len(ids)


def _purge_subscribers(engine: Engine, cutoff: datetime) -> int:
    with session_scope(engine) as s:
        ids = list(s.execute(select(Subscriber.id).where(Subscriber.unsubscribed_at.is_not(None),  # type: ignore[union-attr]
                                                         Subscriber.unsubscribed_at < cutoff)).scalars())
        for sid in ids:
            forget_subscriber(s, sid, actor="retention")
        return len(ids)


def forget_subscriber(session, subscriber_id: int, *, actor: str) -> bool:  # type: ignore[no-untyped-def]
    """Erase a subscriber and their channels; keep delivery rows, without the address.

    Returns False if there is no such subscriber. The audit entry records only the id.
    """
    sub = session.get(Subscriber, subscriber_id)
    if sub is None:
        return False
    session.execute(update(Delivery).where(Delivery.subscriber_id == subscriber_id)
                    .values(subscriber_id=None, address="(gelöscht)"))
    session.execute(delete(SubscriberChannel).where(SubscriberChannel.subscriber_id == subscriber_id))
    session.delete(sub)
    audit(session, "subscriber.forget", "subscriber", subscriber_id, actor=actor)
    return True


def purge(settings: Settings, engine: Engine, now: datetime | None = None) -> PurgeResult:
    """Apply every retention period once."""
    now = now or utcnow()
    r = settings.retention
    res = PurgeResult()
    res.posts = _purge_posts(engine, now - timedelta(seconds=r.posts))
    with session_scope(engine) as s:
        res.audit = s.execute(delete(AuditLog).where(AuditLog.at < now - timedelta(seconds=r.audit))).rowcount or 0
        res.deliveries = s.execute(delete(Delivery).where(
            Delivery.created_at < now - timedelta(seconds=r.deliveries),
            Delivery.status.in_(FINISHED_DELIVERY))).rowcount or 0  # type: ignore[attr-defined]
        res.crawl_runs = s.execute(delete(CrawlRun).where(
            CrawlRun.started_at < now - timedelta(seconds=r.crawl_runs))).rowcount or 0
    res.subscribers = _purge_subscribers(engine, now - timedelta(seconds=r.unsubscribed))
    with session_scope(engine) as s:
        audit(s, "retention.purge", "system", None, **res.__dict__)
    return res
