import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel

from storage.db import downgrade, upgrade
from storage.models import Post, Source, utcnow
from tests.conftest import PG_URL, _scratch_pg

TABLES = {"source", "crawlrun", "post", "classification", "topic", "issue", "issuepost", "checkpoint",
          "subscriber", "subscriberchannel", "alert", "notice", "delivery", "silence", "user", "auditlog"}


def test_models_and_migrations_agree(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == [], f"storage/models.py and the migrations differ: {diff}"


def test_upgrade_downgrade_upgrade(engine: Engine) -> None:
    assert TABLES <= set(inspect(engine).get_table_names())
    downgrade(engine, "base")
    inspect_after = inspect(engine)
    inspect_after.clear_cache()
    assert not (TABLES & set(inspect_after.get_table_names()))
    upgrade(engine)
    insp = inspect(engine)
    insp.clear_cache()
    assert TABLES <= set(insp.get_table_names())


def test_post_is_unique_per_source_and_external_id(engine: Engine) -> None:
    with Session(engine) as s:
        src = Source(name="feed", type="rss", url="http://127.0.0.1/feed")
        s.add(src)
        s.commit()
        for _ in range(2):
            s.add(Post(source_id=src.id, external_id="42", text="Störung", published_at=utcnow(),
                       content_hash="h"))
        try:
            s.commit()
            raised = False
        except IntegrityError:
            raised = True
    assert raised


def test_sqlite_runs_in_wal_mode(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_a_scratch_database_is_dropped_after_its_test_even_if_it_fails_with_a_connection_open() -> None:
    """The helper behind the ``db_url`` and ``pg_scratch_url`` fixtures drops what it creates:
    kept databases once filled a CI disk."""
    if not PG_URL:
        pytest.skip("set FRUEHWARN_TEST_POSTGRES_URL to run against PostgreSQL")
    admin = create_engine(PG_URL)

    def exists(url: str) -> bool:
        with admin.connect() as conn:
            return conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                {"n": url.rsplit("/", 1)[1]}).first() is not None

    made: list[str] = []
    held = []
    try:
        with pytest.raises(RuntimeError), _scratch_pg() as url:
            made.append(url)
            held.append(create_engine(url))
            held[0].connect()  # an open connection must not keep the database alive
            assert exists(url)
            raise RuntimeError("the test failed")
        assert made and not exists(made[0])
    finally:
        for eng in held:
            eng.dispose()
        admin.dispose()
