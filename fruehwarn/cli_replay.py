"""CLI commands for replay (mounted by fruehwarn/cli.py).

``fruehwarn replay POSTS.jsonl --report REPORT.json``: the live classification, grouping
and detection path on a simulated clock (contract in classifiers/replay.py). A bad input
line exits 2 with one line naming file, line and problem, before anything runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from fruehwarn.context import EXIT_RUNTIME, EXIT_USAGE, ctx_of, fail


def _classifier(settings: object) -> object:
    """The real classifier when classifiers.sentiment is there, else the fake one."""
    try:
        from classifiers.runtime import load_classifier
    except ImportError:
        from classifiers.fake import FakeClassifier

        return FakeClassifier()
    return load_classifier(settings)


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""

    @app.command("replay")
    def replay_cmd(
        ctx: typer.Context,
        posts: Annotated[Path, typer.Argument(help="JSON lines: id, source, text, published_at [, author, label].")],
        report: Annotated[Path, typer.Option("--report", "-r", help="Where to write the issues raised (JSON).")],
        tick: Annotated[str | None, typer.Option(
            "--tick", help="Simulated time between stage runs, e.g. 30s or 1m (default: scheduler.detect_interval).")
        ] = None,
        keep_db: Annotated[Path | None, typer.Option(
            "--keep-db", help="Keep the replay database in this directory (default: a temporary one).")] = None,
    ) -> None:
        """Replay timestamped posts through classification, topics and detection; no alert leaves the machine."""
        from classifiers.replay import ReplayInputError, read_posts, replay
        from config import parse_duration

        c = ctx_of(ctx)
        settings = c.settings
        try:
            tick_s = parse_duration(tick) if tick is not None else None
        except ValueError as exc:
            fail(f"--tick {tick!r}: {exc}", EXIT_USAGE)
        try:
            total = len(read_posts(posts))  # validates every line before anything runs
        except ReplayInputError as exc:
            fail(str(exc), EXIT_USAGE)
        try:
            classifier = _classifier(settings)
        except Exception as exc:  # noqa: BLE001 - a missing model is one line, not a traceback
            fail(f"cannot load the classifier: {exc}", EXIT_RUNTIME)
        with typer.progressbar(length=total, label="Replay", show_pos=True, file=sys.stderr) as bar:
            try:
                summary = replay(posts, report, settings, classifier, tick=tick_s, progress=bar.update,
                                 workdir=keep_db)
            except ReplayInputError as exc:
                fail(str(exc), EXIT_USAGE)
        for line in summary.lines():
            typer.echo(line)
        typer.echo(f"report: {report}")
