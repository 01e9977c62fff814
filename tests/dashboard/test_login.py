"""No page and no data without login; roles decide which pages exist; users can be locked out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

from dashboard.auth import CurrentUser
from storage.db import session_scope
from storage.users import set_disabled
from tests.dashboard.conftest import APP
from tests.dashboard.seed import XSS_TEXT

PAGES_DIR = Path(APP).parent / "views"


def _all_text(at: AppTest) -> str:
    parts = [e.value for e in at.title] + [e.value for e in at.markdown] + [e.value for e in at.text]
    parts += [str(e.value) for e in at.metric] + [e.value for e in at.caption]
    return "\n".join(str(p) for p in parts)


def test_without_login_only_the_login_form(dash_env: Any, world: dict[str, Any]) -> None:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Frühwarn – Anmeldung"]
    assert XSS_TEXT not in _all_text(at) and "Störung" not in _all_text(at)
    _assert_not_reachable(at, "lage")


@pytest.mark.parametrize("page", ["lage", "themen", "benachrichtigungen", "quellen", "benutzer"])
def test_page_files_refuse_without_login(dash_env: Any, world: dict[str, Any], page: str) -> None:
    at = AppTest.from_file(str(PAGES_DIR / f"{page}.py"), default_timeout=60).run()
    assert not at.exception
    assert [w.value for w in at.warning] == ["Bitte melden Sie sich an."]
    assert not at.dataframe and not at.text and not at.metric


def test_wrong_password_is_refused(login: Callable[..., AppTest]) -> None:
    at = login("anna", "falsches-passwort")
    assert [e.value for e in at.error] == ["Benutzername oder Passwort ist falsch."]
    assert [t.value for t in at.title] == ["Frühwarn – Anmeldung"]
    at = login("niemand", "geheim-123")
    assert [e.value for e in at.error] == ["Benutzername oder Passwort ist falsch."]


@pytest.mark.parametrize(("user", "allowed", "refused"), [
    ("anna", ["lage", "benachrichtigungen", "quellen"], ["themen", "benutzer"]),
    ("mia", ["themen", "quellen"], ["lage", "benachrichtigungen", "benutzer"]),
    ("chef", ["lage", "themen", "benachrichtigungen", "quellen", "benutzer"], []),
])
def test_roles_decide_pages(login: Callable[..., AppTest], user: str, allowed: list[str],
                            refused: list[str]) -> None:
    at = login(user)
    assert not at.exception
    assert at.title[0].value == allowed[0].capitalize()  # the first allowed page opens
    for page in allowed:
        at.switch_page(f"views/{page}.py").run()
        assert not at.exception, (page, at.exception)
        assert at.title[0].value.lower() == page, page
    for page in refused:
        _assert_not_reachable(at, page)


def _assert_not_reachable(at: AppTest, page: str) -> None:
    """Switching to a page outside the user's navigation never shows it."""
    try:
        at.switch_page(f"views/{page}.py")
    except ValueError as exc:  # AppTest knows no such page in this session's navigation
        assert "Could not find a navigation page" in str(exc)
        return
    at.run()
    assert not at.exception
    assert page not in [t.value.lower() for t in at.title], page


@pytest.mark.parametrize(("role", "page"), [("agent", "themen"), ("agent", "benutzer"), ("marketing", "lage"),
                                            ("marketing", "benachrichtigungen")])
def test_page_files_check_the_role_themselves(dash_env: Any, world: dict[str, Any], role: str, page: str) -> None:
    name = {"agent": "anna", "marketing": "mia"}[role]
    at = AppTest.from_file(str(PAGES_DIR / f"{page}.py"), default_timeout=60)
    at.session_state["fw_user"] = CurrentUser(name, role)
    at.run()
    assert [e.value for e in at.error] == ["Keine Berechtigung für diese Seite."]
    assert not at.dataframe and not at.text


def test_forged_role_in_session_is_corrected_from_database(dash_env: Any, world: dict[str, Any]) -> None:
    at = AppTest.from_file(str(PAGES_DIR / "benutzer.py"), default_timeout=60)
    at.session_state["fw_user"] = CurrentUser("anna", "admin")  # anna is an agent in the database
    at.run()
    assert [e.value for e in at.error] == ["Keine Berechtigung für diese Seite."]


def test_locked_user_is_signed_out_on_next_run(login: Callable[..., AppTest], engine: Engine) -> None:
    at = login("anna")
    assert at.title[0].value == "Lage"
    with session_scope(engine) as s:
        set_disabled(s, "anna", True, actor="chef")
    at.run()
    assert [t.value for t in at.title] == ["Frühwarn – Anmeldung"]
    assert "Internet" not in _all_text(at)


def test_logout(login: Callable[..., AppTest]) -> None:
    at = login("mia")
    at.sidebar.button(key="logout").click().run()
    assert [t.value for t in at.title] == ["Frühwarn – Anmeldung"]
