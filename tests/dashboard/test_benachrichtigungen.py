"""Benachrichtigungen: notices and alerts with delivery status per channel, dead letters, audit trail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from storage.db import session_scope
from storage.models import AuditLog, Delivery
from tests.dashboard.conftest import frame


def test_notices_alerts_deliveries_and_audit(login: Callable[..., AppTest], world: dict[str, Any]) -> None:
    at = login("anna")
    at.switch_page("views/benachrichtigungen.py").run()
    assert not at.exception and at.title[0].value == "Benachrichtigungen"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Gesendet": "2", "Wartend": "0", "Mit Fehler, wird wiederholt": "1", "Unzustellbar": "1"}
    notices = frame(at, "notices").set_index("id")
    summary = notices.loc[world["sent_notice"], "zustellung"]
    assert summary == ("email: 1 gesendet; sms: 1 unzustellbar, bis 6 Versuche; "
                       "webhook: 1 Fehler (Wiederholung), bis 3 Versuche")
    assert notices.loc[world["draft"], "status"] == "Entwurf"
    alerts = frame(at, "alerts")
    assert list(alerts["zustellung"]) == ["email: 1 gesendet"]
    dead = frame(at, "dead")
    assert list(dead["id"]) == [world["dead_delivery"]]
    assert list(dead["address"]) == ["+49***78"]  # customers' numbers are masked
    assert list(dead["last_error"]) == ["Ungültige Nummer"] and list(dead["status"]) == ["unzustellbar"]
    retries = frame(at, "retries")
    assert sorted(retries["attempts"]) == [3, 6]
    audit = frame(at, "audit")
    assert {"notice.approve", "delivery.dead", "alert.sent", "login"} <= set(audit["action"])


def test_delivery_status_filter(login: Callable[..., AppTest], world: dict[str, Any]) -> None:
    at = login("anna")
    at.switch_page("views/benachrichtigungen.py").run()
    at.multiselect(key="delivery_status").select("sent").run()
    assert sorted(frame(at, "deliveries")["channel"]) == ["email", "email"]
    at.selectbox(key="audit_type").select("delivery").run()
    assert set(frame(at, "audit")["entity_type"]) == {"delivery"}


def test_retry_dead_letter(login: Callable[..., AppTest], engine: Engine, world: dict[str, Any]) -> None:
    at = login("anna")
    at.switch_page("views/benachrichtigungen.py").run()
    at.button(key="retry_btn").click().run()
    assert [s.value for s in at.success] == [f"Zustellung {world['dead_delivery']} wird erneut versucht."]
    with session_scope(engine) as s:
        d = s.get(Delivery, world["dead_delivery"])
        assert d is not None and (d.status, d.attempts) == ("pending", 0)
        entry = s.exec(select(AuditLog).where(AuditLog.action == "delivery.retry")).one()
        assert (entry.actor, entry.entity_id) == ("anna", world["dead_delivery"])
    assert frame(at, "dead").empty
