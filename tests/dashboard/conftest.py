"""Fixtures of the dashboard tests: a seeded database and an AppTest of the app pointed at it."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

from config import Settings
from storage.db import make_engine, upgrade
from tests.dashboard.seed import PASSWORD, seed

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


@pytest.fixture(scope="session")
def _sqlite_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The seeded world built once per session as a SQLite file; tests get a copy (fast)."""
    path = tmp_path_factory.mktemp("world") / "world.db"
    eng = make_engine(f"sqlite:///{path}")
    upgrade(eng)
    ids = seed(eng)
    with eng.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    eng.dispose()
    return path, ids


@pytest.fixture
def engine(settings: Settings, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """As the shared ``engine``, but a SQLite test that uses ``world`` starts from a copy of the seeded file."""
    url = settings.db_url
    if url.startswith("sqlite") and "world" in request.fixturenames:
        template, _ids = request.getfixturevalue("_sqlite_world")
        target = Path(url.split(":///", 1)[1])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, target)
        eng = make_engine(url)
    else:
        eng = make_engine(url)
        upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def world(engine: Engine, settings: Settings, request: pytest.FixtureRequest) -> dict[str, Any]:
    if settings.db_url.startswith("sqlite"):
        return dict(request.getfixturevalue("_sqlite_world")[1])
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
