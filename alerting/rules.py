"""Pure decision functions of the alerting stage (no I/O, no database, easy to test).

dedup -> cooldown -> silence -> route -> render -> deliver: each step's decision lives
here; ``alerting.stage`` and ``alerting.delivery`` apply them to rows.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class SilenceLike(Protocol):
    topic_id: int | None
    issue_id: int | None
    channel: str | None
    starts_at: datetime
    ends_at: datetime


def dedup_key(kind: str, issues: Iterable[tuple[int, int]]) -> str:
    """One key per alert kind and set of (issue id, re-open round); long sets are hashed."""
    body = ",".join(f"{i}.{r}" for i, r in sorted(issues))
    key = f"{kind}:{body}"
    return key if len(key) <= 200 else f"{kind}:sha1:{hashlib.sha1(body.encode()).hexdigest()}"


def in_cooldown(last_alert_at: datetime | None, now: datetime, cooldown_s: float) -> bool:
    return last_alert_at is not None and now - last_alert_at < timedelta(seconds=cooldown_s)


def active_silence(silences: Sequence[SilenceLike], now: datetime, *, topic_id: int | None = None,
                   issue_id: int | None = None, channel: str | None = None) -> SilenceLike | None:
    """The first silence in force at ``now`` that covers the topic, the issue or the channel."""
    for s in silences:
        if not (s.starts_at <= now < s.ends_at):
            continue
        if s.topic_id is not None and topic_id is not None and s.topic_id == topic_id:
            return s
        if s.issue_id is not None and issue_id is not None and s.issue_id == issue_id:
            return s
        if s.channel is not None and channel is not None and s.channel == channel:
            return s
    return None


def severity_rose(previous: float | None, current: float, delta: float) -> bool:
    return previous is not None and current - previous >= delta


def escalation_due(created_at: datetime, now: datetime, after_s: float, *, acknowledged: bool,
                   escalated: bool) -> bool:
    return not acknowledged and not escalated and now - created_at >= timedelta(seconds=after_s)


def auto_approve(severity: float, min_severity: float | None) -> bool:
    """A rule allows sending without a person: only when configured and severe enough."""
    return min_severity is not None and severity >= min_severity


def quiet_until(now_utc: datetime, start: int | None, end: int | None, tz: str) -> datetime | None:
    """End of the subscriber's quiet hours (naive UTC) if ``now_utc`` falls inside them, else None.

    Hours are local: start inclusive, end exclusive; 22-7 spans midnight.
    """
    if start is None or end is None or start == end:
        return None
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("Europe/Berlin")
    local = now_utc.replace(tzinfo=UTC).astimezone(zone)
    h = local.hour
    inside = (start <= h < end) if start < end else (h >= start or h < end)
    if not inside:
        return None
    end_local = local.replace(hour=end, minute=0, second=0, microsecond=0)
    if end_local <= local:
        end_local += timedelta(days=1)
    return end_local.astimezone(UTC).replace(tzinfo=None)


def retry_delay(attempt: int, base_s: float, cap_s: float, retry_after: float | None = None,
                rand: random.Random | None = None) -> float:
    """Seconds before the next attempt (attempt = attempts made so far, >= 1).

    Exponential backoff ``base * 2**(attempt-1)`` with jitter in [50 %, 100 %], capped;
    a receiver's ``Retry-After`` is honoured (never retried earlier), up to the cap.
    """
    r = rand or random
    backoff = min(cap_s, base_s * (2 ** max(0, attempt - 1)))
    delay = backoff * (0.5 + 0.5 * r.random())
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap_s))
    return min(delay, cap_s)


# --------------------------------------------------------------------------- matching

def norm(s: str) -> str:
    return s.casefold().strip()


def term_in(term: str, text: str, words: set[str]) -> bool:
    """A subscriber term matches an issue keyword exactly or appears in its text
    (as a substring for terms of 4+ characters, which catches German compounds)."""
    t = norm(term)
    if not t:
        return False
    if t in words:
        return True
    if len(t) >= 4:
        return t in text
    return re.search(rf"\b{re.escape(t)}\b", text) is not None


def issue_text(title: str, keywords: Sequence[str]) -> tuple[str, set[str]]:
    words = {norm(k) for k in keywords if k}
    text = " ".join([norm(title), *sorted(words)])
    return text, words | set(re.findall(r"\w+", text))


def subscriber_matches(text: str, words: set[str], *, products: Sequence[str], regions: Sequence[str],
                       topics: Sequence[str], issue_regions: set[str]) -> bool:
    """Interest (products or topics) must match; regions gate when the issue names one.

    A subscriber with only regions matches issues naming one of them; an issue that names
    no known region counts as nationwide.
    """
    sub_regions = {norm(r) for r in regions if r}
    if issue_regions and sub_regions and not (sub_regions & issue_regions):
        return False
    interests = [*products, *topics]
    if interests:
        return any(term_in(t, text, words) for t in interests)
    return bool(sub_regions & issue_regions)
