"""Fixtures of the dashboard tests: a seeded database and an AppTest of the app pointed at it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

from config import Settings
from tests.dashboard.seed import PASSWORD, seed

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


@pytest.fixture
def world(engine: Engine) -> dict[str, Any]:
    return seed(engine)


@pytest.fixture
def dash_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("FRUEHWARN_DATABASE_URL", settings.db_url)
    monkeypatch.setenv("FRUEHWARN_DATA_DIR", str(settings.data_dir))
    st.cache_data.clear()
    return settings


@pytest.fixture
def login(dash_env: Settings, world: dict[str, Any]) -> Callable[[str], AppTest]:
    """login(username) -> an AppTest signed in as that seeded user (password PASSWORD)."""

    def _login(username: str, password: str = PASSWORD) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        at.text_input(key="login_user").input(username)
        at.text_input(key="login_password").input(password)
        at.button[0].click()  # the form's submit button
        at.run()
        return at

    return _login


def frame(at: AppTest, key: str) -> Any:
    """The DataFrame shown by ``ui.table(key, ...)`` on the current page."""

    def walk(node: Any) -> Any:
        for child in getattr(node, "children", {}).values():
            if type(child).__name__ == "Block" and str(getattr(child.proto, "id", "")).endswith(f"-tbl-{key}"):
                return child.dataframe[0].value
            found = walk(child)
            if found is not None:
                return found
        return None

    result = walk(at.main)
    if result is None:
        raise KeyError(f"no table {key!r} on the page")
    return result
