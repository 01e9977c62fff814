"""The argv and environment the composition root uses to start the dashboard."""

from __future__ import annotations

import sys
from pathlib import Path

from config import Settings
from dashboard.launch import command, environment


def test_command(settings: Settings) -> None:
    settings.dashboard.host, settings.dashboard.port = "127.0.0.1", 8765
    argv = command(settings)
    assert argv[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert Path(argv[4]).name == "app.py" and Path(argv[4]).is_file()
    opts = dict(zip(argv[5::2], argv[6::2], strict=False))
    assert opts["--server.address"] == "127.0.0.1" and opts["--server.port"] == "8765"
    assert opts["--server.headless"] == "true"
    env = environment(settings, {})
    assert env["FRUEHWARN_DATABASE_URL"] == settings.db_url
    assert env["FRUEHWARN_DATA_DIR"] == str(settings.data_dir)
