"""Per-database caches in memory: at most a few entries (a process rarely serves more than one database)."""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")

LIMIT = 8


def keep(cache: dict[K, V], key: K, value: V, limit: int = LIMIT) -> None:
    """Put ``value`` under ``key`` as the newest entry, dropping the oldest ones beyond ``limit``."""
    cache.pop(key, None)
    while len(cache) >= limit:
        cache.pop(next(iter(cache)))
    cache[key] = value
