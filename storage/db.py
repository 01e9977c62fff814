"""Engine, sessions, migrations and the small queries several packages need."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine, select

from config import Settings
from storage.models import AuditLog, Checkpoint, Source, utcnow

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=10)


def alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine_or_url: Engine | str, revision: str = "head") -> None:
    """Apply Alembic migrations up to ``revision``."""
    from alembic import command

    url = engine_or_url if isinstance(engine_or_url, str) else engine_or_url.url.render_as_string(False)
    if isinstance(engine_or_url, str):
        make_engine(url).dispose()  # creates the SQLite directory
    command.upgrade(alembic_config(url), revision)


def downgrade(engine_or_url: Engine | str, revision: str) -> None:
    from alembic import command

    url = engine_or_url if isinstance(engine_or_url, str) else engine_or_url.url.render_as_string(False)
    command.downgrade(alembic_config(url), revision)


def init_db(settings: Settings) -> Engine:
    """Engine for the configured database with all migrations applied."""
    engine = make_engine(settings.db_url)
    upgrade(engine)
    return engine


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


# --------------------------------------------------------------------------- shared queries


def sync_sources(session: Session, settings: Settings) -> dict[str, Source]:
    """Create or update a Source row for every configured source; return them by name."""
    existing = {s.name: s for s in session.exec(select(Source)).all()}
    out: dict[str, Source] = {}
    for cfg in settings.sources:
        row = existing.get(cfg.name)
        opts = cfg.model_dump(mode="json")
        if row is None:
            row = Source(name=cfg.name, type=cfg.type, url=cfg.url, enabled=cfg.enabled, options=opts)
            session.add(row)
        else:
            if row.url != cfg.url or row.type != cfg.type:
                row.cursor = {}  # a different feed: start afresh
            row.type, row.url, row.enabled, row.options = cfg.type, cfg.url, cfg.enabled, opts
            session.add(row)
        out[cfg.name] = row
    session.flush()
    return out


def audit(
    session: Session,
    action: str,
    entity_type: str,
    entity_id: int | None = None,
    *,
    actor: str = "system",
    **detail: Any,
) -> AuditLog:
    """Append an audit entry (in the caller's transaction)."""
    entry = AuditLog(action=action, entity_type=entity_type, entity_id=entity_id, actor=actor, detail=detail)
    session.add(entry)
    return entry


def get_checkpoint(session: Session, name: str) -> dict[str, Any]:
    row = session.get(Checkpoint, name)
    return dict(row.value) if row else {}


def set_checkpoint(session: Session, name: str, value: dict[str, Any]) -> None:
    row = session.get(Checkpoint, name)
    if row is None:
        row = Checkpoint(name=name, value=value)
    else:
        row.value = value
        row.updated_at = utcnow()
    session.add(row)


POSTS_CHECKPOINT = "posts"


def posts_changed(session: Session) -> None:
    """Record that posts changed outside the pipeline's stages (deleted, ``duplicate_of``
    cleared, a classification rewritten in place): bumps the revision of the ``posts``
    checkpoint, so that in-memory caches of posts (detection's sliding window) rebuild."""
    value = get_checkpoint(session, POSTS_CHECKPOINT)
    set_checkpoint(session, POSTS_CHECKPOINT, {**value, "revision": int(value.get("revision", 0)) + 1})


def ping(engine: Engine) -> None:
    """Raise if the database cannot be reached."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def create_scratch_database(admin_url: str, prefix: str = "fw_") -> str:
    """Create a fresh, empty PostgreSQL database beside ``admin_url``'s; return its URL.

    For tests and benchmarks that need a database of their own on a shared server.
    """
    import uuid

    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    _admin_execute(admin_url, f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


def drop_scratch_database(admin_url: str, db_url: str) -> None:
    """Drop a database made by :func:`create_scratch_database` (open connections are closed)."""
    _admin_execute(admin_url, f'DROP DATABASE IF EXISTS "{db_url.rsplit("/", 1)[1]}" WITH (FORCE)')


def _admin_execute(admin_url: str, sql: str) -> None:
    """One statement outside a transaction (CREATE/DROP DATABASE cannot run inside one)."""
    admin = make_engine(admin_url)
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(sql))
    finally:
        admin.dispose()
