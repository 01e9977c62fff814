"""Fixtures for the crawler tests: a local HTTP server and settings tuned for fast runs.

Live tests run the real thing: ``crawl_once`` starts a crawl process that runs Scrapy
against the LocalServer on 127.0.0.1. They use SQLite; the storage-level tests use the
shared ``engine`` fixture (SQLite, and PostgreSQL when FRUEHWARN_TEST_POSTGRES_URL is set).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from config import Settings, load_settings
from storage.db import make_engine, upgrade
from tests.crawlers.server import LocalServer

# fast but real: no AutoThrottle start delay, short timeouts and backoff
FAST_CRAWL: dict[str, Any] = {
    "autothrottle": False,
    "download_timeout": 2,
    "retry_times": 2,
    "retry_backoff": 0.05,
    "retry_max_wait": 5,
    "source_timeout": 60,
}


@pytest.fixture
def srv() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per session; each live test gets a copy (migrating takes seconds)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    eng = make_engine(f"sqlite:///{path}")
    upgrade(eng)
    with eng.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    eng.dispose()
    return path


@pytest.fixture
def live_db(tmp_path: Path, migrated_sqlite: Path) -> Iterator[tuple[str, Engine]]:
    path = tmp_path / "live.db"
    shutil.copyfile(migrated_sqlite, path)
    url = f"sqlite:///{path}"
    eng = make_engine(url)
    yield url, eng
    eng.dispose()


MakeSettings = Callable[..., Settings]


@pytest.fixture
def make_settings(tmp_path: Path, live_db: tuple[str, Engine]) -> MakeSettings:
    def make(sources: list[dict[str, Any]], **crawl: Any) -> Settings:
        return load_settings(data_dir=tmp_path / "data", database_url=live_db[0], secret_key="test-key",
                             sources=sources, crawl={**FAST_CRAWL, **crawl})

    return make


@pytest.fixture
def live_engine(live_db: tuple[str, Engine]) -> Engine:
    return live_db[1]
