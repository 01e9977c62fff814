"""Dashboard users: password hashing (scrypt with a per-user salt) and user lookup.

Used by the CLI (``fruehwarn user add``) and the dashboard's login. Passwords are never
stored or logged in clear; a hash reads ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from sqlmodel import Session, select

from storage.db import audit
from storage.models import User, utcnow

ROLES = ("agent", "marketing", "admin")  # agent: triage and approve; marketing: topics; admin: all
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@\-]{2,100}$")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024  # scrypt of a megabyte-long password is a cheap denial of service

_N, _R, _P = 2**14, 8, 1  # scrypt cost: about 16 MiB and a few dozen ms per check
_SALT_BYTES = 16
_DUMMY_HASH: str | None = None  # checked against on unknown users so that timing does not tell


class UserError(ValueError):
    """A user cannot be created or changed; the message says why (in English, for the CLI)."""


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password`` in the self-describing format above."""
    _check_password(password)
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "$".join(
        ["scrypt", str(_N), str(_R), str(_P), base64.b64encode(salt).decode(), base64.b64encode(digest).decode()]
    )


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; False for any malformed hash."""
    try:
        scheme, n, r, p, salt_b64, hash_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(hash_b64)
        if len(password) > MAX_PASSWORD_LENGTH:
            return False
        digest = hashlib.scrypt(
            password.encode("utf-8"), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected),
            maxmem=256 * 1024 * 1024,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, expected)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password too short: at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"password too long: at most {MAX_PASSWORD_LENGTH} characters")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")


def get_user(session: Session, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username)).first()


def list_users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(User.username)).all())


def create_user(session: Session, username: str, password: str, role: str, *, actor: str = "system") -> User:
    """Add a user; raise UserError for a bad name, role, password or an existing name."""
    if not USERNAME_RE.match(username or ""):
        raise UserError(
            f"invalid username {username!r}: 2-100 characters of letters, digits, '_', '.', '@', '-'"
        )
    _check_role(role)
    if get_user(session, username) is not None:
        raise UserError(f"user {username!r} exists already")
    user = User(username=username, password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    audit(session, "user.create", "user", user.id, actor=actor, username=username, role=role)
    return user


def _existing(session: Session, username: str) -> User:
    user = get_user(session, username)
    if user is None:
        raise UserError(f"no user {username!r}")
    return user


def set_role(session: Session, username: str, role: str, *, actor: str) -> User:
    _check_role(role)
    user = _existing(session, username)
    old, user.role = user.role, role
    session.add(user)
    audit(session, "user.role", "user", user.id, actor=actor, username=username, old=old, new=role)
    return user


def set_disabled(session: Session, username: str, disabled: bool, *, actor: str) -> User:
    user = _existing(session, username)
    user.disabled = disabled
    session.add(user)
    audit(session, "user.disable" if disabled else "user.enable", "user", user.id, actor=actor, username=username)
    return user


def set_password(session: Session, username: str, password: str, *, actor: str) -> User:
    user = _existing(session, username)
    user.password_hash = hash_password(password)
    session.add(user)
    audit(session, "user.password", "user", user.id, actor=actor, username=username)
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The enabled user with this name and password, or None; records the attempt."""
    global _DUMMY_HASH
    user = get_user(session, username) if username else None
    if user is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
        verify_password(password, _DUMMY_HASH)  # same cost as a real check
        audit(session, "login.failed", "user", None, actor=username[:100] or "?", reason="unknown user")
        return None
    if not verify_password(password, user.password_hash) or user.disabled:
        reason = "disabled" if user.disabled else "wrong password"
        audit(session, "login.failed", "user", user.id, actor=username, reason=reason)
        return None
    user.last_login_at = utcnow()
    session.add(user)
    audit(session, "login", "user", user.id, actor=username)
    return user
