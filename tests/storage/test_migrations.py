from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel

from storage.db import downgrade, upgrade
from storage.models import Post, Source, utcnow

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
