"""The alerting stage over Issue rows: alerts (grouped, deduped, cooldown, silences,
escalation), notice drafts, approval, queueing, resolved follow-ups, audit."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import select

from alerting.stage import process
from alerting.subscribers import add_subscriber
from config import Settings
from storage.db import session_scope
from storage.models import Alert, AuditLog, Delivery, Notice, Silence
from tests.alerting.conftest import T0, make_issue, set_issue, with_alerting

TEAM = [{"name": "team-hook", "url": "json://127.0.0.1:9/team"},
        {"name": "team-mail", "url": "mailto://social-care@example.org", "events": ["new", "escalation"]}]


def _settings(settings: Settings, **kw: object) -> Settings:
    return with_alerting(settings, team_channels=TEAM, **kw)


def _subscribers(engine: Engine) -> None:
    with session_scope(engine) as s:
        add_subscriber(s, name="Jana", channels=[("webhook", "json://127.0.0.1:9/kunden"), ("email", "jana@example.org")],
                       products=["Mobilfunk"], regions=["Hamburg"], confirmed=True)
        add_subscriber(s, name="Lukas", channels=[("email", "lukas@example.org")], products=["Mobilfunk"],
                       regions=["München"], confirmed=True)
        add_subscriber(s, name="Sophie", channels=[("email", "sophie@example.org")], topics=["störung"],
                       confirmed=True)


def _rows(engine: Engine, model: type) -> list:  # type: ignore[type-arg]
    with session_scope(engine) as s:
        return list(s.exec(select(model).order_by(model.id)).all())  # type: ignore[attr-defined]


def test_new_issues_grouped_into_one_alert_and_processing_is_idempotent(settings: Settings, engine: Engine) -> None:
    st = _settings(settings)
    a, b = make_issue(engine), make_issue(engine, title="App stürzt ab", keywords=["app", "absturz"])
    res = process(st, engine, now=T0)
    assert (res.alerts, res.notices_drafted, res.deliveries_enqueued) == (1, 2, 2)
    alerts = _rows(engine, Alert)
    assert len(alerts) == 1 and sorted(alerts[0].issue_ids) == [a, b] and alerts[0].kind == "new"
    assert alerts[0].title.startswith("[NEU] 2 Themen") and "Mobilfunk Störung Hamburg" in alerts[0].body
    keys = sorted(d.idempotency_key for d in _rows(engine, Delivery))
    assert keys == [f"alert:{alerts[0].id}:team:team-hook", f"alert:{alerts[0].id}:team:team-mail"]
    again = process(st, engine, now=T0 + timedelta(seconds=30))
    assert not any(again.as_dict().values())
    assert len(_rows(engine, Alert)) == 1 and len(_rows(engine, Delivery)) == 2 and len(_rows(engine, Notice)) == 2
    assert {e.action for e in _rows(engine, AuditLog)} >= {"alert.created", "notice.drafted"}


def test_draft_needs_approval_then_goes_to_affected_subscribers(settings: Settings, engine: Engine) -> None:
    st = _settings(settings)
    _subscribers(engine)
    iid = make_issue(engine)
    process(st, engine, now=T0)
    notice = _rows(engine, Notice)[0]
    assert notice.status == "draft" and notice.kind == "incident"
    assert notice.body.startswith("Uns ist eine Störung bei Mobilfunk in Hamburg bekannt (seit 23.11.2026, 10:00 Uhr)")
    assert notice.subject == "Störung bei Mobilfunk in Hamburg: wir arbeiten daran"
    assert notice.facts["regions"] == ["Hamburg"] and notice.facts["products"] == ["Mobilfunk"]
    assert notice.facts["affected_subscribers"] == 2
    assert not [d for d in _rows(engine, Delivery) if d.notice_id]  # nothing goes out without approval
    with session_scope(engine) as s:  # what the dashboard does
        n = s.get(Notice, notice.id)
        n.status, n.approved_by, n.approved_at = "approved", "agentin", T0  # type: ignore[union-attr]
        n.body = "Bearbeiteter Text: Störung im Mobilfunknetz Hamburg."  # type: ignore[union-attr]
        s.add(n)
    res = process(st, engine, now=T0 + timedelta(minutes=1))
    assert res.notices_queued == 1 and res.deliveries_enqueued == 2
    nd = [d for d in _rows(engine, Delivery) if d.notice_id]
    assert sorted((d.channel, d.address) for d in nd) == [("email", "sophie@example.org"),
                                                          ("webhook", "json://127.0.0.1:9/kunden")]
    assert _rows(engine, Notice)[0].status == "queued"
    queued = [e for e in _rows(engine, AuditLog) if e.action == "notice.queued"]
    assert queued[0].actor == "agentin" and queued[0].detail["recipients"] == 2
    # resolved: a "behoben" follow-up to exactly those who got the incident notice, on the same channel
    with session_scope(engine) as s:
        for d in s.exec(select(Delivery).where(Delivery.notice_id == notice.id)).all():
            d.status = "sent"
            s.add(d)
    set_issue(engine, iid, status="resolved", resolved_at=T0 + timedelta(hours=1))
    res = process(st, engine, now=T0 + timedelta(hours=1))
    assert res.notices_drafted == 1 and res.alerts == 1
    resolved = [n for n in _rows(engine, Notice) if n.kind == "resolved"][0]
    assert resolved.status == "draft" and "ist behoben" in resolved.body  # a person approved the first one
    assert [a.kind for a in _rows(engine, Alert)] == ["new", "resolved"]
    # team-mail does not take "resolved" alerts
    assert sum(1 for d in _rows(engine, Delivery) if d.alert_id == _rows(engine, Alert)[1].id) == 1
    with session_scope(engine) as s:
        n = s.get(Notice, resolved.id)
        n.status, n.approved_by = "approved", "agentin"  # type: ignore[union-attr]
        s.add(n)
    process(st, engine, now=T0 + timedelta(hours=1, minutes=1))
    fd = sorted((d.channel, d.address) for d in _rows(engine, Delivery) if d.notice_id == resolved.id)
    assert fd == [("email", "sophie@example.org"), ("webhook", "json://127.0.0.1:9/kunden")]


def test_auto_approval_rule_and_auto_follow_up(settings: Settings, engine: Engine) -> None:
    st = _settings(settings, auto_approve_min_severity=70.0)
    _subscribers(engine)
    low, high = make_issue(engine, severity=50), make_issue(engine, severity=85)
    res = process(st, engine, now=T0)
    assert res.notices_auto_approved == 1
    by_issue = {n.issue_id: n for n in _rows(engine, Notice)}
    assert by_issue[low].status == "draft"
    assert by_issue[high].status == "queued" and by_issue[high].approved_by == "auto"
    set_issue(engine, high, status="resolved", resolved_at=T0 + timedelta(hours=2))
    set_issue(engine, low, status="resolved", resolved_at=T0 + timedelta(hours=2))
    res = process(st, engine, now=T0 + timedelta(hours=2))
    assert res.notices_withdrawn == 1  # the unapproved draft of the low issue is dropped, nothing sent
    notices = _rows(engine, Notice)
    assert [n.status for n in notices if n.issue_id == low] == ["rejected"]
    follow = [n for n in notices if n.issue_id == high and n.kind == "resolved"]
    assert len(follow) == 1 and follow[0].status == "queued" and follow[0].approved_by == "auto"


def test_cooldown_on_reopen_and_update_on_rising_severity(settings: Settings, engine: Engine) -> None:
    st = _settings(settings, issue_cooldown=1800, escalate_severity_delta=20, escalate_after=86400)
    iid = make_issue(engine, severity=40)
    process(st, engine, now=T0)
    set_issue(engine, iid, severity=55)
    assert process(st, engine, now=T0 + timedelta(minutes=5)).alerts == 0  # rise below delta
    set_issue(engine, iid, severity=70)
    assert process(st, engine, now=T0 + timedelta(minutes=10)).alerts == 0  # in cooldown
    res = process(st, engine, now=T0 + timedelta(minutes=31))
    assert res.alerts == 1 and _rows(engine, Alert)[-1].kind == "update"
    set_issue(engine, iid, severity=95)  # a second rise, after the cooldown: a second update (not deduplicated away)
    assert process(st, engine, now=T0 + timedelta(minutes=62)).alerts == 1
    assert [a.kind for a in _rows(engine, Alert)] == ["new", "update", "update"]
    set_issue(engine, iid, status="resolved", resolved_at=T0 + timedelta(minutes=65))
    process(st, engine, now=T0 + timedelta(minutes=65))
    set_issue(engine, iid, status="open", reopened_count=1, resolved_at=None)
    res = process(st, engine, now=T0 + timedelta(minutes=70))
    assert res.alerts == 0 and res.suppressed == 1  # re-opened within the cooldown: no second alert
    assert res.notices_drafted == 1  # but a fresh incident draft for the new round
    assert [a.kind for a in _rows(engine, Alert)] == ["new", "update", "update", "resolved"]


def test_silence_mutes_topic_and_channel(settings: Settings, engine: Engine) -> None:
    st = _settings(settings, escalate_after=86400)
    muted, loud = make_issue(engine), make_issue(engine, title="App", keywords=["app"])
    with session_scope(engine) as s:
        from storage.models import Issue
        topic = s.get(Issue, muted).topic_id  # type: ignore[union-attr]
        s.add(Silence(topic_id=topic, starts_at=T0 - timedelta(minutes=1), ends_at=T0 + timedelta(hours=1), reason="bekannt"))
        s.add(Silence(channel="team-mail", starts_at=T0 - timedelta(minutes=1), ends_at=T0 + timedelta(hours=1)))
    res = process(st, engine, now=T0)
    assert res.alerts == 1 and res.alerts_silenced == 1
    alerts = {a.status: a for a in _rows(engine, Alert)}
    assert alerts["silenced"].issue_ids == [muted] and alerts["pending"].issue_ids == [loud]
    assert [d.address for d in _rows(engine, Delivery)] == ["team-hook"]  # team-mail is muted
    assert process(st, engine, now=T0 + timedelta(minutes=30)).alerts == 0  # still silenced
    res = process(st, engine, now=T0 + timedelta(hours=1, minutes=1))  # silence over, issue still open
    assert res.alerts == 1
    late = _rows(engine, Alert)[-1]
    assert late.kind == "new" and late.issue_ids == [muted] and late.status == "pending"
    assert process(st, engine, now=T0 + timedelta(hours=1, minutes=2)).alerts == 0  # once


def test_escalation_when_not_acknowledged(settings: Settings, engine: Engine) -> None:
    st = _settings(settings, escalate_after=900)
    a, b = make_issue(engine), make_issue(engine, title="App", keywords=["app"])
    process(st, engine, now=T0)
    assert process(st, engine, now=T0 + timedelta(minutes=10)).escalations == 0
    set_issue(engine, b, status="acknowledged", acknowledged_at=T0 + timedelta(minutes=12), acknowledged_by="x")
    res = process(st, engine, now=T0 + timedelta(minutes=16))
    assert res.escalations == 1
    esc = _rows(engine, Alert)[-1]
    assert esc.kind == "escalation" and esc.issue_ids == [a] and esc.title.startswith("[ESKALATION]")
    assert "seit 15 Minuten nicht bestätigt" in esc.body
    assert process(st, engine, now=T0 + timedelta(minutes=40)).escalations == 0  # once per alert
    # an acknowledged alert never escalates
    c = make_issue(engine, title="Rechnung", keywords=["rechnung"])
    process(st, engine, now=T0 + timedelta(hours=1))
    with session_scope(engine) as s:
        alert = s.exec(select(Alert).where(Alert.kind == "new").order_by(Alert.id.desc())).first()  # type: ignore[union-attr]
        assert alert is not None and alert.issue_ids == [c]
        alert.acknowledged_at, alert.acknowledged_by, alert.status = T0 + timedelta(hours=1, minutes=1), "x", "acknowledged"
        s.add(alert)
    assert process(st, engine, now=T0 + timedelta(hours=2)).escalations == 0
