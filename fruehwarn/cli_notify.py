"""CLI commands for notify (mounted by fruehwarn/cli.py).

  fruehwarn notify test CHANNEL_URL         send one test message, print the outcome (exit 1 on failure)
  fruehwarn notify process                  one alerting pass (alerts, drafts, queue approved notices)
  fruehwarn notify deliver [--drain]        send due outbox rows
  fruehwarn notify subscribe NAME -c email:a@b.de -p Mobilfunk -r Hamburg
  fruehwarn notify confirm TOKEN / unsubscribe TOKEN
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from typing import Annotated

import typer

from fruehwarn.context import EXIT_RUNTIME, EXIT_USAGE, ctx_of, fail


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    notify = typer.Typer(help="Alerts, customer notices and their delivery.", no_args_is_help=True)
    app.add_typer(notify, name="notify")

    @notify.command("test")
    def test_cmd(
        ctx: typer.Context,
        channel_url: Annotated[str, typer.Argument(help="e.g. json://127.0.0.1:8080/hook, mailto://a@b.de, "
                                                        "smtp://host:25/?to=a@b.de, slack://..., tgram://...")],
        subject: Annotated[str, typer.Option(help="Subject / title.")] = "fruehwarn: Testnachricht",
        message: Annotated[str, typer.Option(help="Text.")] = "Dies ist eine Testnachricht von fruehwarn. Grüße!",
    ) -> None:
        """Send one test message to CHANNEL_URL and print the outcome."""
        from alerting.channels import Message, channel_for_url
        from alerting.errors import AlertingError

        settings = ctx_of(ctx).settings
        try:
            channel = channel_for_url(channel_url, settings)
        except AlertingError as exc:
            fail(f"bad channel URL: {exc}", EXIT_USAGE)
        key = f"test:{uuid.uuid4().hex}"
        try:
            result = channel.send(Message(subject=subject, text=message, html=None, idempotency_key=key,
                                          data={"test": True}))
        finally:
            channel.close()
        code = f" ({'HTTP ' if channel.name == 'webhook' else ''}{result.status_code})" if result.status_code else ""
        if result.ok:
            typer.echo(f"ok: sent to {channel.masked_url} via {channel.name}{code}")
            return
        kind = "retryable" if result.retryable else "permanent"
        wait = f", retry after {result.retry_after:g}s" if result.retry_after is not None else ""
        fail(f"not sent to {channel.masked_url} via {channel.name}: {kind} failure, {result.reason}{code}{wait}: "
             f"{result.detail}", EXIT_RUNTIME)

    @notify.command("process")
    def process_cmd(ctx: typer.Context) -> None:
        """Run one alerting pass over the issues (alerts, notice drafts, queue approved notices)."""
        from alerting.stage import process

        c = ctx_of(ctx)
        typer.echo(json.dumps(process(c.settings, c.engine).as_dict()))

    @notify.command("deliver")
    def deliver_cmd(
        ctx: typer.Context,
        drain: Annotated[bool, typer.Option(help="Repeat until nothing is due now.")] = False,
        limit: Annotated[int, typer.Option(min=1, max=10_000, help="Rows per claim.")] = 100,
        worker: Annotated[str | None, typer.Option(help="Worker id (default host:pid).")] = None,
    ) -> None:
        """Send due outbox rows once (or --drain) and print the counts."""
        from alerting.delivery import deliver_due
        from alerting.delivery import drain as drain_all

        c = ctx_of(ctx)
        wid = worker or f"{socket.gethostname()}:{os.getpid()}"
        st = drain_all(c.settings, c.engine, wid, limit=limit) if drain else deliver_due(c.settings, c.engine, wid,
                                                                                           limit=limit)
        out = {k: getattr(st, k) for k in ("claimed", "sent", "retried", "fell_back", "dead", "skipped", "deferred",
                                           "reclaimed")}
        typer.echo(json.dumps({**out, "reasons": dict(st.reasons)}))

    @notify.command("subscribe")
    def subscribe_cmd(
        ctx: typer.Context,
        name: Annotated[str, typer.Argument(help="Subscriber's name.")],
        channel: Annotated[list[str], typer.Option("--channel", "-c", help="KIND:ADDRESS in order of preference, "
                                                   "e.g. email:a@b.de, sms:+49151..., webhook:https://...")],
        product: Annotated[list[str] | None, typer.Option("--product", "-p")] = None,
        region: Annotated[list[str] | None, typer.Option("--region", "-r")] = None,
        topic: Annotated[list[str] | None, typer.Option("--topic", "-t")] = None,
        confirmed: Annotated[bool, typer.Option(help="Opt-in already confirmed elsewhere.")] = False,
    ) -> None:
        """Add a subscriber; prints the opt-in token to confirm (double opt-in)."""
        from alerting.errors import AlertingError
        from alerting.subscribers import add_subscriber
        from storage.db import session_scope

        pairs = []
        for item in channel:
            kind, sep, addr = item.partition(":")
            if not sep:
                fail(f"--channel {item!r}: expected KIND:ADDRESS", EXIT_USAGE)
            pairs.append((kind.strip(), addr.strip()))
        c = ctx_of(ctx)
        try:
            with session_scope(c.engine) as s:
                sub = add_subscriber(s, name=name, channels=pairs, products=product or [], regions=region or [],
                                     topics=topic or [], confirmed=confirmed, actor="cli")
        except AlertingError as exc:
            fail(str(exc), EXIT_USAGE)
        typer.echo(json.dumps({"id": sub.id, "opt_in_token": sub.opt_in_token,
                               "unsubscribe_token": sub.unsubscribe_token}))

    def _token_cmd(ctx: typer.Context, token: str, confirm: bool) -> None:
        from alerting.errors import TokenError
        from alerting.subscribers import confirm_opt_in, unsubscribe
        from storage.db import session_scope

        c = ctx_of(ctx)
        try:
            with session_scope(c.engine) as s:
                sub = (confirm_opt_in if confirm else unsubscribe)(s, token)
        except TokenError as exc:
            fail(str(exc), EXIT_USAGE)
        typer.echo(f"subscriber {sub.id}: {'confirmed' if confirm else 'unsubscribed'}")

    @notify.command("confirm")
    def confirm_cmd(ctx: typer.Context, token: str) -> None:
        """Confirm a double opt-in."""
        _token_cmd(ctx, token, True)

    @notify.command("unsubscribe")
    def unsubscribe_cmd(ctx: typer.Context, token: str) -> None:
        """Unsubscribe by token (the link in every notice)."""
        _token_cmd(ctx, token, False)
