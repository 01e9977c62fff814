"""Templates (one notice, every format, sandboxed) and the pure rules."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest

from alerting.render import draft_body, notice_subject, render_alert, render_notice
from alerting.rules import (
    active_silence,
    auto_approve,
    dedup_key,
    escalation_due,
    in_cooldown,
    issue_text,
    quiet_until,
    retry_delay,
    subscriber_matches,
)

FACTS = {"title": "Mobilfunk, Hamburg, LTE", "scope": "bei Mobilfunk in Hamburg", "keywords": ["mobilfunk", "hamburg", "lte"], "since": "2026-11-23T07:30"}


def test_one_notice_same_facts_in_every_format() -> None:
    body = draft_body("incident", FACTS)
    assert body.startswith("Uns ist eine Störung bei Mobilfunk in Hamburg bekannt (seit 23.11.2026, 07:30 Uhr)")
    assert "wir arbeiten" in body.lower()
    subject = notice_subject("incident", FACTS)
    r = render_notice(kind="incident", subject=subject, body=body, facts=FACTS, name="Jörg Weiß",
                      unsubscribe="http://127.0.0.1:8501/unsubscribe?token=T0K", sms_max_chars=160)
    assert subject == "Störung bei Mobilfunk in Hamburg: wir arbeiten daran"
    for text in (r.text, r.html, r.sms):
        assert "Störung bei Mobilfunk in Hamburg" in text
        assert "http://127.0.0.1:8501/unsubscribe?token=T0K" in text
    assert "Hallo Jörg Weiß" in r.text and "Hallo Jörg Weiß" in r.html
    assert len(r.sms) <= 160 and r.sms.endswith("Abmelden: http://127.0.0.1:8501/unsubscribe?token=T0K")
    assert "\n" not in r.sms


def test_edited_text_is_data_not_template_and_html_is_escaped() -> None:
    body = "{{ 7 * 7 }} {% for x in range(3) %}x{% endfor %} <script>alert(1)</script> {{ ''.__class__ }}"
    r = render_notice(kind="incident", subject="Betreff", body=body, facts=FACTS, name=None, unsubscribe="u")
    assert "{{ 7 * 7 }}" in r.text and "49" not in r.text
    assert "<script>" not in r.html and "&lt;script&gt;" in r.html
    assert "Hallo," in r.text


def test_long_sms_is_cut_at_a_word_and_keeps_the_link() -> None:
    body = "Störung " * 200
    r = render_notice(kind="incident", subject="S", body=body, facts=FACTS, name=None, unsubscribe="http://x/u?t=1",
                      sms_max_chars=120)
    assert len(r.sms) <= 120 and "…" in r.sms and r.sms.endswith("http://x/u?t=1")


def test_resolved_and_alert_texts_are_german() -> None:
    assert draft_body("resolved", {**FACTS, "resolved_at": "2026-11-23T09:00"}).startswith(
        "Die Störung bei Mobilfunk in Hamburg ist behoben")
    assert notice_subject("resolved", FACTS) == "Behoben: Störung bei Mobilfunk in Hamburg"
    unknown = {"title": "x", "scope": "", "keywords": ["app", "absturz"]}
    assert draft_body("incident", unknown).startswith("Uns ist eine Störung bekannt. Wir arbeiten")
    assert "berichten uns dazu: app, absturz." in draft_body("incident", unknown)
    assert notice_subject("incident", unknown) == "Störung: wir arbeiten daran"
    issues = [dict(id=1, title="A", severity=55.0, post_count=12, negative_share=0.75, keywords=["a"], reasons="r"),
              dict(id=2, title="B", severity=40.0, post_count=9, negative_share=0.6, keywords=["b"], reasons="")]
    subject, text = render_alert(kind="new", issues=issues, dashboard_url="http://d")
    assert subject == "[NEU] 2 Themen: A, B" and "#1 A (Schwere 55/100, 12 Beiträge, 75 % negativ)" in text
    subject, text = render_alert(kind="escalation", issues=issues[:1], dashboard_url="http://d", minutes=15)
    assert subject == "[ESKALATION] A" and "seit 15 Minuten nicht bestätigt" in text


def test_retry_delay_backs_off_with_jitter_honours_retry_after_and_caps() -> None:
    rng = random.Random(3)
    delays = [retry_delay(n, 2.0, 600.0, rand=rng) for n in range(1, 8)]
    for n, d in enumerate(delays, start=1):
        assert 2.0 * 2 ** (n - 1) * 0.5 <= d <= min(600.0, 2.0 * 2 ** (n - 1))
    assert retry_delay(1, 2.0, 600.0, retry_after=30, rand=rng) >= 30
    assert retry_delay(20, 2.0, 60.0, rand=rng) <= 60
    assert retry_delay(1, 2.0, 60.0, retry_after=3600, rand=rng) == 60  # capped


def test_quiet_hours_in_local_time() -> None:
    # 23:30 in Berlin (winter, UTC+1) = 22:30 UTC; quiet 22-7 -> until 07:00 Berlin = 06:00 UTC
    assert quiet_until(datetime(2026, 11, 23, 22, 30), 22, 7, "Europe/Berlin") == datetime(2026, 11, 24, 6, 0)
    assert quiet_until(datetime(2026, 11, 23, 10, 0), 22, 7, "Europe/Berlin") is None
    assert quiet_until(datetime(2026, 11, 23, 12, 0), 12, 14, "Europe/Berlin") == datetime(2026, 11, 23, 13, 0)
    assert quiet_until(datetime(2026, 11, 23, 12, 0), None, None, "Europe/Berlin") is None


def test_silence_cooldown_escalation_and_auto_approve() -> None:
    now = datetime(2026, 11, 23, 10, 0)
    s = SimpleNamespace(topic_id=5, issue_id=None, channel=None, starts_at=now - timedelta(minutes=1),
                        ends_at=now + timedelta(hours=1))
    c = SimpleNamespace(topic_id=None, issue_id=None, channel="sms", starts_at=now, ends_at=now + timedelta(hours=1))
    assert active_silence([s, c], now, topic_id=5) is s
    assert active_silence([s, c], now, topic_id=6) is None
    assert active_silence([s, c], now, channel="sms") is c
    assert active_silence([s], now + timedelta(hours=2), topic_id=5) is None
    assert in_cooldown(now - timedelta(minutes=10), now, 1800) and not in_cooldown(now - timedelta(hours=1), now, 1800)
    assert not in_cooldown(None, now, 1800)
    assert escalation_due(now - timedelta(minutes=16), now, 900, acknowledged=False, escalated=False)
    assert not escalation_due(now - timedelta(minutes=16), now, 900, acknowledged=True, escalated=False)
    assert not escalation_due(now - timedelta(minutes=10), now, 900, acknowledged=False, escalated=False)
    assert auto_approve(80, 70) and not auto_approve(60, 70) and not auto_approve(100, None)


def test_dedup_key_is_order_free_and_bounded() -> None:
    assert dedup_key("new", [(2, 0), (1, 0)]) == dedup_key("new", [(1, 0), (2, 0)]) == "new:1.0,2.0"
    assert dedup_key("new", [(1, 0)]) != dedup_key("new", [(1, 1)])
    assert len(dedup_key("new", [(i, 0) for i in range(500)])) <= 200


@pytest.mark.parametrize("products, regions, topics, expected", [
    (["Mobilfunk"], ["Hamburg"], [], True),
    (["Mobilfunk"], ["München"], [], False),  # the issue names Hamburg
    (["Internet"], ["Hamburg"], [], False),
    ([], ["Hamburg"], [], True),
    ([], [], ["lte"], True),
    (["Glasfaser"], [], [], False),
])
def test_subscriber_matching(products: list[str], regions: list[str], topics: list[str], expected: bool) -> None:
    text, words = issue_text("Mobilfunkstörung in Hamburg", ["mobilfunk", "lte", "hamburg", "störung"])
    assert subscriber_matches(text, words, products=products, regions=regions, topics=topics,
                              issue_regions={"hamburg"}) is expected
