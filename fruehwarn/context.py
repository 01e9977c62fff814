"""What every CLI command needs: the settings in force, the database, and clean failures."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import typer
from sqlalchemy.engine import Engine

from config import ConfigError, Settings, load_settings

EXIT_RUNTIME = 1
EXIT_USAGE = 2


class UserError(Exception):
    """A problem the user can fix (bad input file, missing model...): exit 2, one line."""


@dataclass
class AppContext:
    config_file: Path | None = None
    _settings: Settings | None = field(default=None, repr=False)
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.config_file)
            except ConfigError as exc:
                fail(str(exc), EXIT_USAGE)
            from fruehwarn.ops import configure_logging

            configure_logging(self._settings)
        return self._settings

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from storage.db import init_db

            try:
                self._engine = init_db(self.settings)
            except Exception as exc:  # noqa: BLE001 - one line for the user, not a traceback
                fail(f"database {self.settings.db_url}: {one_line(exc)}", EXIT_RUNTIME)
        return self._engine


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    orig = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    text = (str(orig).strip().splitlines() or [""])[0]
    return f"{type(orig).__name__}: {text}" if text else type(orig).__name__


def fail(message: str, code: int = EXIT_RUNTIME) -> NoReturn:
    """Print a one-line reason on stderr and exit with ``code``."""
    print(f"fruehwarn: error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def ctx_of(ctx: typer.Context) -> AppContext:
    obj = ctx.find_root().obj
    if not isinstance(obj, AppContext):
        obj = AppContext()
        ctx.find_root().obj = obj
    return obj
