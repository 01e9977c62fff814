"""CLI commands for dashboard users (mounted by fruehwarn/cli.py).

``fruehwarn user add NAME --role agent|marketing|admin`` asks for the password twice
(or reads one line from stdin with ``--password-stdin``, or takes env
``FRUEHWARN_USER_PASSWORD``); ``fruehwarn user list`` shows every user.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from fruehwarn.context import EXIT_USAGE, ctx_of, fail

PASSWORD_ENV = "FRUEHWARN_USER_PASSWORD"

user_app = typer.Typer(help="Dashboard users (login with hashed passwords and roles).", no_args_is_help=True)


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        line = sys.stdin.readline()
        if not line:
            fail("--password-stdin: no password on standard input", EXIT_USAGE)
        return line.rstrip("\r\n")
    env = os.environ.get(PASSWORD_ENV)
    if env:
        return env
    if not sys.stdin.isatty():
        fail(f"no password: use --password-stdin or set {PASSWORD_ENV} when not on a terminal", EXIT_USAGE)
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Login name (letters, digits, _ . @ -).")],
    role: Annotated[str, typer.Option("--role", "-r", help="agent | marketing | admin")] = "agent",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin.")
    ] = False,
) -> None:
    """Create a dashboard user; the password is stored only as a salted scrypt hash."""
    from storage.db import session_scope
    from storage.users import UserError, create_user

    c = ctx_of(ctx)
    password = _read_password(password_stdin)
    try:
        with session_scope(c.engine) as session:
            user = create_user(session, username, password, role, actor="cli")
            user_id = user.id
    except UserError as exc:
        fail(str(exc), EXIT_USAGE)
    typer.echo(f"user {username!r} created (id {user_id}, role {role})")


@user_app.command("list")
def user_list(ctx: typer.Context) -> None:
    """List dashboard users with role, state and last login."""
    from storage.db import session_scope
    from storage.users import list_users

    c = ctx_of(ctx)
    with session_scope(c.engine) as session:
        users = list_users(session)
    if not users:
        typer.echo("no users; create one with: fruehwarn user add NAME --role admin")
        return
    typer.echo(f"{'username':<24} {'role':<10} {'state':<9} last login")
    for u in users:
        state = "disabled" if u.disabled else "active"
        last = u.last_login_at.isoformat(sep=" ", timespec="seconds") if u.last_login_at else "-"
        typer.echo(f"{u.username:<24} {u.role:<10} {state:<9} {last}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(user_app, name="user")
