"""The fruehwarn command line (Typer). Each area mounts its commands from cli_<area>.py.

Exit codes: 0 success, 2 bad usage or configuration, 1 runtime failure; a one-line
reason on stderr, never a bare traceback for a user error.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from fruehwarn import cli_crawl, cli_model, cli_notify, cli_ops, cli_replay, cli_user, cli_worker

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from config import Settings
    from fruehwarn.scheduler import Pipeline, Stages

from fruehwarn.context import EXIT_RUNTIME, EXIT_USAGE, AppContext, UserError, ctx_of, fail, one_line

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

    settings = ctx_of(ctx).settings
    try:
        upgrade(settings.db_url, revision)
    except Exception as exc:  # noqa: BLE001
        fail(f"migration failed: {one_line(exc)}", EXIT_RUNTIME)
    typer.echo(f"database at {revision}: {settings.db_url}")


@app.command()
def run(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Run every stage once and exit.")] = False,
    no_dashboard: Annotated[bool, typer.Option("--no-dashboard", help="Do not start the dashboard.")] = False,
) -> None:
    """Run the scheduler (crawl, classify, detect, alert) and the dashboard together.

    With no sources configured, this starts the embedded demo world instead.
    """
    c = ctx_of(ctx)
    settings = c.settings
    if not settings.sources:
        typer.echo("no sources configured: starting the embedded demo world (see `fruehwarn demo --help`)")
        ctx.invoke(demo, ctx=ctx, no_dashboard=no_dashboard)
        return
    from fruehwarn.scheduler import Pipeline, run_forever
    from fruehwarn.services import dashboard_url

    engine = c.engine
    pipeline = Pipeline(settings, engine, _stages_or_fail(settings))
    if once:
        pipeline.run_all_once()
        _print_job_stats(pipeline)
        raise typer.Exit(1 if any(st.failures for st in pipeline.stats.values()) else 0)
    proc = None
    if not no_dashboard:
        proc = _start_dashboard_or_fail(settings)
        typer.echo(f"dashboard: {dashboard_url(settings)}")
    _start_metrics(settings, engine)
    typer.echo(f"scheduler running on {len(settings.sources)} sources; Ctrl-C stops")
    try:
        run_forever(pipeline)
    finally:
        if proc is not None:
            proc.terminate()


@app.command()
def demo(
    ctx: typer.Context,
    duration: Annotated[float, typer.Option(help="Stop after this many seconds (0: until Ctrl-C).")] = 0,
    manual_approval: Annotated[bool, typer.Option("--manual-approval",
                                                  help="Customer notices wait for approval in the dashboard.")] = False,
    no_dashboard: Annotated[bool, typer.Option("--no-dashboard", help="Do not start the dashboard.")] = False,
    port: Annotated[int | None, typer.Option(help="Dashboard port (default from settings).")] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the previous demo database.")] = False,
) -> None:
    """Start the embedded demo world: posts arrive, an outage becomes an issue, notices land in the sinks."""
    import time

    from fruehwarn.demo import DEMO_PASSWORD, DEMO_USER, start_demo
    from fruehwarn.scheduler import Pipeline, run_forever
    from fruehwarn.services import dashboard_url

    base = ctx_of(ctx).settings
    try:
        world = start_demo(base, fresh=not keep, manual_approval=manual_approval, dashboard=not no_dashboard,
                           dashboard_port=port)
    except RuntimeError as exc:
        fail(str(exc), EXIT_RUNTIME)
    s = world.settings
    typer.echo(f"demo platforms: {world.world.base_url}  (RSS /community/rss.xml, Mastodon, Discourse /forum)")
    typer.echo(f"mail sink:      smtp://127.0.0.1:{world.smtp.port} -> {world.smtp.folder}")
    typer.echo(f"webhook sink:   {world.world.hooks_file}")
    typer.echo(f"database:       {s.db_url}")
    if world.dashboard is not None:
        typer.echo(f"dashboard:      {dashboard_url(s)}  (login: {DEMO_USER} / {DEMO_PASSWORD})")
    pipeline = Pipeline(s, world.engine, _stages_or_fail(s))
    _start_metrics(s, world.engine)
    last = [0.0]

    def tick() -> None:
        for line in world.events():
            typer.echo(line)
        if time.monotonic() - last[0] >= 5:
            last[0] = time.monotonic()
            c = world.counts()
            typer.echo(f"[{time.monotonic() - world.started:5.0f}s] posts {c['posts']}, classified {c['classified']}, "
                       f"issues {c['issues']}, notices {c['notices']}, sent {c['sent']}, "
                       f"mails {c['mails']}, webhooks {c['webhooks']}")

    end = time.monotonic() + duration if duration else None
    try:
        run_forever(pipeline, until=(lambda: end is not None and time.monotonic() >= end), on_tick=tick)
    finally:
        tick()
        world.stop()
    typer.echo("demo stopped")


@app.command()
def dashboard(ctx: typer.Context) -> None:
    """Start the Streamlit dashboard alone (Ctrl-C stops it)."""
    from fruehwarn.services import dashboard_url

    settings = ctx_of(ctx).settings
    _ = ctx_of(ctx).engine  # migrations applied before the dashboard reads
    proc = _start_dashboard_or_fail(settings)
    typer.echo(f"dashboard: {dashboard_url(settings)}")
    try:
        proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(10)


def _stages_or_fail(settings: Settings) -> Stages:
    from fruehwarn.scheduler import Stages, default_stages

    if settings.tasks.engine == "procrastinate":  # the workers run the stages; no model here

        def on_workers(*_args: object) -> None:
            raise RuntimeError("with tasks.engine=procrastinate the stages run on `fruehwarn worker`")

        return Stages(on_workers, on_workers, on_workers, on_workers, on_workers, on_workers)  # type: ignore[arg-type]
    try:
        return default_stages(settings)
    except (ImportError, OSError, RuntimeError) as exc:
        fail(f"cannot build the pipeline: {exc}", EXIT_RUNTIME)


def _start_dashboard_or_fail(settings: Settings) -> subprocess.Popen[bytes]:
    from fruehwarn.services import start_dashboard

    try:
        return start_dashboard(settings)
    except RuntimeError as exc:
        fail(str(exc), EXIT_RUNTIME)


def _start_metrics(settings: Settings, engine: Engine) -> None:
    from fruehwarn.ops import start_metrics_server

    try:
        if start_metrics_server(settings, engine) is not None:
            typer.echo(f"metrics:        http://{settings.ops.metrics_host}:{settings.ops.metrics_port}/metrics")
    except OSError as exc:  # a port in use must not stop the pipeline
        typer.echo(f"metrics endpoint not started: {exc}", err=True)


def _print_job_stats(pipeline: Pipeline) -> None:
    for name, st in sorted(pipeline.stats.items()):
        state = "ok" if not st.failures else f"FAILED: {st.last_error}"
        typer.echo(f"{name:30s} {state}")


for _area in (cli_crawl, cli_model, cli_replay, cli_notify, cli_user, cli_ops, cli_worker):
    _area.register(app)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    from fruehwarn.ops import quiet_libraries

    quiet_libraries()
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
