"""Quellen: source health; silent and failing sources stand out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streamlit.testing.v1 import AppTest

from tests.dashboard.conftest import frame


def test_quellen_flags_silent_and_failing_sources(login: Callable[..., AppTest], world: dict[str, Any]) -> None:
    at = login("mia")
    at.switch_page("views/quellen.py").run()
    assert not at.exception and at.title[0].value == "Quellen"
    errors = [e.value.replace("\\", "") for e in at.error]
    assert [e.icon for e in at.error] == [":material/volume_off:", ":material/error:"]
    assert len(errors) == 2
    assert errors[0].startswith("verstummt: **appstore**")
    assert errors[1].startswith("fehlerhaft (5× in Folge): **reddit-de**")
    health = frame(at, "health").set_index("name")
    assert health.loc["kundenforum", "status"] == "in Ordnung"
    assert health.loc["reddit-de", "errors_24h"] == 3
    # posts per hour over 24 h: the forum has 9 burst posts + the XSS post + its recent 'rechnung' posts
    assert health.loc["kundenforum", "posts_per_hour"] > 0 and health.loc["reddit-de", "posts_per_hour"] == 0
    errs = frame(at, "errors")
    assert list(errs["source"]) == ["reddit-de"] * 3
    assert errs["error"].iloc[0] == "HTTP 503 Service Unavailable von www.reddit.com"
