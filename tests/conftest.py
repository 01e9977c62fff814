"""Shared fixtures: a fresh Settings and a migrated database per test.

Set FRUEHWARN_TEST_POSTGRES_URL (the test command does) to run the storage-backed tests
against PostgreSQL as well: every test using ``engine`` then runs once per backend.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from config import Settings, load_settings
from storage.db import create_scratch_database, drop_scratch_database, make_engine, upgrade

PG_URL = os.environ.get("FRUEHWARN_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("FRUEHWARN_") and key != "FRUEHWARN_TEST_POSTGRES_URL":
            monkeypatch.delenv(key, raising=False)


@contextmanager
def _scratch_pg() -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards.

    Dropping matters: every scratch database costs several MB of disk, and a suite that kept
    hundreds of them filled a CI machine's disk (psycopg DiskFull at CREATE DATABASE).
    """
    assert PG_URL
    url = create_scratch_database(PG_URL)
    try:
        yield url
    finally:
        drop_scratch_database(PG_URL, url)


@pytest.fixture
def pg_scratch_url() -> Iterator[str]:
    """A database of its own for a test that needs PostgreSQL itself.

    List it first among a test's fixtures, so that it is torn down last (after workers stop).
    """
    if not PG_URL:
        pytest.skip("set FRUEHWARN_TEST_POSTGRES_URL to run against PostgreSQL")
    with _scratch_pg() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database per test on each backend."""
    if request.param == "postgresql":
        with _scratch_pg() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return load_settings(data_dir=tmp_path / "data", database_url=db_url, model={"encoder": "fake"})


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = make_engine(settings.db_url)
    upgrade(eng)
    yield eng
    eng.dispose()
