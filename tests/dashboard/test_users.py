"""Password hashing, user lookup and the ``fruehwarn user`` commands."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from typer.testing import CliRunner

from config import Settings
from fruehwarn.cli import app
from storage.db import session_scope
from storage.models import AuditLog, User
from storage.users import UserError, authenticate, create_user, hash_password, verify_password


def test_hash_is_salted_scrypt_and_verifies() -> None:
    a, b = hash_password("geheim123"), hash_password("geheim123")
    assert a != b  # salted
    assert a.startswith("scrypt$") and "geheim123" not in a
    assert verify_password("geheim123", a)
    assert not verify_password("geheim124", a)
    assert not verify_password("geheim123", "sha256$abc")
    assert not verify_password("geheim123", "garbage")


def test_bad_users_are_refused(engine: Engine) -> None:
    with session_scope(engine) as s:
        create_user(s, "anna", "langespasswort", "agent")
    with session_scope(engine) as s:
        with pytest.raises(UserError, match="exists already"):
            create_user(s, "anna", "langespasswort", "agent")
        with pytest.raises(UserError, match="unknown role"):
            create_user(s, "bert", "langespasswort", "boss")
        with pytest.raises(UserError, match="too short"):
            create_user(s, "bert", "kurz", "agent")
        with pytest.raises(UserError, match="invalid username"):
            create_user(s, "<script>", "langespasswort", "agent")
    with session_scope(engine) as s:
        assert [u.username for u in s.exec(select(User)).all()] == ["anna"]


def test_authenticate(engine: Engine) -> None:
    with session_scope(engine) as s:
        create_user(s, "anna", "langespasswort", "agent")
    with session_scope(engine) as s:
        assert authenticate(s, "anna", "falsch-falsch") is None
        assert authenticate(s, "niemand", "langespasswort") is None
        user = authenticate(s, "anna", "langespasswort")
        assert user is not None and user.role == "agent" and user.last_login_at is not None
        user.disabled = True
    with session_scope(engine) as s:
        assert authenticate(s, "anna", "langespasswort") is None
        actions = [a.action for a in s.exec(select(AuditLog).order_by(AuditLog.id)).all()]
    assert actions == ["user.create", "login.failed", "login.failed", "login", "login.failed"]


def _env(settings: Settings) -> dict[str, str]:
    return {"FRUEHWARN_DATABASE_URL": settings.db_url, "FRUEHWARN_DATA_DIR": str(settings.data_dir)}


def test_cli_user_add_and_list(settings: Settings, engine: Engine) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["user", "add", "chef", "--role", "admin", "--password-stdin"],
                        input="sehrgeheim1\n", env=_env(settings))
    assert res.exit_code == 0, res.output
    assert "created" in res.output
    res = runner.invoke(app, ["user", "add", "mia", "--role", "marketing"],
                        env={**_env(settings), "FRUEHWARN_USER_PASSWORD": "auchgeheim2"})
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["user", "list"], env=_env(settings))
    assert res.exit_code == 0
    lines = res.output.splitlines()
    assert lines[1].split()[:3] == ["chef", "admin", "active"]
    assert lines[2].split()[:3] == ["mia", "marketing", "active"]
    with session_scope(engine) as s:
        assert authenticate(s, "chef", "sehrgeheim1") is not None
        assert all("geheim" not in u.password_hash for u in s.exec(select(User)).all())


def test_cli_user_add_rejects_bad_input(settings: Settings, engine: Engine) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["user", "add", "chef", "--role", "kaiser", "--password-stdin"],
                        input="sehrgeheim1\n", env=_env(settings))
    assert res.exit_code == 2
    assert "unknown role 'kaiser'" in res.output
    res = runner.invoke(app, ["user", "add", "chef", "--password-stdin"], input="", env=_env(settings))
    assert res.exit_code == 2 and "no password" in res.output
    res = runner.invoke(app, ["user", "add", "chef", "--password-stdin"], input="kurz\n", env=_env(settings))
    assert res.exit_code == 2 and "too short" in res.output
    with session_scope(engine) as s:
        assert s.exec(select(User)).all() == []
