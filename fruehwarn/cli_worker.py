"""`fruehwarn worker`: run the pipeline's jobs deferred by the scheduler (tasks.engine = procrastinate)."""

from __future__ import annotations

from typing import Annotated

import typer

from fruehwarn.context import EXIT_RUNTIME, EXIT_USAGE, ctx_of, fail, one_line


def worker_cmd(
    ctx: typer.Context,
    concurrency: Annotated[int | None, typer.Option(
        "--concurrency", "-n", min=1, max=64,
        help="Jobs this worker runs at a time (default: tasks.concurrency).")] = None,
    name: Annotated[str | None, typer.Option(help="Worker name in logs (default: worker).")] = None,
    fake_post_cost: Annotated[float, typer.Option(
        "--fake-post-cost", min=0.0, max=10.0, hidden=True,
        help="Benchmarks and tests, model.encoder = fake only: seconds of simulated model latency per "
             "classified post (a model served elsewhere).")] = 0.0,
) -> None:
    """Run crawl, classify, detect, alert and deliver jobs from the shared PostgreSQL queue.

    Start as many as you like, on this machine or others, against the same database;
    SIGTERM or Ctrl-C lets the running jobs finish, then exits.
    """
    c = ctx_of(ctx)
    settings = c.settings
    if settings.tasks.engine != "procrastinate":
        fail("tasks.engine is 'inprocess': `fruehwarn run` does the work itself; set tasks.engine = "
             "'procrastinate' (and a PostgreSQL database_url) to use workers", EXIT_USAGE)
    if fake_post_cost > 0 and settings.model.encoder != "fake":
        fail("--fake-post-cost is for the fake classifier only (model.encoder = fake)", EXIT_USAGE)
    engine = c.engine
    from fruehwarn.tasks import run_worker

    typer.echo(f"worker: queue {settings.tasks.queue} on {engine.url.render_as_string()}; Ctrl-C stops")
    try:
        run_worker(settings, engine, concurrency=concurrency, name=name, post_cost=fake_post_cost)
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # noqa: BLE001 - one line for the user
        fail(f"worker stopped: {one_line(exc)}", EXIT_RUNTIME)
    typer.echo("worker stopped")


def register(app: typer.Typer) -> None:
    app.command("worker")(worker_cmd)
