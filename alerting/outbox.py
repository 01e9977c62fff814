"""The transactional outbox: Delivery rows written in the same transaction as the
notice/alert that caused them, claimed with a lease, finished exactly once.

Row life: pending -> sending (claimed_by / claimed_until) -> sent | pending (retry) |
failed (fell back to the next channel) | dead (dead letter) | skipped.

* ``enqueue`` is idempotent: one row per idempotency key (notice|alert, subscriber,
  channel); the unique index on ``idempotency_key`` guards against races.
* ``claim`` takes due rows atomically (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite:
  one ``UPDATE ... WHERE id IN (SELECT ... LIMIT n)`` under its write lock) and also
  re-takes rows whose lease ran out: a worker that died mid-send. Such a row's outcome
  is unknown; it is sent again with the SAME idempotency key so the receiver can drop it.
* ``finish`` writes an outcome only while the row is still ours (status 'sending' and
  claimed_by = worker), so a late writer cannot undo another worker's result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from sqlmodel import select as sm_select

from storage.models import Delivery

T = Delivery.__table__  # type: ignore[attr-defined]


def enqueue(session: Session, *, key: str, channel: str, address: str, notice_id: int | None = None,
            alert_id: int | None = None, subscriber_id: int | None = None,
            not_before: datetime | None = None, now: datetime | None = None) -> Delivery | None:
    """Add one outbox row; None if a row with this key exists already (dedup)."""
    if session.exec(sm_select(Delivery.id).where(Delivery.idempotency_key == key)).first() is not None:
        return None
    row = Delivery(idempotency_key=key, channel=channel, address=address, notice_id=notice_id,
                   alert_id=alert_id, subscriber_id=subscriber_id)
    if now is not None:
        row.created_at = now
        row.next_attempt_at = now
    if not_before is not None:
        row.next_attempt_at = not_before
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # a concurrent writer won the race: same key, same message
        return None
    return row


def enqueue_many(session: Session, rows: list[dict[str, Any]], now: datetime) -> int:
    """Add many outbox rows in one statement (keys already present are left alone); return how many.

    Each dict holds ``key``, ``channel``, ``address`` and optionally ``notice_id``, ``alert_id``,
    ``subscriber_id``, ``not_before``. Falls back to row-by-row ``enqueue`` on a key race.
    """
    if not rows:
        return 0
    keys = [r["key"] for r in rows]
    existing: set[str] = set()
    for i in range(0, len(keys), 500):
        existing.update(session.execute(select(T.c.idempotency_key).where(T.c.idempotency_key.in_(keys[i:i + 500])))
                        .scalars())
    seen: set[str] = set()
    values = []
    for r in rows:
        if r["key"] in existing or r["key"] in seen:
            continue
        seen.add(r["key"])
        values.append({"idempotency_key": r["key"], "channel": r["channel"], "address": r["address"],
                       "notice_id": r.get("notice_id"), "alert_id": r.get("alert_id"),
                       "subscriber_id": r.get("subscriber_id"), "status": "pending", "attempts": 0,
                       "next_attempt_at": r.get("not_before") or now, "created_at": now})
    if not values:
        return 0
    try:
        with session.begin_nested():
            session.execute(insert(T), values)
    except IntegrityError:  # someone else enqueued some of these meanwhile: go one by one
        return sum(enqueue(session, key=v["idempotency_key"], channel=v["channel"], address=v["address"],
                           notice_id=v["notice_id"], alert_id=v["alert_id"], subscriber_id=v["subscriber_id"],
                           not_before=v["next_attempt_at"], now=now) is not None for v in values)
    return len(values)


@dataclass(frozen=True)
class Claimed:
    """A claimed row, detached from any session (plain values)."""

    id: int
    idempotency_key: str
    notice_id: int | None
    alert_id: int | None
    subscriber_id: int | None
    channel: str
    address: str
    attempts: int  # including this one
    reclaimed: bool  # the previous holder's lease ran out: outcome of that attempt unknown


def claim(engine: Engine, worker_id: str, now: datetime, limit: int, lease_s: float) -> list[Claimed]:
    """Atomically take up to ``limit`` due rows for ``worker_id`` until ``now + lease``."""
    until = now + timedelta(seconds=lease_s)
    for _ in range(5):  # SQLite: another worker may take every picked row between our SELECT and UPDATE
        rows = _claim_once(engine, worker_id, now, limit, until)
        if rows is None:
            return []
        if rows:
            return rows
    return []


def _claim_once(engine: Engine, worker_id: str, now: datetime, limit: int, until: datetime) -> list[Claimed] | None:
    """One claim attempt; None when nothing is due, [] when others took what we picked."""
    due = or_(and_(T.c.status == "pending", T.c.next_attempt_at <= now),
              and_(T.c.status == "sending", T.c.claimed_until < now))
    with engine.begin() as conn:
        pick = select(T.c.id, T.c.status).where(due).order_by(T.c.next_attempt_at, T.c.id).limit(limit)
        if engine.dialect.name == "postgresql":
            pick = pick.with_for_update(skip_locked=True)
        picked = conn.execute(pick).all()
        if not picked:
            return None
        ids = [r.id for r in picked]
        reclaimed = {r.id for r in picked if r.status == "sending"}
        conn.execute(
            update(T).where(T.c.id.in_(ids), due)
            .values(status="sending", claimed_by=worker_id, claimed_until=until, attempts=T.c.attempts + 1)
        )
        rows = conn.execute(
            select(T).where(T.c.id.in_(ids), T.c.claimed_by == worker_id, T.c.claimed_until == until,
                            T.c.status == "sending").order_by(T.c.id)
        ).all()
    return [Claimed(r.id, r.idempotency_key, r.notice_id, r.alert_id, r.subscriber_id, r.channel, r.address,
                    r.attempts, r.id in reclaimed) for r in rows]


def finish(session: Session, row_id: int, worker_id: str, **values: Any) -> bool:
    """Write an outcome if the row is still ours; True if written."""
    result = session.connection().execute(
        update(T).where(T.c.id == row_id, T.c.status == "sending", T.c.claimed_by == worker_id)
        .values(claimed_until=None, **values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
