"""The CLI as a user meets it: a real subprocess, exit codes and one-line errors."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

COMMANDS = [[], ["run"], ["demo"], ["crawl"], ["posts", "export"], ["classify"], ["replay"], ["dashboard"],
            ["db", "upgrade"], ["model"], ["notify"], ["user"]]


def fw(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("FRUEHWARN_")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "fruehwarn", *args], capture_output=True, text=True,
                          env=full, cwd=cwd, timeout=120)


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_every_command_has_help(cmd: list[str]) -> None:
    r = fw(*cmd, "--help")
    assert r.returncode == 0, r.stderr
    assert "Usage:" in r.stdout


def test_bad_config_value_exits_2_with_one_line(tmp_path: Path) -> None:
    r = fw("db", "upgrade", env={"FRUEHWARN_DATA_DIR": str(tmp_path), "FRUEHWARN_EMERGENCE__MIN_VOLUME": "viele"})
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines == [lines[0]] and "emergence.min_volume = 'viele'" in lines[0]
    assert "Traceback" not in r.stderr


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    r = fw("--config", str(tmp_path / "nope.yaml"), "db", "upgrade")
    assert r.returncode == 2
    assert "cannot read it" in r.stderr and "Traceback" not in r.stderr


def test_db_upgrade_creates_sqlite_under_data_dir(tmp_path: Path) -> None:
    r = fw("db", "upgrade", env={"FRUEHWARN_DATA_DIR": str(tmp_path / "d")})
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "d" / "fruehwarn.db").exists()


def test_unreachable_database_is_a_runtime_failure(tmp_path: Path) -> None:
    r = fw("db", "upgrade", env={"FRUEHWARN_DATA_DIR": str(tmp_path),
                                 "FRUEHWARN_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"})
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "migration failed" in r.stderr


def test_unknown_command_is_usage_error() -> None:
    r = fw("frobnicate")
    assert r.returncode == 2
