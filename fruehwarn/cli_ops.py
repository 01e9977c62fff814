"""Operations commands: doctor, purge, subscriber export / forget (GDPR Art. 15 and 17)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import select

from fruehwarn.context import EXIT_RUNTIME, EXIT_USAGE, ctx_of, fail

subscriber_app = typer.Typer(help="A subscriber's personal data: export or forget.", no_args_is_help=True)


def doctor_cmd(
    ctx: typer.Context,
    send_test: Annotated[bool, typer.Option("--send-test", help="Also send a test message on each team channel.")] = False,
) -> None:
    """Check configuration, database, model, channels and sources; one line each."""
    from fruehwarn.ops import doctor

    checks = doctor(ctx_of(ctx).settings, send_test=send_test)
    for c in checks:
        typer.echo(f"{'ok  ' if c.ok else 'FAIL'} {c.name}: {c.message}")
    if not all(c.ok for c in checks):
        raise typer.Exit(EXIT_RUNTIME)


def purge_cmd(ctx: typer.Context) -> None:
    """Apply the retention periods now (the scheduler does it daily)."""
    from storage.retention import purge

    c = ctx_of(ctx)
    res = purge(c.settings, c.engine)
    typer.echo(", ".join(f"{k} {v}" for k, v in res.__dict__.items()) + " deleted")


@subscriber_app.command("export")
def export_cmd(
    ctx: typer.Context,
    subscriber_id: Annotated[int, typer.Argument(help="Subscriber id.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Everything fruehwarn stores about a subscriber, as JSON (right of access)."""
    from storage.db import session_scope
    from storage.models import AuditLog, Delivery, Subscriber, SubscriberChannel

    c = ctx_of(ctx)
    with session_scope(c.engine) as s:
        sub = s.get(Subscriber, subscriber_id)
        if sub is None:
            fail(f"no subscriber with id {subscriber_id}", EXIT_USAGE)
        data = {
            "subscriber": sub.model_dump(mode="json"),
            "channels": [ch.model_dump(mode="json") for ch in s.exec(
                select(SubscriberChannel).where(SubscriberChannel.subscriber_id == subscriber_id)
                .order_by(SubscriberChannel.priority))],
            "deliveries": [d.model_dump(mode="json", exclude={"claimed_by", "claimed_until"}) for d in s.exec(
                select(Delivery).where(Delivery.subscriber_id == subscriber_id).order_by(Delivery.id))],
            "audit": [a.model_dump(mode="json") for a in s.exec(
                select(AuditLog).where(AuditLog.entity_type == "subscriber", AuditLog.entity_id == subscriber_id)
                .order_by(AuditLog.id))],
        }
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if out:
        out.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {out}")
    else:
        typer.echo(text)


@subscriber_app.command("forget")
def forget_cmd(
    ctx: typer.Context,
    subscriber_id: Annotated[int, typer.Argument(help="Subscriber id.")],
) -> None:
    """Erase a subscriber and their addresses (right to erasure); delivery history keeps no address."""
    from storage.db import session_scope
    from storage.retention import forget_subscriber

    c = ctx_of(ctx)
    with session_scope(c.engine) as s:
        if not forget_subscriber(s, subscriber_id, actor="cli"):
            fail(f"no subscriber with id {subscriber_id}", EXIT_USAGE)
    typer.echo(f"subscriber {subscriber_id} forgotten")


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor_cmd)
    app.command("purge")(purge_cmd)
    app.add_typer(subscriber_app, name="subscriber")
