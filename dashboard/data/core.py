"""Settings, the engine, the cache wrapper, SQL helpers, German labels and the user lookup.

Pages only lay out what these functions return; writes live in ``dashboard/actions.py``.
The engine is an ``st.cache_resource`` (one per database URL); every query is an
``st.cache_data`` with the TTL of ``dashboard.cache_ttl`` whose key holds the database URL,
so two databases never share an entry. Aggregation happens in SQL on indexed columns
(``post.published_at``, ``issue_post``, ``delivery``); only small results reach pandas.
Times are naive UTC in the database and shown as UTC.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pandas as pd
import streamlit as st
from sqlalchemy import Engine, func, literal_column, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from config import Settings, load_settings
from storage.db import make_engine, upgrade
from storage.models import (
    User,
    utcnow,
)

R = TypeVar("R")

SENTIMENTS_DE = {"negative": "negativ", "neutral": "neutral", "positive": "positiv", None: "ohne"}
KIND_DE = {
    "incident": "Störung",
    "update": "Neuigkeit",
    "resolved": "behoben",
    "new": "neu",
    "escalation": "Eskalation",
}
ALERT_DE = {"pending": "wartet", "sent": "gesendet", "acknowledged": "bestätigt", "silenced": "stumm"}
NOTICE_DE = {
    "draft": "Entwurf",
    "approved": "freigegeben",
    "rejected": "abgelehnt",
    "queued": "im Versand",
    "done": "versendet",
}
DELIVERY_DE = {
    "pending": "wartet",
    "sending": "wird gesendet",
    "sent": "gesendet",
    "failed": "Fehler (Wiederholung)",
    "dead": "unzustellbar",
    "skipped": "übersprungen",
}


# --------------------------------------------------------------------------- settings and engine


def _env_key() -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("FRUEHWARN_")))


@st.cache_resource(show_spinner=False)
def _settings_for(env: tuple[tuple[str, str], ...]) -> Settings:  # env: the cache key
    return load_settings()


def settings() -> Settings:
    """The settings in force (from FRUEHWARN_CONFIG / FRUEHWARN_* env); raises ConfigError."""
    return _settings_for(_env_key())


@st.cache_resource(show_spinner=False)
def engine_for(url: str) -> Engine:
    """One engine per database URL, migrated to the newest schema."""
    eng = make_engine(url)
    upgrade(eng)
    return eng


def engine() -> Engine:
    return engine_for(settings().db_url)


def cached(fn: Callable[..., R]) -> Callable[..., R]:
    """Wrap a query ``fn(engine, ...)`` in st.cache_data with the configured TTL.

    The wrapper is called without the engine; the cache key holds the database URL.
    """
    by_ttl: dict[int, Callable[..., R]] = {}

    def inner(url: str, *args: Any, **kwargs: Any) -> R:
        return fn(engine_for(url), *args, **kwargs)

    inner.__name__ = inner.__qualname__ = fn.__name__
    inner.__module__ = fn.__module__

    def call(*args: Any, **kwargs: Any) -> R:
        cfg = settings()
        ttl = cfg.dashboard.cache_ttl
        wrapped = by_ttl.get(ttl)
        if wrapped is None:
            wrapped = by_ttl[ttl] = st.cache_data(ttl=ttl, show_spinner=False, max_entries=512)(inner)
        return wrapped(cfg.db_url, *args, **kwargs)

    call.__name__ = fn.__name__
    call.__doc__ = fn.__doc__
    call.uncached = fn  # type: ignore[attr-defined]  # the bare query, for benchmarks and tests
    return call


def clear_cache() -> None:
    """Forget every cached read (after a write)."""
    st.cache_data.clear()


# --------------------------------------------------------------------------- SQL helpers


def _bucket(eng: Engine, col: Any, unit: str) -> ColumnElement[str]:
    """``col`` truncated to the hour or day, as text 'YYYY-MM-DD HH' / 'YYYY-MM-DD'."""
    if eng.dialect.name == "sqlite":
        return func.substr(col, 1, 13 if unit == "hour" else 10)
    fmt = "YYYY-MM-DD HH24" if unit == "hour" else "YYYY-MM-DD"
    return func.to_char(func.date_trunc(unit, col), literal_column(f"'{fmt}'"))


def _rows(eng: Engine, stmt: Any) -> list[Any]:
    with eng.connect() as conn:
        return list(conn.execute(stmt).all())


def _since(hours: float) -> datetime:
    return utcnow() - timedelta(hours=hours)


def mask_address(address: str) -> str:
    """An address with its middle hidden: customers' contact data stays private on screen."""
    if "@" in address and "://" not in address:
        local, _, domain = address.partition("@")
        return f"{local[:1]}***@{domain}"
    if "://" in address:
        scheme, _, rest = address.partition("://")
        return f"{scheme}://{rest[:6]}***"
    return f"{address[:3]}***{address[-2:]}" if len(address) > 6 else "***"


# --------------------------------------------------------------------------- users


def user_record(username: str) -> dict[str, Any] | None:
    """The user's current role and state (not cached: checked on every run)."""
    stmt = select(col(User.username), col(User.role), col(User.disabled)).where(
        col(User.username) == username
    )
    rows = _rows(engine(), stmt)
    return dict(rows[0]._mapping) if rows else None


@cached
def users(eng: Engine) -> pd.DataFrame:
    stmt = select(
        col(User.username), col(User.role), col(User.disabled), col(User.created_at), col(User.last_login_at)
    ).order_by(col(User.username))
    return pd.DataFrame(
        [dict(r._mapping) for r in _rows(eng, stmt)],
        columns=["username", "role", "disabled", "created_at", "last_login_at"],
    )


def db_time() -> datetime:
    """Now, as the database's naive UTC."""
    return utcnow()
