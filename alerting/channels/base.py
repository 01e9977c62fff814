"""What every channel shares: the message it gets, the result it returns, masking.

A channel is one class declared by attributes (``name``, ``schemes``, ``rate_limit``),
validated on construction (a bad URL raises :class:`ChannelConfigError` at once), able
to print its configuration with secrets masked (``masked_url``), and it sends ONCE:
``send`` never retries and never raises for a delivery problem; it returns a
:class:`SendResult` saying whether a failure may be retried. The retry stage in
``alerting.delivery`` owns backoff, ``Retry-After`` and the attempt cap.
"""

from __future__ import annotations

import email.utils
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from alerting.errors import ChannelConfigError, MissingSecretError


@dataclass(frozen=True)
class Message:
    """One rendered message; the same facts on every channel."""

    subject: str
    text: str  # plain text (for SMS already length-limited)
    html: str | None = None  # e-mail only
    idempotency_key: str = ""  # sent as ``Idempotency-Key`` (webhook) / ``Message-ID`` (e-mail)
    data: dict[str, Any] = field(default_factory=dict)  # structured facts for webhook receivers
    headers: dict[str, str] = field(default_factory=dict)  # e.g. List-Unsubscribe


@dataclass(frozen=True)
class SendResult:
    """The outcome of ONE send attempt; never a bare bool."""

    ok: bool
    retryable: bool = False  # only meaningful when not ok
    reason: str = "ok"  # short counter key: ok, rate_limited, server_error, timeout, rejected, ...
    status_code: int | None = None  # HTTP status or SMTP reply code
    retry_after: float | None = None  # seconds the receiver asked us to wait
    detail: str = ""  # one line for the audit log (no secrets)

    @classmethod
    def success(cls, status_code: int | None = None, detail: str = "") -> SendResult:
        return cls(ok=True, status_code=status_code, detail=detail)

    @classmethod
    def retry(cls, reason: str, detail: str = "", status_code: int | None = None,
              retry_after: float | None = None) -> SendResult:
        return cls(ok=False, retryable=True, reason=reason, status_code=status_code,
                   retry_after=retry_after, detail=detail)

    @classmethod
    def permanent(cls, reason: str, detail: str = "", status_code: int | None = None) -> SendResult:
        return cls(ok=False, retryable=False, reason=reason, status_code=status_code, detail=detail)


class Channel:
    """Base of every channel class."""

    name: ClassVar[str] = ""  # channel kind, e.g. "webhook", "email", "apprise"
    schemes: ClassVar[tuple[str, ...]] = ()  # URL schemes this class handles
    rate_limit: ClassVar[float] = 10.0  # default messages per second (settings.alerting.channel_rates overrides)

    def __init__(self, url: str) -> None:
        self.url = url

    def send(self, message: Message) -> SendResult:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.masked_url}>"

    def close(self) -> None:
        """Release connections (no-op by default)."""


# --------------------------------------------------------------------------- helpers

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(url: str) -> str:
    """Replace ``${VAR}`` by the environment variable (secrets stay out of config files)."""

    def repl(m: re.Match[str]) -> str:
        value = os.environ.get(m.group(1))
        if value is None:
            raise MissingSecretError(f"channel URL needs the environment variable {m.group(1)}, which is not set")
        return value

    return _ENV_RE.sub(repl, url)


def _mask(s: str) -> str:
    return (s[:2] + "****") if len(s) > 4 else "****"


def mask_url(url: str) -> str:
    """The URL with passwords, query values and token-like path parts masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "****"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, sep, _pw = userinfo.partition(":")
        netloc = f"{user}{':****' if sep else ''}@{host}"
    segments = [(_mask(seg) if len(seg) >= 10 and re.search(r"\d", seg) else seg)
                for seg in parts.path.split("/")]
    query = urlencode([(k, v if k in {"to", "from", "format"} else _mask(v))
                       for k, v in parse_qsl(parts.query, keep_blank_values=True)])
    return urlunsplit((parts.scheme, netloc, "/".join(segments), query, ""))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now_ts = time.time() if now is None else now
    return max(0.0, when.timestamp() - now_ts)


class RateLimiter:
    """A thread-safe token bucket: ``acquire`` blocks until a message may go out."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ChannelConfigError(f"rate limit must be positive, got {rate}")
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self._tokens = self.capacity
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return waited
                need = (1 - self._tokens) / self.rate
            time.sleep(need)
            waited += need


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ChannelConfigError(message)
