"""The classify stage with the fake classifier: file contract, CLI and the database stage."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from classifiers.base import Prediction
from classifiers.fake import FakeClassifier
from classifiers.pipeline import InputError, classify_jsonl, classify_pending
from config import Settings
from fruehwarn.cli import app
from storage.models import Classification, Post, Source

ROOT = Path(__file__).resolve().parents[2]

POSTS = [
    {"id": "a1", "text": "Die App stürzt ständig ab, totaler Ausfall, nichts funktioniert"},
    {"id": 2, "text": "The train is late again, this is unbelievable"},
    {"id": "c3", "text": "Danke, super schneller Service, ich bin sehr zufrieden!"},
    {"id": "d4", "text": "😡😡😡"},
]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_classify_jsonl_contract(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.jsonl", [json.dumps(p, ensure_ascii=False) for p in POSTS[:2]] + [""]
                 + [json.dumps(p, ensure_ascii=False) for p in POSTS[2:]])
    out = tmp_path / "out.jsonl"
    assert classify_jsonl(src, out, FakeClassifier(), batch_size=2) == 4
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["a1", 2, "c3", "d4"]
    assert all(set(r) == {"id", "lang", "sentiment", "scores"} for r in rows)
    assert rows[0]["lang"] == "de" and rows[0]["sentiment"] == "negative"
    assert sum(rows[0]["scores"].values()) == pytest.approx(1.0, abs=1e-3)
    assert rows[1] == {"id": 2, "lang": "en", "sentiment": None, "scores": {}}
    assert rows[2]["sentiment"] == "positive"
    assert rows[3] == {"id": "d4", "lang": "und", "sentiment": None, "scores": {}}


@pytest.mark.parametrize("bad, message", [
    ('{"id": 1, "text": "ok"', "line 2: not valid JSON"),
    ('[1, 2]', "line 2: expected an object"),
    ('{"id": 1}', "line 2: missing key 'text'"),
    ('{"id": 1, "text": 5}', 'line 2: "text" must be a string'),
    ('{"id": null, "text": "x"}', 'line 2: "id" must be a string or an integer'),
])
def test_malformed_line_names_line_and_writes_nothing(tmp_path: Path, bad: str, message: str) -> None:
    src = _write(tmp_path / "in.jsonl", [json.dumps(POSTS[0]), bad, json.dumps(POSTS[2])])
    out = tmp_path / "out.jsonl"
    out.write_text("previous result\n", encoding="utf-8")
    with pytest.raises(InputError, match=message):
        classify_jsonl(src, out, FakeClassifier())
    assert out.read_text(encoding="utf-8") == "previous result\n"  # nothing lost, nothing half-written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


def test_cli_classify_with_fake_encoder(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.jsonl", [json.dumps(p) for p in POSTS])
    out = tmp_path / "out.jsonl"
    env = {"FRUEHWARN_MODEL__ENCODER": "fake", "FRUEHWARN_DATA_DIR": str(tmp_path / "data")}
    res = CliRunner().invoke(app, ["classify", str(src), str(out)], env=env)
    assert res.exit_code == 0, res.output
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == ["a1", 2, "c3", "d4"]
    res = CliRunner().invoke(app, ["classify", str(tmp_path / "missing.jsonl"), str(out)], env=env)
    assert res.exit_code == 2 and "no such file" in res.output


def test_cli_malformed_line_exits_2_with_one_line_no_traceback(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.jsonl", [json.dumps(POSTS[0]), "{broken"])
    env = {"FRUEHWARN_MODEL__ENCODER": "fake", "FRUEHWARN_DATA_DIR": str(tmp_path / "data"), "PATH": ""}
    proc = subprocess.run([sys.executable, "-m", "fruehwarn", "classify", str(src), str(tmp_path / "o.jsonl")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert errors == [f"fruehwarn: error: {src}: line 2: not valid JSON (Expecting property name enclosed in "
                      "double quotes at column 2)"]
    assert not (tmp_path / "o.jsonl").exists()


def _posts(engine: Engine, texts: list[str]) -> list[int]:
    t0 = datetime(2026, 1, 1, 12, 0)
    with Session(engine) as s:
        src = Source(name="t", type="rss", url="http://127.0.0.1/feed")
        s.add(src)
        s.commit()
        ids = []
        # published in reverse order of insertion: "oldest first" must follow published_at
        for i, text in enumerate(texts):
            p = Post(source_id=src.id, external_id=str(i), text=text, published_at=t0 - timedelta(minutes=i),
                     content_hash=f"{i:064d}")
            s.add(p)
            s.commit()
            ids.append(p.id)
    return ids


def test_classify_pending_is_oldest_first_and_idempotent(settings: Settings, engine: Engine) -> None:
    ids = _posts(engine, [p["text"] for p in POSTS])
    clf = FakeClassifier()
    assert classify_pending(settings, engine, clf, limit=2) == 2
    with Session(engine) as s:
        done = {c.post_id for c in s.exec(select(Classification)).all()}
    assert done == {ids[3], ids[2]}  # the two published earliest
    assert classify_pending(settings, engine, clf) == 2
    assert classify_pending(settings, engine, clf) == 0
    with Session(engine) as s:
        rows = {c.post_id: c for c in s.exec(select(Classification)).all()}
    assert set(rows) == set(ids)
    neg = rows[ids[0]]
    assert neg.sentiment == "negative" and neg.is_german and neg.lang == "de"
    assert neg.score_negative > neg.score_positive and neg.model_version == "fake-1"
    emb = np.frombuffer(neg.embedding, dtype=np.float16)
    assert emb.shape == (clf.dim,)
    np.testing.assert_allclose(emb.astype(np.float32), clf.embed(POSTS[0]["text"]), atol=2e-3)
    en = rows[ids[1]]
    assert en.lang == "en" and not en.is_german and en.sentiment is None and en.score_negative == 0.0


class _Boom(FakeClassifier):
    def __init__(self, fail_after: int) -> None:
        super().__init__()
        self.calls = 0
        self.fail_after = fail_after

    def classify(self, texts: list[str]) -> list[Prediction]:
        self.calls += 1
        if self.calls > self.fail_after:
            raise RuntimeError("crash mid-way")
        return super().classify(texts)


def test_crash_mid_way_keeps_finished_batches_and_rerun_completes(settings: Settings, engine: Engine) -> None:
    ids = _posts(engine, [f"Störung Nummer {i} bei der Bahn" for i in range(600)])
    with pytest.raises(RuntimeError):
        classify_pending(settings, engine, _Boom(fail_after=1), limit=1000)
    with Session(engine) as s:
        first = len(s.exec(select(Classification.post_id)).all())
    assert 0 < first < 600
    assert classify_pending(settings, engine, FakeClassifier(), limit=1000) == 600 - first
    with Session(engine) as s:
        assert sorted(s.exec(select(Classification.post_id)).all()) == sorted(ids)


def test_rows_written_meanwhile_by_another_worker_are_skipped(settings: Settings, engine: Engine) -> None:
    ids = _posts(engine, ["Zug fällt aus", "Danke für die Hilfe"])

    class Racing(FakeClassifier):
        def classify(self, texts: list[str]) -> list[Prediction]:
            with Session(engine) as s:  # another worker finishes the first post meanwhile
                s.add(Classification(post_id=ids[0], lang="de", model_version="other"))
                s.commit()
            return super().classify(texts)

    assert classify_pending(settings, engine, Racing()) == 1
    with Session(engine) as s:
        assert s.get(Classification, ids[0]).model_version == "other"
        assert s.get(Classification, ids[1]).model_version == "fake-1"
