"""Deliver due outbox rows: claim (lease) -> check -> render -> send once -> record.

The retry stage (``_outcome``) is the only place that decides about retries: backoff
with jitter, ``Retry-After``, the attempt cap, dead letter, and fallback to the
subscriber's next channel after a final failure. Channels send once and return a
:class:`SendResult`. Every attempt is written to the audit log.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from alerting.channels import (
    Channel,
    Message,
    RateLimiter,
    SendResult,
    channel_for_subscriber,
    channel_for_url,
)
from alerting.errors import AlertingError
from alerting.outbox import Claimed, claim, enqueue, finish
from alerting.render import confirm_url, render_notice, render_opt_in, unsubscribe_url
from alerting.rules import active_silence, quiet_until, retry_delay
from config import Settings
from storage.db import session_scope
from storage.models import Alert, AuditLog, Delivery, Notice, Silence, Subscriber, SubscriberChannel, utcnow

log = logging.getLogger(__name__)

FINAL = ("sent", "failed", "dead", "skipped")
FORMATS = {"email": ("text", "html"), "sms": ("sms",)}  # what each subscriber channel kind needs; others: text
_LIMITERS: dict[tuple[str, float], RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter(key: str, rate: float) -> RateLimiter:
    """One process-wide token bucket per channel key and rate."""
    with _LIMITERS_LOCK:
        lim = _LIMITERS.get((key, rate))
        if lim is None:
            lim = _LIMITERS[(key, rate)] = RateLimiter(rate)
        return lim


@dataclass
class DeliveryStats:
    claimed: int = 0
    sent: int = 0
    retried: int = 0  # back to pending with a later next_attempt_at
    fell_back: int = 0  # final failure, next channel of the subscriber queued
    dead: int = 0  # dead letter: no channel left, attempts exhausted or permanent error
    skipped: int = 0  # unsubscribed, notice withdrawn, channel silenced (alerts)
    deferred: int = 0  # channel silenced (notices): waits for the silence to end
    reclaimed: int = 0  # rows re-taken after a dead worker's lease ran out
    lost_lease: int = 0  # outcome not written: another worker owns the row now
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, other: DeliveryStats) -> None:
        for name in ("claimed", "sent", "retried", "fell_back", "dead", "skipped", "deferred", "reclaimed",
                     "lost_lease"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.reasons.update(other.reasons)


@dataclass
class _Job:
    row: Claimed
    channel: Channel | None = None
    message: Message | None = None
    rate_key: str = ""
    rate: float = 10.0
    pre: SendResult | None = None  # decided without sending (bad config)
    skip: str | None = None  # skip reason
    defer_until: datetime | None = None
    quiet: tuple[int | None, int | None, str] | None = None  # the subscriber's quiet hours (retries respect them)


class _Batch:
    """Everything one deliver_due call loads once: rows, notices, subscribers, channels."""

    def __init__(self, settings: Settings, session: Session, rows: list[Claimed], now: datetime) -> None:
        self.settings = settings
        self.now = now
        nids = {r.notice_id for r in rows if r.notice_id}
        aids = {r.alert_id for r in rows if r.alert_id}
        sids = {r.subscriber_id for r in rows if r.subscriber_id}
        self.notices = {n.id: n for n in session.exec(select(Notice).where(col(Notice.id).in_(nids)))} if nids else {}
        self.alerts = {a.id: a for a in session.exec(select(Alert).where(col(Alert.id).in_(aids)))} if aids else {}
        self.subs = ({s.id: s for s in session.exec(select(Subscriber).where(col(Subscriber.id).in_(sids)))}
                     if sids else {})
        self.silences = list(session.exec(select(Silence).where(Silence.ends_at > now, Silence.starts_at <= now)))
        self.team = {c.name: c for c in settings.alerting.team_channels}
        self.channels: dict[str, Channel] = {}

    def channel(self, key: str, build: Callable[[], Channel]) -> Channel:
        ch = self.channels.get(key)
        if ch is None:
            ch = self.channels[key] = build()
        return ch

    def close(self) -> None:
        for ch in self.channels.values():
            ch.close()

    def job(self, row: Claimed) -> _Job:
        job = _Job(row)
        a = self.settings.alerting
        try:
            if row.alert_id is not None:
                alert = self.alerts.get(row.alert_id)
                team = self.team.get(row.address)
                if alert is None:
                    job.skip = "alert_missing"
                    return job
                if active_silence(self.silences, self.now, channel=row.address) or active_silence(
                        self.silences, self.now, channel="team"):
                    job.skip = "silenced"
                    return job
                if team is None:
                    job.pre = SendResult.permanent("bad_config", f"team channel {row.address!r} is not configured")
                    return job
                job.channel = self.channel("team:" + team.name,
                                           lambda: channel_for_url(team.url.get_secret_value(), self.settings))
                job.rate_key, job.rate = "team:" + team.name, team.rate_per_second
                job.message = Message(subject=alert.title, text=alert.body, idempotency_key=row.idempotency_key,
                                      data={"alert_id": alert.id, "kind": alert.kind, "issue_ids": alert.issue_ids})
                return job
            notice = self.notices.get(row.notice_id) if row.notice_id else None
            sub = self.subs.get(row.subscriber_id) if row.subscriber_id else None
            if row.idempotency_key.startswith("optin:") and sub is not None:
                return self._opt_in(job, sub)
            if notice is None or sub is None:
                job.skip = "notice_or_subscriber_missing"
                return job
            if notice.status in ("rejected", "draft"):
                job.skip = "notice_withdrawn"
                return job
            if sub.unsubscribed_at is not None:
                job.skip = "unsubscribed"
                return job
            job.quiet = (sub.quiet_hours_start, sub.quiet_hours_end, sub.timezone)
            sil = active_silence(self.silences, self.now, channel=row.channel)
            if sil is not None:
                job.defer_until = sil.ends_at
                return job
            job.channel = self.channel(f"{row.channel}:{row.address}",
                                       lambda: channel_for_subscriber(row.channel, row.address, self.settings))
            job.rate_key = row.channel
            job.rate = a.channel_rates.get(row.channel, type(job.channel).rate_limit)
            unsub = unsubscribe_url(a.public_base_url, sub.unsubscribe_token)
            r = render_notice(kind=notice.kind, subject=notice.subject, body=notice.body, facts=notice.facts,
                              name=sub.name, unsubscribe=unsub, sms_max_chars=a.sms_max_chars,
                              formats=FORMATS.get(row.channel, ("text",)))
            data = {"notice_id": notice.id, "issue_id": notice.issue_id, "kind": notice.kind,
                    "facts": notice.facts, "unsubscribe_url": unsub}
            if row.channel == "sms":
                job.message = Message(subject="", text=r.sms, idempotency_key=row.idempotency_key, data=data)
            else:
                job.message = Message(
                    subject=r.subject, text=r.text, html=r.html if row.channel == "email" else None,
                    idempotency_key=row.idempotency_key, data=data,
                    headers={"List-Unsubscribe": f"<{unsub}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
                    if row.channel == "email" else {})
        except AlertingError as exc:
            job.pre = SendResult.permanent(exc.reason, str(exc))
        return job


    def _opt_in(self, job: _Job, sub: Subscriber) -> _Job:
        """The double opt-in request (no notice behind it)."""
        row, a = job.row, self.settings.alerting
        if sub.opt_in_confirmed_at is not None or not sub.opt_in_token or sub.unsubscribed_at is not None:
            job.skip = "already_confirmed"
            return job
        job.channel = self.channel(f"{row.channel}:{row.address}",
                                   lambda: channel_for_subscriber(row.channel, row.address, self.settings))
        job.rate_key = row.channel
        job.rate = a.channel_rates.get(row.channel, type(job.channel).rate_limit)
        r = render_opt_in(name=sub.name, topics=[*sub.products, *sub.regions, *sub.topics],
                          confirm=confirm_url(a.public_base_url, sub.opt_in_token), sms_max_chars=a.sms_max_chars)
        job.message = Message(subject=r.subject if row.channel != "sms" else "",
                              text=r.sms if row.channel == "sms" else r.text,
                              idempotency_key=row.idempotency_key, data={"kind": "opt_in"})
        return job


def _send(job: _Job) -> SendResult:
    assert job.channel is not None and job.message is not None
    try:
        limiter(job.rate_key, job.rate).acquire()
        return job.channel.send(job.message)
    except Exception as exc:  # noqa: BLE001 - a channel bug is a retryable failure, not a dead worker
        log.exception("channel %r raised", job.channel)
        return SendResult.retry("channel_error", f"{type(exc).__name__}: {str(exc)[:200]}")


def _fallback(session: Session, row: Claimed, now: datetime) -> Delivery | None:
    """Queue the subscriber's next channel after this one; None if there is none."""
    if row.notice_id is None or row.subscriber_id is None:
        return None
    chans = list(session.exec(select(SubscriberChannel).where(SubscriberChannel.subscriber_id == row.subscriber_id)
                              .order_by(col(SubscriberChannel.priority))))
    current = next((c.priority for c in chans if c.channel == row.channel and c.address == row.address), None)
    for c in chans:
        if current is not None and c.priority <= current:
            continue
        d = enqueue(session, key=f"notice:{row.notice_id}:sub:{row.subscriber_id}:ch:{c.id}", channel=c.channel,
                    address=c.address, notice_id=row.notice_id, subscriber_id=row.subscriber_id, now=now)
        if d is not None:
            return d
    return None


def _outcome(session: Session, settings: Settings, worker_id: str, job: _Job, result: SendResult | None,
             now: datetime, stats: DeliveryStats, audits: list[dict[str, Any]],
             sent: list[dict[str, Any]]) -> None:
    """The retry stage: write one row's outcome and its audit entry (successes are
    collected in ``sent`` and written together by ``_finish_sent``)."""
    a = settings.alerting
    row = job.row
    detail: dict[str, Any] = {"key": row.idempotency_key, "channel": row.channel, "attempt": row.attempts,
                              "worker": worker_id}
    if row.reclaimed:  # the previous holder died mid-send: that attempt's outcome is unknown, same key re-sent
        detail["reclaimed"] = True
    if job.skip:
        ok = finish(session, row.id, worker_id, status="skipped", last_error=job.skip)
        action, stats_field = "delivery.skipped", "skipped"
        detail["reason"] = job.skip
    elif job.defer_until is not None:
        ok = finish(session, row.id, worker_id, status="pending", next_attempt_at=job.defer_until,
                    attempts=row.attempts - 1, claimed_by=None)
        action, stats_field = "delivery.deferred", "deferred"
        detail["until"] = job.defer_until.isoformat()
    else:
        assert result is not None
        detail.update(reason=result.reason, status_code=result.status_code, detail=result.detail)
        stats.reasons[result.reason] += 1
        if result.ok:
            sent.append({"b_id": row.id, "b_at": now, "b_code": result.status_code})
            audits.append({"at": utcnow(), "actor": "system", "action": "delivery.sent", "entity_type": "delivery",
                           "entity_id": row.id, "detail": detail})
            return
        elif result.retryable and row.attempts < a.max_attempts:
            delay = retry_delay(row.attempts, a.backoff_base, a.backoff_max, result.retry_after)
            nxt = now + timedelta(seconds=delay)
            if job.quiet is not None:  # a retry does not wake a customer at night either
                nxt = quiet_until(nxt, *job.quiet) or nxt
            ok = finish(session, row.id, worker_id, status="pending", next_attempt_at=nxt, claimed_by=None,
                        last_error=f"{result.reason}: {result.detail}"[:2000], last_status_code=result.status_code)
            action, stats_field = "delivery.retry", "retried"
            detail.update(next_attempt_at=nxt.isoformat(), delay_s=round(delay, 3), retry_after=result.retry_after)
        else:
            why = result.reason if not result.retryable else f"{result.reason} (after {row.attempts} attempts)"
            fb = _fallback(session, row, now) if row.notice_id is not None else None
            status = "failed" if fb is not None else "dead"
            ok = finish(session, row.id, worker_id, status=status, last_status_code=result.status_code,
                        last_error=f"{why}: {result.detail}"[:2000])
            action, stats_field = ("delivery.fallback", "fell_back") if fb is not None else ("delivery.dead", "dead")
            if fb is not None:
                detail.update(fallback_channel=fb.channel, fallback_key=fb.idempotency_key)
    if not ok:
        stats.lost_lease += 1
        detail["lost_lease"] = True
    else:
        setattr(stats, stats_field, getattr(stats, stats_field) + 1)
    audits.append({"at": utcnow(), "actor": "system", "action": action, "entity_type": "delivery",
                   "entity_id": row.id, "detail": detail})


def _finish_sent(session: Session, worker_id: str, sent: list[dict[str, Any]], stats: DeliveryStats,
                 audits: list[dict[str, Any]]) -> None:
    """Mark successful rows 'sent' in one statement, only where the row is still ours."""
    if not sent:
        return
    stmt = (update(Delivery.__table__)  # type: ignore[attr-defined]
            .where(Delivery.__table__.c.id == bindparam("b_id"), Delivery.__table__.c.status == "sending",  # type: ignore[attr-defined]
                   Delivery.__table__.c.claimed_by == worker_id)  # type: ignore[attr-defined]
            .values(status="sent", sent_at=bindparam("b_at"), last_status_code=bindparam("b_code"),
                    claimed_until=None, last_error=None))
    written = session.connection().execute(stmt, sent).rowcount
    stats.sent += written
    if written != len(sent):  # another worker took some over after our lease ran out
        ids = [p["b_id"] for p in sent]
        lost = set(session.execute(select(Delivery.id).where(  # type: ignore[call-overload]
            col(Delivery.id).in_(ids), col(Delivery.claimed_by) != worker_id)).scalars())
        stats.lost_lease += len(sent) - written
        for a in audits:
            if a["entity_id"] in lost and a["action"] == "delivery.sent":
                a["detail"] = {**a["detail"], "lost_lease": True}


def _roll_up(session: Session, rows: list[Claimed]) -> None:
    """Alert 'pending' -> 'sent' once a delivery went out; notice 'queued' -> 'done' when none is open."""
    aids = {r.alert_id for r in rows if r.alert_id}
    for aid in aids:
        if session.exec(select(Delivery.id).where(Delivery.alert_id == aid, Delivery.status == "sent")).first():
            session.execute(update(Alert).where(col(Alert.id) == aid, col(Alert.status) == "pending")
                            .values(status="sent"))
    nids = {r.notice_id for r in rows if r.notice_id}
    for nid in nids:
        open_row = session.exec(select(Delivery.id).where(
            Delivery.notice_id == nid, col(Delivery.status).in_(("pending", "sending")))).first()
        if open_row is None:
            session.execute(update(Notice).where(col(Notice.id) == nid, col(Notice.status) == "queued")
                            .values(status="done"))


def deliver_due(settings: Settings, engine: Engine, worker_id: str, now: datetime | None = None,
                limit: int = 100, *, flush_every: int = 50) -> DeliveryStats:
    """Claim up to ``limit`` due deliveries, send them (concurrently, rate-limited), record outcomes."""
    fixed = now is not None  # tests pass a clock; otherwise outcomes are stamped with the real time
    now = now or utcnow()
    a = settings.alerting
    stats = DeliveryStats()
    rows = claim(engine, worker_id, now, limit, a.lease)
    if not rows:
        return stats
    stats.claimed = len(rows)
    stats.reclaimed = sum(1 for r in rows if r.reclaimed)
    with Session(engine, expire_on_commit=False) as s:
        batch = _Batch(settings, s, rows, now)
        jobs = [batch.job(r) for r in rows]
    try:
        pending: list[tuple[_Job, SendResult | None]] = [(j, j.pre) for j in jobs if j.pre or j.skip or j.defer_until]
        to_send = [j for j in jobs if not (j.pre or j.skip or j.defer_until)]

        def flush(items: list[tuple[_Job, SendResult | None]]) -> None:
            if not items:
                return
            audits: list[dict[str, Any]] = []
            sent: list[dict[str, Any]] = []
            with session_scope(engine) as s:
                for job, res in items:
                    _outcome(s, settings, worker_id, job, res, now if fixed else utcnow(), stats, audits, sent)
                _finish_sent(s, worker_id, sent, stats, audits)
                s.execute(insert(AuditLog.__table__), audits)  # type: ignore[attr-defined]  # one statement per flush
            items.clear()

        flush(pending)
        if to_send:
            with ThreadPoolExecutor(max_workers=min(a.concurrency, len(to_send)),
                                    thread_name_prefix="fruehwarn-send") as pool:
                futures: dict[Future[SendResult], _Job] = {pool.submit(_send, j): j for j in to_send}
                for fut in as_completed(futures):
                    pending.append((futures[fut], fut.result()))
                    if len(pending) >= flush_every:
                        flush(pending)
            flush(pending)
        with session_scope(engine) as s:
            _roll_up(s, rows)
    finally:
        batch.close()
    return stats


def drain(settings: Settings, engine: Engine, worker_id: str, *, limit: int = 200,
          max_rounds: int = 1_000_000) -> DeliveryStats:
    """Call deliver_due until nothing is due now (retries scheduled later stay queued)."""
    total = DeliveryStats()
    for _ in range(max_rounds):
        st = deliver_due(settings, engine, worker_id, limit=limit)
        total.add(st)
        if st.claimed == 0:
            break
    return total
