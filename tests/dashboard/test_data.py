"""The dashboard's reads and helpers outside a page: SQL aggregates, escaping, masking, error pages."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import func, select
from streamlit.testing.v1 import AppTest

from dashboard import data, ui
from storage.db import session_scope
from storage.models import Classification, IssuePost, Post, utcnow
from tests.dashboard.conftest import APP


def test_volume_by_hour_matches_the_posts(engine: Engine, world: dict[str, Any]) -> None:
    df = data.volume_by_hour.uncached(engine, 24)  # type: ignore[attr-defined]
    assert len(df) == 24 and list(df.columns) == ["negativ", "neutral", "positiv", "ohne"]
    since = utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    with session_scope(engine) as s:
        expected = {}
        for sentiment in ("negative", "neutral", "positive"):
            expected[sentiment] = s.exec(select(func.count()).select_from(Post).join(
                Classification, Classification.post_id == Post.id).where(
                Post.published_at >= since, Classification.sentiment == sentiment)).one()
    assert int(df["negativ"].sum()) == expected["negative"] >= 20
    assert int(df["neutral"].sum()) == expected["neutral"]
    assert int(df["positiv"].sum()) == expected["positive"]


def test_issue_volume_and_samples(engine: Engine, world: dict[str, Any]) -> None:
    df = data.issue_volume.uncached(engine, world["issue"], 24)  # type: ignore[attr-defined]
    with session_scope(engine) as s:
        linked = s.exec(select(func.count()).select_from(IssuePost).where(IssuePost.issue_id == world["issue"])).one()
    assert int(df.to_numpy().sum()) == linked == 20
    samples = data.sample_posts.uncached(engine, world["issue"], 3)  # type: ignore[attr-defined]
    assert [p["published_at"] for p in samples] == sorted((p["published_at"] for p in samples), reverse=True)
    assert {p["source"] for p in samples} <= {"kundenforum", "mastodon-de"} and len(samples) == 3


@pytest.mark.parametrize(("raw", "shown"), [
    ("<script>alert(1)</script>", r"\<script\>alert\(1\)\</script\>"),
    ("[klick](javascript:alert(1))", r"\[klick\]\(javascript\:alert\(1\)\)"),
    ("**fett**\n# Titel", r"\*\*fett\*\* \# Titel"),
    (":red[rot]", r"\:red\[rot\]"),
])
def test_md_escape(raw: str, shown: str) -> None:
    assert ui.md_escape(raw) == shown


def test_safe_url_and_masking() -> None:
    assert ui.safe_url("https://forum.example.de/t/1") == "https://forum.example.de/t/1"
    assert ui.safe_url("javascript:alert(1)") is None and ui.safe_url("data:text/html,x") is None
    assert ui.safe_url(None) is None
    assert data.mask_address("kunde@example.de") == "k***@example.de"
    assert data.mask_address("+4915112345678") == "+49***78"
    assert data.mask_address("https://hooks.example.de/secret-token") == "https://hooks.***"


def test_bad_configuration_shows_a_german_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("dashboard:\n  refresh_seconds: 1\n", encoding="utf-8")
    monkeypatch.setenv("FRUEHWARN_CONFIG", str(cfg))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    [error] = at.error
    assert error.value.startswith("Konfigurationsfehler: invalid configuration: dashboard.refresh_seconds = 1")
    assert not at.text_input  # no login form, no page


def test_unreachable_database_shows_a_german_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRUEHWARN_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert at.error[0].value.startswith("Datenbank nicht erreichbar: OperationalError")


def test_login_pauses_after_repeated_failures(login: Any) -> None:
    at = login("anna", "falsch-1")
    for k in range(2, 6):
        at.text_input(key="login_password").input(f"falsch-{k}")
        at.button[0].click().run()
    at.text_input(key="login_password").input("geheim-123")  # the right password, but too soon
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Zu viele Fehlversuche. Bitte warten Sie 30 Sekunden."]
    assert at.title[0].value == "Frühwarn – Anmeldung"
