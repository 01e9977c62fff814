"""Fixtures of the alerting tests: real receivers on 127.0.0.1 and issue rows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from config import Settings, load_settings
from storage.db import session_scope
from storage.models import Issue, Topic
from tests.alerting.servers import SmtpSink, WebhookReceiver

T0 = datetime(2026, 11, 23, 10, 0, 0)  # 11:00 in Berlin: outside usual quiet hours


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


def with_alerting(settings: Settings, **alerting: Any) -> Settings:
    """A copy of ``settings`` with alerting values replaced (validated like a config file)."""
    data = settings.model_dump(mode="python")
    for k, v in list(data["alerting"].items()):
        if hasattr(v, "get_secret_value"):
            data["alerting"][k] = v.get_secret_value()
    data["alerting"]["team_channels"] = [
        {**c, "url": c["url"].get_secret_value() if hasattr(c["url"], "get_secret_value") else c["url"]}
        for c in data["alerting"]["team_channels"]]
    data["alerting"].update(alerting)
    return load_settings(**data)


def make_issue(engine: Engine, *, title: str = "Mobilfunk Störung Hamburg", keywords: list[str] | None = None,
               severity: float = 60.0, status: str = "open", at: datetime = T0) -> int:
    with session_scope(engine) as s:
        topic = Topic(label=title, keywords=keywords or ["mobilfunk", "netz", "hamburg", "störung"])
        s.add(topic)
        s.flush()
        issue = Issue(topic_id=topic.id, status=status, title=title, keywords=list(topic.keywords),
                      severity=severity, reasons="Volumen 5-fach über Grundlinie, 80 % negativ", post_count=24,
                      negative_share=0.8, source_count=2, author_count=12, first_post_at=at, first_detected_at=at,
                      last_seen_at=at, updated_at=at)
        s.add(issue)
        s.flush()
        assert issue.id is not None
        return issue.id


def set_issue(engine: Engine, issue_id: int, **values: Any) -> None:
    with session_scope(engine) as s:
        issue = s.get(Issue, issue_id)
        assert issue is not None
        for k, v in values.items():
            setattr(issue, k, v)
        s.add(issue)
