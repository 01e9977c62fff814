"""Themen (marketing): trends, sentiment shares, rising and falling topics, filters, CSV export."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pandas as pd
from streamlit.testing.v1 import AppTest

from dashboard import trends
from tests.dashboard.conftest import frame


def _frames(at: AppTest) -> dict[str, pd.DataFrame]:
    return {key: frame(at, key) for key in ("rising", "falling", "topics_table")}


def test_themen_trends_and_sentiment(login: Callable[..., AppTest], world: dict[str, Any]) -> None:
    at = login("mia")
    assert not at.exception and at.title[0].value == "Themen"
    frames = _frames(at)
    table = frames["topics_table"]
    rows = table.set_index("Thema")
    assert rows.loc["app login", "Beiträge"] == 4 * 15 + 15
    assert rows.loc["rechnung doppelt abgebucht", "Beiträge"] == 15 + 3 * 15
    assert rows.loc["störung internet berlin", "negativ"] == 1.0
    assert rows.loc["rechnung doppelt abgebucht", "Schlüsselwörter"] == "rechnung, abbuchung, doppelt"
    assert "app login" in list(frames["rising"]["Thema"])
    assert list(frames["falling"]["Thema"]) == ["rechnung doppelt abgebucht"]
    assert at.get("download_button")[0].proto.label == "CSV exportieren"


def test_themen_filters(login: Callable[..., AppTest], world: dict[str, Any]) -> None:
    at = login("mia")
    at.multiselect(key="sources").select("appstore").run()
    table = frame(at, "topics_table")
    assert list(table["Thema"]) == ["app login"]  # only the app-store topic
    at.multiselect(key="langs").select("en").run()
    table = frame(at, "topics_table")
    assert list(table["Beiträge"]) == [sum(1 for d in range(30) for k in range(4 if d < 15 else 1) if k % 3 == 0)]
    at.selectbox(key="period").select("7 Tage").run()
    assert frame(at, "topics_table")["Beiträge"].iloc[0] == 2 * 7  # two English posts a day (k = 0 and 3)
    at.radio(key="granularity").set_value("Woche").run()
    assert not at.exception


def test_themen_empty_selection_says_so(login: Callable[..., AppTest], world: dict[str, Any]) -> None:
    at = login("mia")
    at.multiselect(key="sources").select("reddit-de").run()
    assert [i.value for i in at.info] == ["Keine Beiträge mit Thema in diesem Zeitraum und dieser Auswahl."]


def test_csv_export_is_excel_friendly_and_neutralises_formulas() -> None:
    table = pd.DataFrame({"Thema": ["=HYPERLINK(\"http://x\")", "störung"], "Beiträge": [3, 4]},
                         index=pd.Index([1, 2], name="topic_id"))
    raw = trends.to_csv(table)
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel opens umlauts correctly
    back = pd.read_csv(io.BytesIO(raw), sep=";", encoding="utf-8-sig")
    assert list(back["Thema"]) == ["'=HYPERLINK(\"http://x\")", "störung"]
    assert list(back["Beiträge"]) == [3, 4]
