"""CLI commands for crawling (mounted by fruehwarn/cli.py).

``fruehwarn crawl --once [--source NAME]... [--config FILE]`` crawls every enabled
source (or the named ones) once and prints a table per source (status, new, updated,
skipped, errors, flags); exit 1 when every crawled source failed, 2 for a bad config or
an unknown source name. ``fruehwarn posts export OUT.jsonl`` writes the stored posts,
one JSON object a line (see crawlers/export.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fruehwarn.context import EXIT_RUNTIME, EXIT_USAGE, AppContext, ctx_of, fail

posts_app = typer.Typer(help="Stored posts.", no_args_is_help=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML config file (same as the global --config)."),
]


def _use_config(c: AppContext, config: Path | None) -> None:
    if config is not None:
        c.config_file = config
        c._settings = None
        c._engine = None


def crawl(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Crawl each source once and exit.")] = False,
    source: Annotated[
        list[str] | None, typer.Option("--source", "-s", help="Crawl only this source (repeatable).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Crawl the configured sources once and print what each one brought."""
    from rich.console import Console
    from rich.table import Table

    from crawlers.runner import crawl_once

    if not once:
        fail("use --once (the scheduler in `fruehwarn run` crawls continuously)", EXIT_USAGE)
    c = ctx_of(ctx)
    _use_config(c, config)
    settings = c.settings
    if not settings.sources:
        fail("no sources configured: add a `sources:` list to the config file", EXIT_USAGE)
    try:
        summaries = crawl_once(settings, c.engine, source or None)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    table = Table(title="crawl", show_lines=False)
    for col, justify in (("source", "left"), ("status", "left"), ("new", "right"), ("updated", "right"),
                         ("skipped", "right"), ("errors", "right"), ("flags", "left"), ("error", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    colour = {"ok": "green", "partial": "yellow", "failed": "red"}
    for s in summaries:
        table.add_row(s.source, f"[{colour.get(s.status, 'white')}]{s.status}[/]", str(s.new), str(s.updated),
                      str(s.skipped), str(s.errors), ", ".join(s.flags), (s.error or "")[:200])
    Console(width=160).print(table)
    if summaries and all(s.status == "failed" for s in summaries):
        raise typer.Exit(EXIT_RUNTIME)


@posts_app.command("export")
def posts_export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Argument(help="Output file (JSON Lines).")],
    source: Annotated[
        list[str] | None, typer.Option("--source", "-s", help="Only this source's posts (repeatable).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Write the stored posts to OUT, one JSON object a line (id, source, url, text, published_at, lang, thread_id, ...)."""
    from crawlers.export import export_posts

    c = ctx_of(ctx)
    _use_config(c, config)
    try:
        n = export_posts(c.engine, out, sources=source or None)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}", EXIT_RUNTIME)
    typer.echo(f"{n} posts written to {out}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.command("crawl")(crawl)
    app.add_typer(posts_app, name="posts")
