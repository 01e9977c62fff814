"""Routing: which outbox rows an alert or an approved notice turns into."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from alerting.outbox import enqueue, enqueue_many
from alerting.rules import active_silence, quiet_until
from alerting.subscribers import channels_of
from config import Settings
from storage.models import Delivery, Silence, Subscriber


def route_alert(session: Session, settings: Settings, alert_id: int, kind: str, silences: Sequence[Silence],
                now: datetime) -> list[str]:
    """Queue the alert to every team channel that takes this kind and is not silenced; return their names."""
    names = []
    for ch in settings.alerting.team_channels:
        if kind not in ch.events:
            continue
        if active_silence(silences, now, channel=ch.name) or active_silence(silences, now, channel="team"):
            continue
        if enqueue(session, key=f"alert:{alert_id}:team:{ch.name}", channel="team", address=ch.name,
                   alert_id=alert_id, now=now) is not None:
            names.append(ch.name)
    return names


def route_notice(session: Session, notice_id: int, subscribers: Sequence[Subscriber], now: datetime,
                 preferred: dict[int, tuple[str, str]] | None = None) -> int:
    """Queue one notice to each subscriber's first channel (or ``preferred`` kind/address),
    held back until their quiet hours end; return the number of new rows."""
    chans = channels_of(session, [s.id for s in subscribers if s.id is not None])
    rows = []
    for sub in subscribers:
        assert sub.id is not None
        options = chans.get(sub.id, [])
        if not options:
            continue
        first = options[0]
        if preferred and sub.id in preferred:
            kind, addr = preferred[sub.id]
            first = next((c for c in options if c.channel == kind and c.address == addr), first)
        not_before = quiet_until(now, sub.quiet_hours_start, sub.quiet_hours_end, sub.timezone)
        rows.append({"key": f"notice:{notice_id}:sub:{sub.id}:ch:{first.id}", "channel": first.channel,
                     "address": first.address, "notice_id": notice_id, "subscriber_id": sub.id,
                     "not_before": not_before})
    return enqueue_many(session, rows, now)


def recipients_of(session: Session, notice_id: int) -> dict[int, tuple[str, str]]:
    """Subscribers a notice went (or is going) to, with the channel that reached them last."""
    rows = session.exec(select(Delivery).where(Delivery.notice_id == notice_id,
                                               col(Delivery.status).in_(("sent", "sending", "pending")))
                        .order_by(col(Delivery.id))).all()
    out: dict[int, tuple[str, str]] = {}
    for d in rows:
        if d.subscriber_id is not None:
            out[d.subscriber_id] = (d.channel, d.address)
    return out
