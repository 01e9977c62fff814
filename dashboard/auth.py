"""Login, the signed-in user and role checks of the dashboard.

No page and no data without login: ``app.py`` offers only the login page until
``current_user()`` returns someone, and every page calls ``require(permission)`` first.
The user's role and state are re-read from the database on every run, so that a
disabled user or a changed role takes effect at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import streamlit as st

from dashboard import data

# permission -> roles that hold it (agent: triage and approve; marketing: topics; admin: everything)
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "triage": ("agent", "admin"),  # Lage: see issues, acknowledge, resolve, silence
    "approve": ("agent", "admin"),  # approve, edit, reject customer notices; retry dead letters
    "notifications": ("agent", "admin"),  # Benachrichtigungen: alerts, notices, deliveries, audit
    "sources": ("agent", "marketing", "admin"),  # Quellen: source health
    "topics": ("marketing", "admin"),  # Themen: topic trends and CSV export
    "users": ("admin",),  # Benutzer: manage users
}
ROLE_DE = {"agent": "Social-Care-Team", "marketing": "Marketing", "admin": "Administration"}
MAX_FAILURES = 5  # failed logins in a row before the form pauses
PAUSE_SECONDS = 30  # length of that pause

_KEY = "fw_user"


@dataclass(frozen=True)
class CurrentUser:
    username: str
    role: str

    def can(self, permission: str) -> bool:
        return allowed(self.role, permission)


def allowed(role: str, permission: str) -> bool:
    return role in PERMISSIONS.get(permission, ())


def current_user() -> CurrentUser | None:
    """The signed-in user, with role and state fresh from the database; None if none."""
    user = st.session_state.get(_KEY)
    if not isinstance(user, CurrentUser):
        return None
    record = data.user_record(user.username)
    if record is None or record["disabled"]:
        st.session_state.pop(_KEY, None)
        return None
    if record["role"] != user.role:
        user = CurrentUser(user.username, record["role"])
        st.session_state[_KEY] = user
    return user


def require(permission: str) -> CurrentUser:
    """The signed-in user if they hold ``permission``; otherwise stop the page with a German notice."""
    user = current_user()
    if user is None:
        st.warning("Bitte melden Sie sich an.")
        st.stop()
    if not user.can(permission):
        st.error("Keine Berechtigung für diese Seite.")
        st.stop()
    return user


def logout() -> None:
    st.session_state.pop(_KEY, None)
    data.clear_cache()


def login_page() -> None:
    """The only page shown before login."""
    from dashboard import actions

    st.title("Frühwarn – Anmeldung")
    failures: list[float] = st.session_state.setdefault("fw_login_failures", [])
    paused = len(failures) >= MAX_FAILURES and time.monotonic() - failures[-1] < PAUSE_SECONDS
    with st.form("login"):
        username = st.text_input("Benutzername", key="login_user")
        password = st.text_input("Passwort", type="password", key="login_password")
        submitted = st.form_submit_button("Anmelden", type="primary")
    if not submitted:
        return
    if paused:
        st.error(f"Zu viele Fehlversuche. Bitte warten Sie {PAUSE_SECONDS} Sekunden.")
        return
    user = actions.login(username.strip(), password)
    if user is None:
        failures.append(time.monotonic())
        st.error("Benutzername oder Passwort ist falsch.")
        return
    st.session_state["fw_login_failures"] = []
    st.session_state[_KEY] = user
    st.rerun()
