"""The contract: ``fruehwarn crawl --once [--config FILE]`` and ``fruehwarn posts export OUT.jsonl``.

Run as a user runs them (``python -m fruehwarn``), with a config that holds only
``sources:`` and the database and data directory from the environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml  # type: ignore[import-untyped]

from tests.crawlers.server import RSS, LocalServer, Reply, fixture

ROOT = Path(__file__).resolve().parents[2]


def fruehwarn(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fruehwarn", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=180)


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRUEHWARN_")}
    env["FRUEHWARN_DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"
    env["FRUEHWARN_DATA_DIR"] = str(tmp_path / "data")
    env["COLUMNS"] = "200"
    return env


def test_crawl_once_then_export(srv: LocalServer, tmp_path: Path) -> None:
    srv.route("/feed.xml", Reply(body=fixture("rss/news_rss20.xml"), content_type=RSS))
    srv.route("/down.xml", Reply(status=500))
    config = tmp_path / "sources.yaml"
    config.write_text(yaml.safe_dump({"sources": [
        {"name": "presse", "type": "rss", "url": srv.url("/feed.xml")},
        {"name": "kaputt", "type": "rss", "url": srv.url("/down.xml")},
    ]}), encoding="utf-8")
    env = _env(tmp_path)
    out = fruehwarn("crawl", "--once", "--config", str(config), env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = {line.split("│")[1].strip(): line for line in out.stdout.splitlines() if line.count("│") > 5}
    assert "presse" in lines and "kaputt" in lines
    cells = [c.strip() for c in lines["presse"].split("│")]
    assert cells[2:7] == ["ok", "3", "0", "0", "0"]
    assert "failed" in lines["kaputt"] and "HTTP 500" in lines["kaputt"]
    assert (tmp_path / "cli.db").exists()

    only = fruehwarn("crawl", "--once", "--config", str(config), "--source", "presse", env=env)
    assert only.returncode == 0 and "kaputt" not in only.stdout

    target = tmp_path / "posts.jsonl"
    exp = fruehwarn("posts", "export", str(target), env=env)
    assert exp.returncode == 0, exp.stderr[-3000:]
    assert "3 posts written" in exp.stdout
    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 3
    for row in rows:
        assert {"id", "source", "url", "text", "published_at", "lang", "thread_id"} <= set(row)
        assert row["source"] == "presse" and row["lang"] == "de"


def test_exit_codes(srv: LocalServer, tmp_path: Path) -> None:
    srv.route("/down.xml", Reply(status=503))
    config = tmp_path / "sources.yaml"
    config.write_text(yaml.safe_dump({"sources": [{"name": "kaputt", "type": "rss", "url": srv.url("/down.xml")}],
                                      "crawl": {"retry_times": 0}}), encoding="utf-8")
    env = _env(tmp_path)
    failed = fruehwarn("crawl", "--once", "--config", str(config), env=env)
    assert failed.returncode == 1 and "failed" in failed.stdout  # every source failed
    unknown = fruehwarn("crawl", "--once", "--config", str(config), "--source", "gibtsnicht", env=env)
    assert unknown.returncode == 2 and "unknown source(s): gibtsnicht" in unknown.stderr
    no_once = fruehwarn("crawl", "--config", str(config), env=env)
    assert no_once.returncode == 2
