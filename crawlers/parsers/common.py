"""What every parser shares: the payload error and careful JSON loading."""

from __future__ import annotations

import json
from typing import Any


class MalformedPayload(Exception):
    """A payload that cannot be used as a whole; ``reason`` names the counter."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def load_json(body: bytes | str) -> Any:
    """Decode a JSON payload; empty, truncated, mis-encoded or non-JSON raises MalformedPayload."""
    if isinstance(body, bytes):
        if not body.strip():
            raise MalformedPayload("empty_body", "the answer was empty")
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise MalformedPayload("bad_encoding", f"not UTF-8 at byte {exc.start}") from None
    else:
        text = body
        if not text.strip():
            raise MalformedPayload("empty_body", "the answer was empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedPayload("malformed_json", f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None


def label(obj: Any, *path: str) -> str | None:
    """``obj[p1][p2]...`` as a string, or None when any step is missing (Apple's label JSON)."""
    cur = obj
    for key in path:
        if not isinstance(cur, dict) or key not in cur:
            return None
        cur = cur[key]
    if cur is None or isinstance(cur, dict | list):
        return None
    return str(cur)


def as_list(value: Any) -> list[Any]:
    """A JSON value that may be one object or a list of them, as a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
