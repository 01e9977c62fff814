"""Every write of the dashboard: triage actions, notice approval, dead-letter retry, users.

Each action re-checks the actor's role in the database, changes state only from the
state it expects (a conditional UPDATE, so two agents cannot approve one notice twice),
writes an AuditLog row in the same transaction and clears the read cache. A refused
action raises :class:`ActionError` with a German message for the page to show.
The alerting stage picks approved notices up from the database and sends them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from dashboard import data
from dashboard.auth import CurrentUser, allowed
from storage import users as user_store
from storage.db import audit, session_scope
from storage.models import Alert, Delivery, Issue, Notice, Silence, User, utcnow

MAX_SUBJECT = 300  # Notice.subject column length
MAX_BODY = 20_000  # a notice longer than this is a mistake, not a notice
MAX_SILENCE_HOURS = 24 * 30  # longest silence the dashboard sets


class ActionError(Exception):
    """An action was refused; the message is German and meant for the user."""


def _check(session: Session, actor: CurrentUser, permission: str) -> None:
    row = session.exec(select(User).where(col(User.username) == actor.username)).first()
    if row is None or row.disabled or not allowed(row.role, permission):
        raise ActionError("Keine Berechtigung für diese Aktion.")


def _run(actor: CurrentUser, permission: str, fn: Any, *args: Any) -> Any:
    with session_scope(data.engine()) as session:
        _check(session, actor, permission)
        result = fn(session, *args)
    data.clear_cache()
    return result


def login(username: str, password: str) -> CurrentUser | None:
    """The user for these credentials, or None (the attempt is audited either way)."""
    if not username or not password:
        return None
    with session_scope(data.engine()) as session:
        user = user_store.authenticate(session, username, password)
        return CurrentUser(user.username, user.role) if user else None


# --------------------------------------------------------------------------- issues


def _issue_update(session: Session, issue_id: int, from_states: tuple[str, ...], **values: Any) -> None:
    res = session.execute(
        update(Issue)
        .where(col(Issue.id) == issue_id, col(Issue.status).in_(from_states))
        .values(updated_at=utcnow(), **values)
    )
    if res.rowcount != 1:  # type: ignore[attr-defined]
        current = session.get(Issue, issue_id)
        state = current.status if current else "gelöscht"
        raise ActionError(f"Vorfall {issue_id} ist nicht mehr in diesem Zustand (jetzt: {state}).")


def acknowledge_issue(actor: CurrentUser, issue_id: int) -> None:
    """open -> acknowledged; the issue's pending or sent alerts count as acknowledged too."""

    def run(session: Session) -> None:
        now = utcnow()
        _issue_update(
            session,
            issue_id,
            ("open",),
            status="acknowledged",
            acknowledged_at=now,
            acknowledged_by=actor.username,
        )
        for alert in session.exec(select(Alert).where(col(Alert.status).in_(["pending", "sent"]))).all():
            if issue_id in (alert.issue_ids or []):
                alert.status, alert.acknowledged_at, alert.acknowledged_by = (
                    "acknowledged",
                    now,
                    actor.username,
                )
                session.add(alert)
        audit(session, "issue.acknowledge", "issue", issue_id, actor=actor.username)

    _run(actor, "triage", run)


def resolve_issue(actor: CurrentUser, issue_id: int) -> None:
    """open/acknowledged -> resolved by a person."""

    def run(session: Session) -> None:
        _issue_update(
            session,
            issue_id,
            ("open", "acknowledged"),
            status="resolved",
            resolved_at=utcnow(),
            resolved_by=actor.username,
        )
        audit(session, "issue.resolve", "issue", issue_id, actor=actor.username)

    _run(actor, "triage", run)


def silence_issue(actor: CurrentUser, issue_id: int, hours: float, reason: str) -> int:
    """Mute an issue's topic for ``hours``; returns the Silence id."""
    if not 0 < hours <= MAX_SILENCE_HOURS:
        raise ActionError(f"Dauer muss zwischen 0 und {MAX_SILENCE_HOURS} Stunden liegen.")
    reason = reason.strip()
    if not reason:
        raise ActionError("Bitte einen Grund für die Stummschaltung angeben.")

    def run(session: Session) -> int:
        issue = session.get(Issue, issue_id)
        if issue is None:
            raise ActionError(f"Vorfall {issue_id} gibt es nicht.")
        now = utcnow()
        row = Silence(
            topic_id=issue.topic_id,
            issue_id=issue_id,
            starts_at=now,
            ends_at=now + timedelta(hours=hours),
            created_by=actor.username,
            reason=reason[:500],
        )
        session.add(row)
        session.flush()
        audit(
            session,
            "issue.silence",
            "issue",
            issue_id,
            actor=actor.username,
            silence_id=row.id,
            hours=hours,
            reason=reason[:500],
        )
        return int(row.id or 0)

    return int(_run(actor, "triage", run))


# --------------------------------------------------------------------------- notices


def _notice_update(session: Session, notice_id: int, **values: Any) -> None:
    res = session.execute(
        update(Notice).where(col(Notice.id) == notice_id, col(Notice.status) == "draft").values(**values)
    )
    if res.rowcount != 1:  # type: ignore[attr-defined]
        current = session.get(Notice, notice_id)
        state = current.status if current else "gelöscht"
        raise ActionError(f"Hinweis {notice_id} ist kein Entwurf mehr (jetzt: {state}).")


def _check_text(subject: str, body: str) -> tuple[str, str]:
    subject, body = subject.strip(), body.strip()
    if not subject or not body:
        raise ActionError("Betreff und Text dürfen nicht leer sein.")
    if len(subject) > MAX_SUBJECT:
        raise ActionError(f"Betreff ist zu lang ({len(subject)} Zeichen, höchstens {MAX_SUBJECT}).")
    if len(body) > MAX_BODY:
        raise ActionError(f"Text ist zu lang ({len(body)} Zeichen, höchstens {MAX_BODY}).")
    return subject, body


def approve_notice(actor: CurrentUser, notice_id: int) -> None:
    """draft -> approved; the alerting stage then queues its deliveries."""

    def run(session: Session) -> None:
        _notice_update(
            session, notice_id, status="approved", approved_at=utcnow(), approved_by=actor.username
        )
        audit(session, "notice.approve", "notice", notice_id, actor=actor.username)

    _run(actor, "approve", run)


def edit_notice(actor: CurrentUser, notice_id: int, subject: str, body: str) -> None:
    """Change a draft's subject and text (stays a draft, marked edited)."""
    subject, body = _check_text(subject, body)

    def run(session: Session) -> None:
        before = session.get(Notice, notice_id)
        old_len = len(before.body) if before else 0
        _notice_update(session, notice_id, subject=subject, body=body, edited=True)
        audit(
            session,
            "notice.edit",
            "notice",
            notice_id,
            actor=actor.username,
            old_length=old_len,
            new_length=len(body),
        )

    _run(actor, "approve", run)


def reject_notice(actor: CurrentUser, notice_id: int, reason: str = "") -> None:
    """draft -> rejected; nothing is sent."""

    def run(session: Session) -> None:
        _notice_update(session, notice_id, status="rejected", rejected_at=utcnow())
        audit(
            session, "notice.reject", "notice", notice_id, actor=actor.username, reason=reason.strip()[:500]
        )

    _run(actor, "approve", run)


# --------------------------------------------------------------------------- deliveries


def retry_dead_delivery(actor: CurrentUser, delivery_id: int) -> None:
    """A dead letter goes back to the outbox with a fresh set of attempts."""

    def run(session: Session) -> None:
        res = session.execute(
            update(Delivery)
            .where(col(Delivery.id) == delivery_id, col(Delivery.status) == "dead")
            .values(
                status="pending", attempts=0, next_attempt_at=utcnow(), claimed_by=None, claimed_until=None
            )
        )
        if res.rowcount != 1:  # type: ignore[attr-defined]
            raise ActionError(f"Zustellung {delivery_id} ist nicht (mehr) unzustellbar.")
        audit(session, "delivery.retry", "delivery", delivery_id, actor=actor.username)

    _run(actor, "approve", run)


# --------------------------------------------------------------------------- users


def _user_call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except user_store.UserError as exc:
        raise ActionError(f"Abgelehnt: {exc}") from None


def add_user(actor: CurrentUser, username: str, password: str, role: str) -> None:
    _run(
        actor,
        "users",
        lambda s: _user_call(
            user_store.create_user, s, username.strip(), password, role, actor=actor.username
        ),
    )


def set_user_role(actor: CurrentUser, username: str, role: str) -> None:
    if username == actor.username and role != "admin":
        raise ActionError("Die eigene Administrationsrolle kann nicht entzogen werden.")
    _run(actor, "users", lambda s: _user_call(user_store.set_role, s, username, role, actor=actor.username))


def set_user_disabled(actor: CurrentUser, username: str, disabled: bool) -> None:
    if username == actor.username and disabled:
        raise ActionError("Das eigene Konto kann nicht gesperrt werden.")
    _run(
        actor,
        "users",
        lambda s: _user_call(user_store.set_disabled, s, username, disabled, actor=actor.username),
    )
