"""Generic HTTP webhook: POSTs the message as JSON, with an ``Idempotency-Key`` header.

URL forms: ``http(s)://host[:port]/path``, ``json://host[:port]/path`` (plain HTTP) and
``jsons://...`` (HTTPS), as Apprise spells its JSON webhooks. The body carries Apprise's
``json://`` fields (``version``, ``title``, ``message``, ``type``) so Apprise-style
receivers work, plus ``idempotency_key``, ``subject``, ``text`` and ``data``.

Outcome: 2xx ok; 429 retryable with ``Retry-After``; 408, 425 and 5xx retryable;
other 4xx permanent; timeouts and refused connections retryable.
"""

from __future__ import annotations

import threading
from typing import ClassVar
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from alerting.channels.base import Channel, Message, SendResult, parse_retry_after, require

RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


class WebhookChannel(Channel):
    name: ClassVar[str] = "webhook"
    schemes: ClassVar[tuple[str, ...]] = ("json", "jsons", "http", "https")
    rate_limit: ClassVar[float] = 50.0

    def __init__(self, url: str, *, timeout: float = 10.0, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(url)
        parts = urlsplit(url)
        require(parts.scheme in self.schemes, f"webhook URL must start with json://, jsons://, http:// or https://: {self.masked_url}")
        require(bool(parts.hostname), f"webhook URL has no host: {self.masked_url}")
        scheme = {"json": "http", "jsons": "https"}.get(parts.scheme, parts.scheme)
        self.target = urlunsplit((scheme, parts.netloc, parts.path or "/", parts.query, ""))
        self.timeout = timeout
        self._own = transport is not None
        self._client = (httpx.Client(timeout=timeout, transport=transport, follow_redirects=False) if self._own
                        else shared_client(timeout))

    def payload(self, message: Message) -> dict[str, object]:
        return {
            "version": "1.0",
            "title": message.subject,
            "message": message.text,
            "type": "info",
            "idempotency_key": message.idempotency_key,
            "subject": message.subject,
            "text": message.text,
            "data": message.data,
        }

    def send(self, message: Message) -> SendResult:
        # header values must be ASCII: a team channel named "Störungs-Team" is percent-encoded, the same every time
        headers = {"Idempotency-Key": quote(message.idempotency_key, safe=":/._-()+=@"), **message.headers}
        try:
            resp = self._client.post(self.target, json=self.payload(message), headers=headers)
        except httpx.TimeoutException as exc:
            return SendResult.retry("timeout", f"{type(exc).__name__} after {self.timeout:g}s")
        except httpx.TransportError as exc:
            return SendResult.retry("connect", f"{type(exc).__name__}: {str(exc)[:200]}")
        code = resp.status_code
        if 200 <= code < 300:
            return SendResult.success(code)
        detail = f"HTTP {code}: {resp.text[:200]!r}"
        if code == 429:
            return SendResult.retry("rate_limited", detail, code, parse_retry_after(resp.headers.get("Retry-After")))
        if code in RETRYABLE_STATUS or code >= 500:
            return SendResult.retry("server_error", detail, code, parse_retry_after(resp.headers.get("Retry-After")))
        if code in (401, 403):
            return SendResult.permanent("auth", detail, code)
        return SendResult.permanent("rejected", detail, code)

    def close(self) -> None:
        if self._own:
            self._client.close()


_CLIENTS: dict[float, httpx.Client] = {}
_CLIENTS_LOCK = threading.Lock()


def shared_client(timeout: float) -> httpx.Client:
    """One pooled, thread-safe client per timeout for every webhook (keep-alive across sends)."""
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(timeout)
        if client is None:
            client = _CLIENTS[timeout] = httpx.Client(
                timeout=timeout, follow_redirects=False,
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))
        return client
