"""``fruehwarn model eval`` / ``model train`` argument and input handling (fake classifier, no real model)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fruehwarn.cli import app


def _env(tmp_path: Path) -> dict[str, str]:
    return {"FRUEHWARN_MODEL__ENCODER": "fake", "FRUEHWARN_DATA_DIR": str(tmp_path / "data")}


def test_eval_prints_f1_and_confusion_matrix(tmp_path: Path) -> None:
    f = tmp_path / "gold.tsv"
    f.write_text("1\tnegative\tTotaler Ausfall, die App ist kaputt\n2\tpositive\tDanke, super Service\n"
                 "3\tneutral\tDer Zug fährt um acht\n4\tnegative\tDanke für gar nichts\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["model", "eval", str(f)], env=_env(tmp_path))
    assert res.exit_code == 0, res.output
    assert "documents: 4" in res.output and "micro-F1:" in res.output and "macro-F1:" in res.output
    assert "confusion matrix (rows: gold, columns: predicted)" in res.output
    rows = [line.split() for line in res.output.splitlines()]
    matrix = [r[1:] for r in rows if len(r) == 4 and r[0] in ("negative", "neutral", "positive") and r[1].isdigit()]
    assert [r[0] for r in rows if len(r) == 3 and r[0] == "negative"] == ["negative"]  # the header
    assert len(matrix) == 3 and sum(int(v) for row in matrix for v in row) == 4
    assert [sum(int(v) for v in row) for row in matrix] == [2, 1, 1]  # rows are the gold labels


def test_eval_bad_input_exits_2_with_the_reason(tmp_path: Path) -> None:
    f = tmp_path / "gold.tsv"
    f.write_text("1\tnegative\tmist\n2\twütend\tmist\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["model", "eval", str(f)], env=_env(tmp_path))
    assert res.exit_code == 2 and "line 2 has label 'wütend'" in res.output
    res = CliRunner().invoke(app, ["model", "eval", str(f), "--part", "heldout"], env=_env(tmp_path))
    assert res.exit_code == 2
    res = CliRunner().invoke(app, ["model", "eval", str(f), "--format", "csv"], env=_env(tmp_path))
    assert res.exit_code == 2 and "expected germeval or tsv" in res.output


def test_train_with_unreadable_data_exits_2(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["model", "train", "--data", str(tmp_path / "nope.tsv"), "--out",
                                   str(tmp_path / "w.safetensors")], env=_env(tmp_path))
    assert res.exit_code == 2 and "nope.tsv: cannot read it" in res.output
    assert not (tmp_path / "w.safetensors").exists()


@pytest.mark.parametrize(("option", "message"), [("--teacher", "no such teacher weights file"),
                                               ("--init", "no such weights file to start from")])
def test_train_with_missing_weights_exits_2_before_any_work(tmp_path: Path, option: str, message: str) -> None:
    f = tmp_path / "gold.tsv"
    f.write_text("1\tnegative\tmist\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["model", "train", "--data", str(f), option, str(tmp_path / "t.safetensors"),
                                   "--out", str(tmp_path / "w.safetensors")], env=_env(tmp_path))
    assert res.exit_code == 2 and f"t.safetensors: {message}" in res.output
    assert not (tmp_path / "w.safetensors").exists()


def test_train_refuses_a_negative_embedding_weight_for_the_own_examples(tmp_path: Path) -> None:
    f = tmp_path / "gold.tsv"
    f.write_text("1\tnegative\tmist\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["model", "train", "--data", str(f), "--gold", str(f), "--gold-embed-distill", "-1",
                                   "--out", str(tmp_path / "w.safetensors")], env=_env(tmp_path))
    assert res.exit_code == 2 and "--gold-embed-distill" in res.output
    assert not (tmp_path / "w.safetensors").exists()


def test_train_with_a_bad_germeval_part_exits_2(tmp_path: Path) -> None:
    f = tmp_path / "dev.xml"
    f.write_text('<Documents><Document id="1"><sentiment>negative</sentiment><text>mist</text></Document></Documents>',
                 encoding="utf-8")
    res = CliRunner().invoke(app, ["model", "train", "--data", str(f), "--germeval-part", "heldout-4/3",
                                   "--out", str(tmp_path / "w.safetensors")], env=_env(tmp_path))
    assert res.exit_code == 2 and "'heldout-4/3': expected heldout-K/N" in res.output
    assert not (tmp_path / "w.safetensors").exists()


def test_eval_quantize_is_validated_like_the_config(tmp_path: Path) -> None:
    f = tmp_path / "gold.tsv"
    f.write_text("1\tnegative\tmist\n", encoding="utf-8")
    env = {**_env(tmp_path), "FRUEHWARN_MODEL__RUNTIME": "torch"}
    res = CliRunner().invoke(app, ["model", "eval", str(f), "--quantize"], env=env)
    assert res.exit_code == 2 and "runs in ONNX Runtime only" in res.output
    res = CliRunner().invoke(app, ["model", "eval", str(f), "--no-quantize"], env=env)  # torch float32: fine
    assert res.exit_code == 0, res.output
