"""``fruehwarn replay``: input validation (exit 2, one line, nothing written) and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from classifiers.replay import ReplayInputError, read_posts
from fruehwarn.cli import app

GOOD = [
    {"id": f"s{i}", "source": "forum", "text": t, "published_at": f"2026-03-02T14:{i:02d}:00Z", "author": f"a{i}",
     "label": "stoerung"}
    for i, t in enumerate(["Störung in Köln, kein Netz", "Kein Netz in Köln, Störung?", "Köln: Netz weg, Störung",
                           "Störung Mobilfunk Köln, kein Netz", "Netz in Köln tot, Störung bekannt?"] * 4)
]


def _write(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


@pytest.mark.parametrize(("line", "reason"), [
    ("{not json", "not valid JSON"),
    ('["a list"]', "expected a JSON object"),
    ('{"id": "x", "source": "forum", "text": "Hallo"}', "missing published_at"),
    ('{"id": "x", "source": "forum", "text": "Hallo", "published_at": "gestern"}', "is not ISO 8601"),
    ('{"id": "x", "source": "forum", "text": "", "published_at": "2026-03-02T14:00:00Z"}', "text must be a non-empty"),
    ('{"id": "s0", "source": "forum", "text": "Hallo", "published_at": "2026-03-02T14:00:00Z"}', "occurs twice"),
])
def test_malformed_line_exits_2_with_file_and_line(tmp_path: Path, line: str, reason: str) -> None:
    posts = _write(tmp_path / "posts.jsonl", GOOD[:3] + [line])
    report = tmp_path / "report.json"
    result = CliRunner().invoke(app, ["replay", str(posts), "--report", str(report)],
                                env={"FRUEHWARN_MODEL__ENCODER": "fake", "FRUEHWARN_DATA_DIR": str(tmp_path / "d")})
    assert result.exit_code == 2, result.output
    assert "posts.jsonl:4: " in result.output and reason in result.output
    assert len([ln for ln in result.output.splitlines() if ln.strip()]) == 1  # one line, no traceback
    assert not report.exists()  # nothing was written


def test_read_posts_normalises_time_zones(tmp_path: Path) -> None:
    path = _write(tmp_path / "p.jsonl", [
        {"id": 1, "source": "a", "text": "x", "published_at": "2026-03-02T15:00:00+01:00"},
        "",
        {"id": 2, "source": "a", "text": "y", "published_at": "2026-03-02T14:00:00"},
    ])
    posts = read_posts(path)
    assert [p.published_at for p in posts] == [posts[1].published_at] * 2  # both 14:00 UTC
    assert posts[0].id == "1"
    with pytest.raises(ReplayInputError, match="no posts"):
        read_posts(_write(tmp_path / "empty.jsonl", [""]))
    with pytest.raises(ReplayInputError, match="cannot read"):
        read_posts(tmp_path / "missing.jsonl")


def test_replay_command_writes_the_report_and_prints_a_summary(tmp_path: Path) -> None:
    chatter = [{"id": f"c{i}", "source": "rss", "text": f"Frage {i} zum Tarif und zur Rechnung",
                "published_at": f"2026-03-02T13:{i:02d}:00Z", "author": f"c{i}"} for i in range(30)]
    posts = _write(tmp_path / "posts.jsonl", chatter + GOOD)
    report = tmp_path / "out" / "report.json"
    result = CliRunner().invoke(app, ["replay", str(posts), "--report", str(report), "--tick", "5m"],
                                env={"FRUEHWARN_MODEL__ENCODER": "fake", "FRUEHWARN_DATA_DIR": str(tmp_path / "d")})
    assert result.exit_code == 0, result.output
    issues = json.loads(report.read_text(encoding="utf-8"))
    assert len(issues) == 1
    issue = issues[0]
    assert issue["label"] == "stoerung" and "Köln" in issue["keywords"]
    assert set(issue["post_ids"]) <= {p["id"] for p in GOOD} and len(issue["post_ids"]) >= 10
    assert issue["first_detected_at"].startswith("2026-03-02T14:")
    assert 0 < issue["severity"] <= 100
    assert "1 issue raised" in result.output and "incident stoerung: detected" in result.output
    assert "after its 10th post" in result.output and "false alarms: 0" in result.output
    assert not (tmp_path / "d" / "fruehwarn.db").exists()  # the replay used its own throw-away database


def test_bad_tick_is_a_usage_error(tmp_path: Path) -> None:
    posts = _write(tmp_path / "posts.jsonl", GOOD)
    result = CliRunner().invoke(app, ["replay", str(posts), "--report", str(tmp_path / "r.json"), "--tick", "soon"],
                                env={"FRUEHWARN_MODEL__ENCODER": "fake"})
    assert result.exit_code == 2 and "--tick" in result.output
