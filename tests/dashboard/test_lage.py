"""Lage (triage): what the agent sees, that post text stays literal, and actions that change the database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from storage.db import session_scope
from storage.models import Alert, AuditLog, Issue, Notice, Silence
from tests.dashboard.seed import MD_TRICK, NOTICE_BODY, NOTICE_SUBJECT, XSS_TEXT


def _audit(engine: Engine, action: str) -> list[AuditLog]:
    with session_scope(engine) as s:
        return list(s.exec(select(AuditLog).where(AuditLog.action == action)).all())


def test_lage_shows_issues_by_severity_with_reasons_and_samples(login: Callable[..., AppTest],
                                                                world: dict[str, Any]) -> None:
    at = login("anna")
    assert not at.exception
    assert at.title[0].value == "Lage"
    subheaders = [h.value for h in at.subheader]
    assert len(subheaders) == 2  # open + acknowledged; the resolved issue is not shown
    assert "Störung Internet Berlin" in subheaders[0].replace("\\", "")  # severity 82 before 45
    assert "Rechnung doppelt abgebucht" in subheaders[1].replace("\\", "")
    texts = [t.value for t in at.text]
    assert any(t.startswith("20 Beiträge in 30 Minuten") for t in texts)  # the reasons
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Offene Vorfälle"] == "1" and metrics["Bestätigt"] == "1"
    assert int(metrics["Beiträge letzte Stunde"]) >= 8
    # the draft notice is offered for editing
    assert at.text_input(key=f"subject_{world['draft']}").value == NOTICE_SUBJECT
    assert at.text_area(key=f"body_{world['draft']}").value == NOTICE_BODY


def test_post_text_is_shown_literally(login: Callable[..., AppTest]) -> None:
    at = login("anna")
    texts = [t.value for t in at.text]
    assert XSS_TEXT in texts and MD_TRICK in texts  # st.text: never Markdown, never HTML
    rendered_md = "\n".join(m.value for m in at.markdown) + "\n".join(c.value for c in at.caption)
    assert "<script>" not in rendered_md and "](javascript:" not in rendered_md
    links = [b.proto.url for b in at.get("link_button")]
    assert links and all(u.startswith("https://") for u in links)


def test_acknowledge(login: Callable[..., AppTest], engine: Engine, world: dict[str, Any]) -> None:
    at = login("anna")
    at.button(key=f"ack_{world['issue']}").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == [f"Vorfall {world['issue']} bestätigt."]
    with session_scope(engine) as s:
        issue = s.get(Issue, world["issue"])
        assert issue is not None
        assert (issue.status, issue.acknowledged_by) == ("acknowledged", "anna")
        assert issue.acknowledged_at is not None
        alert = s.get(Alert, world["alert"])
        assert alert is not None and alert.status == "acknowledged"  # stops escalation
    assert [a.actor for a in _audit(engine, "issue.acknowledge")] == ["anna"]
    assert {m.label: m.value for m in at.metric}["Bestätigt"] == "2"  # the page shows fresh data


def test_resolve_removes_issue_from_lage(login: Callable[..., AppTest], engine: Engine,
                                         world: dict[str, Any]) -> None:
    at = login("anna")
    at.button(key=f"resolve_{world['issue2']}").click().run()
    with session_scope(engine) as s:
        issue = s.get(Issue, world["issue2"])
        assert issue is not None and (issue.status, issue.resolved_by) == ("resolved", "anna")
    assert len(at.subheader) == 1
    assert _audit(engine, "issue.resolve")[0].entity_id == world["issue2"]


def test_silence(login: Callable[..., AppTest], engine: Engine, world: dict[str, Any]) -> None:
    iid = world["issue"]
    at = login("anna")
    at.selectbox(key=f"silence_len_{iid}").select("4 Stunden")
    at.text_input(key=f"silence_reason_{iid}").input("Bekannte Baustelle")
    at.button(key=f"silence_btn_{iid}").click().run()
    with session_scope(engine) as s:
        silences = list(s.exec(select(Silence)).all())
    assert len(silences) == 1
    sil = silences[0]
    assert (sil.issue_id, sil.topic_id, sil.created_by, sil.reason) == (
        iid, world["topics"]["stoerung"], "anna", "Bekannte Baustelle")
    assert abs((sil.ends_at - sil.starts_at).total_seconds() - 4 * 3600) < 1
    assert any("stumm bis" in c.value for c in at.caption)


def test_silence_without_reason_is_refused(login: Callable[..., AppTest], engine: Engine,
                                           world: dict[str, Any]) -> None:
    iid = world["issue"]
    at = login("anna")
    at.button(key=f"silence_btn_{iid}").click().run()
    assert [e.value for e in at.error] == ["Bitte einen Grund für die Stummschaltung angeben."]
    with session_scope(engine) as s:
        assert s.exec(select(Silence)).all() == []


def test_approve_notice(login: Callable[..., AppTest], engine: Engine, world: dict[str, Any]) -> None:
    nid = world["draft"]
    at = login("anna")
    at.button(key=f"approve_{nid}").click().run()
    assert not at.exception
    with session_scope(engine) as s:
        n = s.get(Notice, nid)
        assert n is not None
        assert (n.status, n.approved_by, n.edited, n.body) == ("approved", "anna", False, NOTICE_BODY)
        assert n.approved_at is not None
    assert [a.entity_id for a in _audit(engine, "notice.approve") if a.actor == "anna"][-1] == nid
    assert any("freigegeben" in i.value for i in at.info)  # no longer editable


def test_edit_then_approve_keeps_the_edit(login: Callable[..., AppTest], engine: Engine,
                                          world: dict[str, Any]) -> None:
    nid = world["draft"]
    at = login("anna")
    at.text_area(key=f"body_{nid}").input("Neuer Text: Techniker sind unterwegs.")
    at.button(key=f"approve_{nid}").click().run()
    with session_scope(engine) as s:
        n = s.get(Notice, nid)
        assert n is not None
        assert (n.status, n.body, n.edited) == ("approved", "Neuer Text: Techniker sind unterwegs.", True)
    assert [a.action for a in _audit(engine, "notice.edit")] == ["notice.edit"]


def test_saving_an_empty_notice_is_refused_and_loses_nothing(login: Callable[..., AppTest], engine: Engine,
                                                             world: dict[str, Any]) -> None:
    nid = world["draft"]
    at = login("anna")
    at.text_input(key=f"subject_{nid}").input("   ")
    at.button(key=f"save_{nid}").click().run()
    assert [e.value for e in at.error] == ["Betreff und Text dürfen nicht leer sein."]
    with session_scope(engine) as s:
        n = s.get(Notice, nid)
        assert n is not None and (n.status, n.subject, n.edited) == ("draft", NOTICE_SUBJECT, False)


def test_reject_notice(login: Callable[..., AppTest], engine: Engine, world: dict[str, Any]) -> None:
    nid = world["draft"]
    at = login("anna")
    at.button(key=f"reject_{nid}").click().run()
    with session_scope(engine) as s:
        n = s.get(Notice, nid)
        assert n is not None and n.status == "rejected" and n.rejected_at is not None and n.approved_by is None


def test_notice_approved_elsewhere_is_not_approved_twice(login: Callable[..., AppTest], engine: Engine,
                                                         world: dict[str, Any]) -> None:
    nid = world["draft"]
    at = login("anna")  # the page shows the draft ...
    with session_scope(engine) as s:  # ... while a colleague rejects it
        n = s.get(Notice, nid)
        assert n is not None
        n.status = "rejected"
    at.button(key=f"approve_{nid}").click().run()
    assert [e.value for e in at.error] == [f"Hinweis {nid} ist kein Entwurf mehr (jetzt: rejected)."]
    with session_scope(engine) as s:
        n = s.get(Notice, nid)
        assert n is not None and n.status == "rejected" and n.approved_by is None
    assert _audit(engine, "notice.approve")[-1].actor != "anna" or _audit(engine, "notice.approve")[-1].entity_id != nid
