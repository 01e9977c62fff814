"""Delivery through the outbox to real receivers: retries, Retry-After, fallback, dead
letter, lease re-claim, quiet hours, SMS length, silences, rate limit, audit."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from alerting.channels import RateLimiter
from alerting.delivery import deliver_due
from alerting.outbox import claim
from alerting.stage import process
from alerting.subscribers import add_subscriber
from config import Settings
from storage.db import session_scope
from storage.models import Alert, AuditLog, Delivery, Notice, Silence, Subscriber
from tests.alerting.conftest import T0, make_issue, with_alerting
from tests.alerting.servers import Answer, SmtpSink, WebhookReceiver


def _approved_notice(st: Settings, engine: Engine, channels: list[tuple[str, str]], *, now: datetime = T0,
                     quiet_hours: tuple[int, int] | None = None) -> int:
    with session_scope(engine) as s:
        add_subscriber(s, name="Jana Müller", channels=channels, products=["Mobilfunk"], regions=["Hamburg"],
                       confirmed=True, quiet_hours=quiet_hours)
    make_issue(engine)
    process(st, engine, now=now)
    with session_scope(engine) as s:
        n = s.exec(select(Notice)).one()
        n.status, n.approved_by, n.approved_at = "approved", "agentin", now
        s.add(n)
        nid = n.id
    process(st, engine, now=now)
    assert nid is not None
    return nid


def _deliveries(engine: Engine, **where: object) -> list[Delivery]:
    with session_scope(engine) as s:
        q = select(Delivery).order_by(Delivery.id)  # type: ignore[arg-type]
        for k, v in where.items():
            q = q.where(getattr(Delivery, k) == v)
        return list(s.exec(q).all())


def test_alert_reaches_team_webhook_and_mailbox(settings: Settings, engine: Engine, webhook: WebhookReceiver,
                                                smtp: SmtpSink) -> None:
    st = with_alerting(settings, smtp_port=smtp.port, team_channels=[
        {"name": "hook", "url": webhook.url("/team")}, {"name": "mail", "url": "mailto://social-care@example.org"}])
    make_issue(engine)
    process(st, engine, now=T0)
    stats = deliver_due(st, engine, "w1", now=T0)
    assert (stats.claimed, stats.sent) == (2, 2)
    assert webhook.requests[0]["body"]["title"].startswith("[NEU] Mobilfunk Störung Hamburg")
    assert smtp.messages[0]["Subject"].startswith("[NEU] Mobilfunk Störung Hamburg")
    assert smtp.messages[0]["To"] == "social-care@example.org"
    with session_scope(engine) as s:
        assert s.exec(select(Alert)).one().status == "sent"
        sent = s.exec(select(AuditLog).where(AuditLog.action == "delivery.sent")).all()
        assert len(sent) == 2 and {e.detail["attempt"] for e in sent} == {1}


def test_429_retry_after_is_honoured_and_resend_keeps_the_key(settings: Settings, engine: Engine,
                                                                webhook: WebhookReceiver) -> None:
    st = with_alerting(settings, backoff_max=3600)
    _approved_notice(st, engine, [("webhook", webhook.url("/kunde"))])
    webhook.plan["/kunde"] = [Answer(429, {"Retry-After": "120"})]
    stats = deliver_due(st, engine, "w1", now=T0)
    assert stats.retried == 1 and stats.reasons["rate_limited"] == 1
    row = _deliveries(engine)[0]
    assert row.status == "pending" and row.next_attempt_at >= T0 + timedelta(seconds=120)
    assert deliver_due(st, engine, "w1", now=T0 + timedelta(seconds=60)).claimed == 0  # not before Retry-After
    assert deliver_due(st, engine, "w1", now=T0 + timedelta(seconds=121)).sent == 1
    keys = [r["key"] for r in webhook.requests]
    assert len(keys) == 2 and keys[0] == keys[1] == row.idempotency_key
    body = webhook.accepted[row.idempotency_key]
    assert "Abmelden mit einem Klick: http://127.0.0.1:8502/unsubscribe?token=" in body["text"]
    assert body["data"]["kind"] == "incident" and "Hallo Jana Müller" in body["text"]
    with session_scope(engine) as s:
        assert s.exec(select(Notice)).one().status == "done"


def test_server_errors_back_off_then_dead_letter(settings: Settings, engine: Engine, webhook: WebhookReceiver) -> None:
    st = with_alerting(settings, max_attempts=3, backoff_base=10, backoff_max=100)
    _approved_notice(st, engine, [("webhook", webhook.url("/kunde"))])
    webhook.plan["/kunde"] = [Answer(500), Answer(503), Answer(502)]
    now = T0
    delays = []
    for _ in range(3):
        assert deliver_due(st, engine, "w1", now=now).claimed == 1
        row = _deliveries(engine)[0]
        if row.status == "pending":
            delays.append((row.next_attempt_at - now).total_seconds())
            now = row.next_attempt_at
    assert row.status == "dead" and row.attempts == 3 and "after 3 attempts" in (row.last_error or "")
    assert 5 <= delays[0] <= 10 and 10 <= delays[1] <= 20  # exponential with jitter
    assert deliver_due(st, engine, "w1", now=now + timedelta(days=1)).claimed == 0  # dead stays dead
    with session_scope(engine) as s:
        actions = [e.action for e in s.exec(select(AuditLog).where(AuditLog.entity_type == "delivery"))]
        assert actions == ["delivery.retry", "delivery.retry", "delivery.dead"]


def test_permanent_failure_falls_back_to_next_channel(settings: Settings, engine: Engine, webhook: WebhookReceiver,
                                                      smtp: SmtpSink) -> None:
    st = with_alerting(settings, smtp_port=smtp.port)
    _approved_notice(st, engine, [("webhook", webhook.url("/kunde")), ("email", "jana@example.org")])
    webhook.plan["/kunde"] = [Answer(410)]
    stats = deliver_due(st, engine, "w1", now=T0)
    assert stats.fell_back == 1 and stats.reasons["rejected"] == 1
    stats = deliver_due(st, engine, "w1", now=T0)
    assert stats.sent == 1
    rows = _deliveries(engine)
    assert [(r.channel, r.status) for r in rows] == [("webhook", "failed"), ("email", "sent")]
    assert len(smtp.messages) == 1 and smtp.messages[0]["Subject"].startswith("Störung bei Mobilfunk")
    html = smtp.messages[0].get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Mit einem Klick abmelden" in html
    assert smtp.messages[0]["List-Unsubscribe"].startswith("<http://127.0.0.1:8502/unsubscribe?token=")


def test_bad_address_with_no_fallback_is_dead(settings: Settings, engine: Engine, smtp: SmtpSink) -> None:
    st = with_alerting(settings, smtp_port=smtp.port)
    smtp.refuse.add("jana@example.org")
    _approved_notice(st, engine, [("email", "jana@example.org")])
    assert deliver_due(st, engine, "w1", now=T0).dead == 1
    row = _deliveries(engine)[0]
    assert row.status == "dead" and row.last_status_code == 550 and row.attempts == 1


def test_unsubscribed_is_skipped(settings: Settings, engine: Engine, webhook: WebhookReceiver) -> None:
    _approved_notice(settings, engine, [("webhook", webhook.url("/kunde"))])
    with session_scope(engine) as s:
        sub = s.exec(select(Subscriber)).one()
        sub.unsubscribed_at = T0
        s.add(sub)
    assert deliver_due(settings, engine, "w1", now=T0).skipped == 1
    assert webhook.requests == [] and _deliveries(engine)[0].status == "skipped"


def test_lease_reclaim_after_a_dead_worker_sends_same_key(settings: Settings, engine: Engine,
                                                          webhook: WebhookReceiver) -> None:
    st = with_alerting(settings, lease=60)
    _approved_notice(st, engine, [("webhook", webhook.url("/kunde"))])
    taken = claim(engine, "dead-worker", T0, 10, 60)  # claimed, then the worker "dies"
    assert len(taken) == 1
    assert deliver_due(st, engine, "w2", now=T0 + timedelta(seconds=30)).claimed == 0  # lease still held
    stats = deliver_due(st, engine, "w2", now=T0 + timedelta(seconds=61))
    assert (stats.claimed, stats.reclaimed, stats.sent) == (1, 1, 1)
    row = _deliveries(engine)[0]
    assert row.attempts == 2 and webhook.requests[0]["key"] == taken[0].idempotency_key == row.idempotency_key
    with session_scope(engine) as s:
        entry = s.exec(select(AuditLog).where(AuditLog.action == "delivery.sent")).one()
        assert entry.detail["reclaimed"] is True and entry.detail["attempt"] == 2 and entry.detail["worker"] == "w2"


def test_quiet_hours_hold_a_notice_until_morning(settings: Settings, engine: Engine, webhook: WebhookReceiver) -> None:
    night = datetime(2026, 11, 23, 22, 30)  # 23:30 in Berlin
    _approved_notice(settings, engine, [("webhook", webhook.url("/kunde"))], now=night, quiet_hours=(22, 7))
    row = _deliveries(engine, channel="webhook")[0]
    assert row.next_attempt_at == datetime(2026, 11, 24, 6, 0)
    assert deliver_due(settings, engine, "w1", now=night + timedelta(hours=1)).claimed == 0
    webhook.plan["/kunde"] = [Answer(503)]  # 07:01 Berlin: fails; the retry is in the day, not in quiet hours
    assert deliver_due(settings, engine, "w1", now=datetime(2026, 11, 24, 6, 1)).retried == 1
    assert deliver_due(settings, engine, "w1", now=datetime(2026, 11, 24, 6, 2)).sent == 1


def test_a_retry_does_not_fall_into_quiet_hours(settings: Settings, engine: Engine, webhook: WebhookReceiver) -> None:
    st = with_alerting(settings, backoff_base=10)
    evening = datetime(2026, 11, 24, 20, 59, 55)  # 21:59:55 in Berlin; the retry (5-10 s later) would be at night
    _approved_notice(st, engine, [("webhook", webhook.url("/kunde"))], now=evening, quiet_hours=(22, 7))
    webhook.plan["/kunde"] = [Answer(503)]
    assert deliver_due(st, engine, "w1", now=evening).retried == 1
    assert _deliveries(engine)[0].next_attempt_at == datetime(2026, 11, 25, 6, 0)  # 07:00 in Berlin


def test_sms_through_gateway_is_length_limited(settings: Settings, engine: Engine, webhook: WebhookReceiver) -> None:
    st = with_alerting(settings, sms_gateway_url=webhook.url("/sms") + "?to={to}", sms_max_chars=160)
    _approved_notice(st, engine, [("sms", "+49 151 2345678")])
    assert deliver_due(st, engine, "w1", now=T0).sent == 1
    req = webhook.requests[0]
    assert req["path"] == "/sms?to=+491512345678"
    assert len(req["body"]["text"]) <= 160 and "Abmelden: http://127.0.0.1:8502/unsubscribe?token=" in req["body"]["text"]
    assert req["body"]["text"].startswith("Uns ist eine Störung bei Mobilfunk in Hamburg bekannt")


def test_channel_silence_defers_notices(settings: Settings, engine: Engine, webhook: WebhookReceiver) -> None:
    _approved_notice(settings, engine, [("webhook", webhook.url("/kunde"))])
    with session_scope(engine) as s:
        s.add(Silence(channel="webhook", starts_at=T0, ends_at=T0 + timedelta(hours=1)))
    assert deliver_due(settings, engine, "w1", now=T0).deferred == 1
    row = _deliveries(engine)[0]
    assert row.status == "pending" and row.next_attempt_at == T0 + timedelta(hours=1) and row.attempts == 0
    assert deliver_due(settings, engine, "w1", now=T0 + timedelta(hours=1, seconds=1)).sent == 1


def test_missing_sms_gateway_is_a_clear_permanent_error(settings: Settings, engine: Engine, smtp: SmtpSink) -> None:
    st = with_alerting(settings, smtp_port=smtp.port)
    _approved_notice(st, engine, [("sms", "+49 151 2345678"), ("email", "jana@example.org")])
    assert deliver_due(st, engine, "w1", now=T0).fell_back == 1
    assert "sms_gateway_url" in (_deliveries(engine)[0].last_error or "")
    assert deliver_due(st, engine, "w1", now=T0).sent == 1 and len(smtp.messages) == 1


def test_double_opt_in_request_is_sent_and_its_link_confirms(settings: Settings, engine: Engine,
                                                               smtp: SmtpSink) -> None:
    from alerting.subscribers import confirm_opt_in

    st = with_alerting(settings, smtp_port=smtp.port, public_base_url="https://service.example.org")
    with session_scope(engine) as s:
        add_subscriber(s, name="Jörg", channels=[("email", "joerg@example.org")], products=["Glasfaser"], now=T0)
    assert deliver_due(st, engine, "w1", now=T0).sent == 1
    text = smtp.messages[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert smtp.messages[0]["Subject"] == "Bitte bestätigen Sie Ihre Anmeldung für Servicehinweise"
    assert "Hallo Jörg" in text and "Glasfaser" in text
    token = text.split("https://service.example.org/confirm?token=", 1)[1].split()[0]
    with session_scope(engine) as s:
        assert confirm_opt_in(s, token).opt_in_confirmed_at is not None
    assert deliver_due(st, engine, "w1", now=T0 + timedelta(days=1)).claimed == 0  # sent once


def test_rate_limiter_spaces_messages() -> None:
    lim = RateLimiter(20, burst=1)
    start = time.monotonic()
    for _ in range(6):
        lim.acquire()
    assert time.monotonic() - start >= 5 / 20 * 0.9
    with pytest.raises(Exception, match="positive"):
        RateLimiter(0)
