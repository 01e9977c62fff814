"""Benutzer (admin): add users, change roles, lock accounts; bad input is refused and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from storage.db import session_scope
from storage.models import User
from storage.users import authenticate
from tests.dashboard.conftest import frame


def _open(login: Callable[..., AppTest]) -> AppTest:
    at = login("chef")
    at.switch_page("views/benutzer.py").run()
    assert not at.exception and at.title[0].value == "Benutzer"
    return at


def test_admin_adds_a_user(login: Callable[..., AppTest], engine: Engine, world: dict[str, Any]) -> None:
    at = _open(login)
    at.text_input(key="new_username").input("tom")
    at.text_input(key="new_password").input("tom-passwort-1")
    at.selectbox(key="new_role").select("marketing")
    at.button(key="add_user_btn").click().run()
    assert [s.value for s in at.success] == ["Benutzer tom angelegt."]
    assert "tom" in list(frame(at, "users")["username"])
    with session_scope(engine) as s:
        user = authenticate(s, "tom", "tom-passwort-1")
        assert user is not None and user.role == "marketing"


def test_bad_new_user_is_refused(login: Callable[..., AppTest], engine: Engine, world: dict[str, Any]) -> None:
    at = _open(login)
    at.text_input(key="new_username").input("tom")
    at.text_input(key="new_password").input("kurz")
    at.button(key="add_user_btn").click().run()
    assert [e.value for e in at.error] == ["Abgelehnt: password too short: at least 8 characters"]
    with session_scope(engine) as s:
        assert s.exec(select(User).where(User.username == "tom")).first() is None


def test_change_role_and_lock(login: Callable[..., AppTest], engine: Engine, world: dict[str, Any]) -> None:
    at = _open(login)
    at.selectbox(key="target_user").select("mia")
    at.selectbox(key="target_role").select("agent")
    at.button(key="set_role_btn").click().run()
    at.selectbox(key="target_user").select("anna")
    at.button(key="lock_btn").click().run()
    with session_scope(engine) as s:
        assert s.exec(select(User.role).where(User.username == "mia")).one() == "agent"
        assert s.exec(select(User.disabled).where(User.username == "anna")).one() is True


def test_admin_cannot_lock_self(login: Callable[..., AppTest], engine: Engine, world: dict[str, Any]) -> None:
    at = _open(login)
    at.selectbox(key="target_user").select("chef")
    at.button(key="lock_btn").click().run()
    assert [e.value for e in at.error] == ["Das eigene Konto kann nicht gesperrt werden."]
    with session_scope(engine) as s:
        assert s.exec(select(User.disabled).where(User.username == "chef")).one() is False
