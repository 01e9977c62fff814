"""The fruehwarn command line (Typer). Each area mounts its commands from cli_<area>.py.

Exit codes: 0 success, 2 bad usage or configuration, 1 runtime failure; a one-line
reason on stderr, never a bare traceback for a user error.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from fruehwarn import cli_crawl, cli_model, cli_notify, cli_replay, cli_user
from fruehwarn.context import EXIT_RUNTIME, EXIT_USAGE, AppContext, UserError, ctx_of, fail

app = typer.Typer(
    name="fruehwarn",
    help="Early warning for German customer service: social web -> emerging issues -> alerts and notices.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML config file (else FRUEHWARN_CONFIG, else defaults).",
                     envvar="FRUEHWARN_CONFIG"),
    ] = None,
) -> None:
    ctx.obj = AppContext(config_file=config)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply database migrations (also done on every start)."""
    from storage.db import upgrade

    c = ctx_of(ctx)
    try:
        upgrade(c.settings.db_url, revision)
    except Exception as exc:  # noqa: BLE001
        fail(f"migration failed: {exc}", EXIT_RUNTIME)
    typer.echo(f"database at {revision}: {c.settings.db_url}")


for _area in (cli_crawl, cli_model, cli_replay, cli_notify, cli_user):
    _area.register(app)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        app(standalone_mode=True)
    except UserError as exc:
        print(f"fruehwarn: error: {exc}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        print("fruehwarn: interrupted", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
