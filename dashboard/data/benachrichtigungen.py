"""Reads of the Benachrichtigungen page: notices, alerts, deliveries and the audit trail."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select
from sqlmodel import col

from dashboard.data.core import (
    ALERT_DE,
    DELIVERY_DE,
    KIND_DE,
    NOTICE_DE,
    _rows,
    cached,
    mask_address,
)
from storage.models import (
    Alert,
    AuditLog,
    Delivery,
    Notice,
)

# --------------------------------------------------------------------------- Benachrichtigungen


def _delivery_summary(eng: Engine, key: Any) -> dict[int, str]:
    stmt = (
        select(
            key, col(Delivery.channel), col(Delivery.status), func.count(), func.max(col(Delivery.attempts))
        )
        .where(key.is_not(None))
        .group_by(key, col(Delivery.channel), col(Delivery.status))
    )
    parts: dict[int, list[str]] = {}
    for owner, channel, status, n, max_attempts in _rows(eng, stmt):
        retry = f", bis {max_attempts} Versuche" if max_attempts and max_attempts > 1 else ""
        parts.setdefault(owner, []).append(f"{channel}: {n} {DELIVERY_DE.get(status, status)}{retry}")
    return {k: "; ".join(sorted(v)) for k, v in parts.items()}


@cached
def notices(eng: Engine, limit: int = 200) -> pd.DataFrame:
    """Latest customer notices with per-channel delivery status."""
    stmt = (
        select(
            col(Notice.id),
            col(Notice.issue_id),
            col(Notice.kind),
            col(Notice.status),
            col(Notice.subject),
            col(Notice.created_at),
            col(Notice.approved_by),
            col(Notice.approved_at),
            col(Notice.edited),
        )
        .order_by(col(Notice.id).desc())
        .limit(limit)
    )
    df = pd.DataFrame(
        [dict(r._mapping) for r in _rows(eng, stmt)],
        columns=[
            "id",
            "issue_id",
            "kind",
            "status",
            "subject",
            "created_at",
            "approved_by",
            "approved_at",
            "edited",
        ],
    )
    df["kind"] = [KIND_DE.get(k, k) for k in df["kind"]]
    df["status"] = [NOTICE_DE.get(k, k) for k in df["status"]]
    summary = _delivery_summary(eng, col(Delivery.notice_id))
    df["zustellung"] = [summary.get(i, "–") for i in df["id"]]
    return df


@cached
def alerts(eng: Engine, limit: int = 200) -> pd.DataFrame:
    """Latest internal alerts with per-channel delivery status."""
    stmt = (
        select(
            col(Alert.id),
            col(Alert.kind),
            col(Alert.status),
            col(Alert.title),
            col(Alert.issue_ids),
            col(Alert.created_at),
            col(Alert.acknowledged_by),
            col(Alert.escalated_at),
        )
        .order_by(col(Alert.id).desc())
        .limit(limit)
    )
    df = pd.DataFrame(
        [dict(r._mapping) for r in _rows(eng, stmt)],
        columns=[
            "id",
            "kind",
            "status",
            "title",
            "issue_ids",
            "created_at",
            "acknowledged_by",
            "escalated_at",
        ],
    )
    df["issue_ids"] = [", ".join(str(i) for i in ids or []) for ids in df["issue_ids"]]
    df["kind"] = [KIND_DE.get(k, k) for k in df["kind"]]
    df["status"] = [ALERT_DE.get(k, k) for k in df["status"]]
    summary = _delivery_summary(eng, col(Delivery.alert_id))
    df["zustellung"] = [summary.get(i, "–") for i in df["id"]]
    return df


@cached
def deliveries(
    eng: Engine, statuses: tuple[str, ...] = (), retried_only: bool = False, limit: int = 500
) -> pd.DataFrame:
    """Delivery records (newest first), addresses masked."""
    stmt = (
        select(
            col(Delivery.id),
            col(Delivery.notice_id),
            col(Delivery.alert_id),
            col(Delivery.channel),
            col(Delivery.address),
            col(Delivery.status),
            col(Delivery.attempts),
            col(Delivery.next_attempt_at),
            col(Delivery.last_status_code),
            col(Delivery.last_error),
            col(Delivery.sent_at),
            col(Delivery.created_at),
        )
        .order_by(col(Delivery.id).desc())
        .limit(limit)
    )
    if statuses:
        stmt = stmt.where(col(Delivery.status).in_(statuses))
    if retried_only:
        stmt = stmt.where(col(Delivery.attempts) > 1)
    df = pd.DataFrame(
        [dict(r._mapping) for r in _rows(eng, stmt)],
        columns=[
            "id",
            "notice_id",
            "alert_id",
            "channel",
            "address",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "sent_at",
            "created_at",
        ],
    )
    df["address"] = [mask_address(a) for a in df["address"]]
    df["status"] = [DELIVERY_DE.get(k, k) for k in df["status"]]
    return df


@cached
def delivery_counts(eng: Engine) -> dict[str, int]:
    stmt = select(col(Delivery.status), func.count()).group_by(col(Delivery.status))
    return {s: int(n) for s, n in _rows(eng, stmt)}


@cached
def audit_trail(eng: Engine, entity_type: str | None = None, limit: int = 300) -> pd.DataFrame:
    """The newest audit entries, optionally of one entity type."""
    stmt = (
        select(
            col(AuditLog.at),
            col(AuditLog.actor),
            col(AuditLog.action),
            col(AuditLog.entity_type),
            col(AuditLog.entity_id),
            col(AuditLog.detail),
        )
        .order_by(col(AuditLog.id).desc())
        .limit(limit)
    )
    if entity_type:
        stmt = stmt.where(col(AuditLog.entity_type) == entity_type)
    df = pd.DataFrame(
        [dict(r._mapping) for r in _rows(eng, stmt)],
        columns=["at", "actor", "action", "entity_type", "entity_id", "detail"],
    )
    df["detail"] = [", ".join(f"{k}={v}" for k, v in (d or {}).items()) for d in df["detail"]]
    return df


@cached
def audit_entity_types(eng: Engine) -> list[str]:
    return [
        r[0]
        for r in _rows(eng, select(col(AuditLog.entity_type)).distinct().order_by(col(AuditLog.entity_type)))
    ]
