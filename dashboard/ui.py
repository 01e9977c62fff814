"""Small display helpers shared by the pages: escaping, links, times, messages.

Post text is user content: pages show it with ``st.text`` (never Markdown or HTML).
Where user-derived words must appear inside Markdown (labels, captions), they go
through :func:`md_escape` first, so ``<script>`` and ``[x](javascript:...)`` stay literal.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import streamlit as st

_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}()#+\-.!|<>~$:=^&\"'])")
_SAFE_URL = re.compile(r"^https?://[^\s<>\"']+$", re.IGNORECASE)


def md_escape(value: Any, max_len: int = 300) -> str:
    """``value`` as literal text inside Streamlit Markdown (one line, special characters escaped)."""
    s = " ".join(str(value if value is not None else "").split())
    if len(s) > max_len:
        s = s[: max_len - 1] + "…"
    return _MD_SPECIAL.sub(r"\\\1", s)


def safe_url(url: str | None) -> str | None:
    """The URL if it is a plain http(s) link, else None (no javascript:, data:, ...)."""
    return url if url and _SAFE_URL.match(url) else None


def fmt_time(value: datetime | None) -> str:
    return value.strftime("%d.%m.%Y %H:%M UTC") if value else "–"


def run_action(fn: Any, user: Any, *args: Any, ok: str) -> None:
    """Run a dashboard action, flash its outcome (German) and rerun the page."""
    from dashboard.actions import ActionError

    try:
        fn(user, *args)
    except ActionError as exc:
        flash(str(exc), "error")
    else:
        flash(ok)
    st.rerun()


def flash(message: str, kind: str = "success") -> None:
    """Remember a message to show after the next rerun."""
    st.session_state["fw_flash"] = (kind, message)


def show_flash() -> None:
    item = st.session_state.pop("fw_flash", None)
    if item:
        kind, message = item
        (st.success if kind == "success" else st.error)(message)


def table(key: str, frame: Any, **kwargs: Any) -> None:
    """``st.dataframe`` inside a container keyed ``tbl-<key>`` (cells render as plain text; tests find it by key)."""
    with st.container(key=f"tbl-{key}"):
        st.dataframe(frame, **kwargs)


SENTIMENT_COLOURS = {"negativ": "#d62728", "neutral": "#9e9e9e", "positiv": "#2ca02c"}


def sentiment_bars(frame: Any, height: int) -> None:
    """Stacked bars of posts per hour and sentiment (``frame``: index hour, columns negativ/neutral/positiv).

    A plain Vega-Lite spec: st.bar_chart goes through Altair, whose schema validation costs
    about 0.15 s a chart (2 s on the first one in a process); this costs a few ms.
    """
    long = frame[list(SENTIMENT_COLOURS)].reset_index(names="stunde")
    long = long.melt(id_vars="stunde", var_name="Stimmung", value_name="Beiträge")
    long["stunde"] = long["stunde"].dt.strftime("%H:00")  # the 24 hours of the window are distinct
    spec = {
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "x": {
                "field": "stunde",
                "type": "ordinal",
                "sort": None,
                "title": "Stunde (UTC)",
                "axis": {"labelAngle": -45, "labelOverlap": True},
            },
            "y": {"field": "Beiträge", "type": "quantitative", "stack": "zero", "title": "Beiträge"},
            "color": {
                "field": "Stimmung",
                "type": "nominal",
                "title": None,
                "scale": {"domain": list(SENTIMENT_COLOURS), "range": list(SENTIMENT_COLOURS.values())},
                "legend": {"orient": "bottom"},
            },
            "order": {"field": "Stimmung"},
        },
    }
    st.vega_lite_chart(long, spec, width="stretch", height=height)


def trend_lines(frame: Any, height: int) -> None:
    """One line per topic over days or weeks (``frame``: index period, one column per topic)."""
    period = frame.index.name or "Zeitraum"
    long = frame.reset_index(names=period).melt(id_vars=period, var_name="Thema", value_name="Beiträge")
    long[period] = long[period].dt.strftime("%Y-%m-%d")
    spec = {
        "mark": {"type": "line", "point": True, "tooltip": True},
        "encoding": {
            "x": {"field": period, "type": "temporal", "title": period},
            "y": {"field": "Beiträge", "type": "quantitative", "title": "Beiträge"},
            "color": {"field": "Thema", "type": "nominal", "title": None, "legend": {"orient": "bottom"}},
        },
    }
    st.vega_lite_chart(long, spec, width="stretch", height=height)
