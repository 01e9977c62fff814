"""How the composition root starts the dashboard as a subprocess."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from config import Settings

APP = Path(__file__).resolve().parent / "app.py"


def command(settings: Settings) -> list[str]:
    """argv that serves the dashboard on ``settings.dashboard.host:port`` (headless)."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        settings.dashboard.host,
        "--server.port",
        str(settings.dashboard.port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--client.toolbarMode",
        "minimal",
        "--browser.gatherUsageStats",
        "false",
    ]


def environment(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for that subprocess: points the dashboard at the same data dir and database."""
    env = dict(os.environ if base is None else base)
    env["FRUEHWARN_DATA_DIR"] = str(settings.data_dir)
    env["FRUEHWARN_DATABASE_URL"] = settings.db_url
    env["STREAMLIT_SERVER_HEADLESS"] = "true"
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    return env
