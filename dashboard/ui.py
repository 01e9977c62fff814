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
