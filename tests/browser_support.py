"""What the real-browser tests share: Debian's Chromium, its flags, a free port."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
# without the background-networking flags Chromium keeps dialling hosts this machine cannot reach
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
# Streamlit re-renders the page after every action; on a loaded 2-core machine a rerun plus
# Chromium's layout has taken over 30 s, so the tests wait longer than Playwright's default
PAGE_TIMEOUT_MS = 90_000


def require_chromium() -> None:
    """Skip where Chromium is missing, except in CI, where its absence is a failure."""
    if Path(CHROMIUM).exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing in CI: install Debian's chromium (apt-get install -y chromium)")
    pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium); CI runs this test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
