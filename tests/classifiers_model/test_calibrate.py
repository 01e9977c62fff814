"""Choosing the logit bias on validation data (``fruehwarn model calibrate``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from classifiers import runtime
from classifiers.evaluation.calibrate import calibration_part, choose_bias, write_calibration
from fruehwarn.cli import app
from tests.classifiers_model.test_runtime import tiny, tiny_settings  # noqa: F401  (fixtures)


def _softmax(rows: list[list[float]]) -> np.ndarray:
    e = np.exp(np.asarray(rows, dtype=np.float64))
    return e / e.sum(1, keepdims=True)


def _underread_neutral() -> tuple[np.ndarray, list[str]]:
    """A model whose neutral logit is 0.3 too low for half the neutral posts (as class weights leave it)."""
    rows = ([[0.3, 0.0, -2.0]] * 100 + [[-2.0, 1.0, -2.0]] * 100  # neutral: half read negative unshifted
            + [[1.5, 0.0, -2.0]] * 60 + [[-2.0, 0.0, 1.5]] * 40)  # negative and positive: right up to a 1.5 shift
    return _softmax(rows), ["neutral"] * 200 + ["negative"] * 60 + ["positive"] * 40


def test_the_shift_that_reads_validation_best_is_chosen_on_a_plateau() -> None:
    probs, gold = _underread_neutral()
    cal = choose_bias([probs], [gold])
    assert cal.metric_at(0.0) < 0.9
    # 0.3 ties with the negative logit (still wrong), 0.4-1.4 read everything right, 1.5 ties again;
    # smoothed over neighbours the plateau starts at 0.5, and ties go to the smaller shift
    assert cal.best == 0.5 and cal.metric_at(0.5) == 1.0 and cal.bias == {"neutral": 0.5}
    assert cal.metric_at(0.4) == 1.0 and cal.smoothed[cal.grid.index(0.4)] < 1.0
    # with a second file the metric is the mean over the files
    other = _softmax([[-2.0, 1.0, -2.0]] * 10 + [[0.2, 0.0, -2.0]] * 10)
    other_gold = ["neutral"] * 10 + ["negative"] * 10
    two, one = choose_bias([probs, other], [gold, other_gold]), choose_bias([other], [other_gold])
    assert two.metric == pytest.approx([(a + b) / 2 for a, b in zip(cal.metric, one.metric, strict=True)])
    # a model that already reads the prior right keeps it: no shift
    exact = _softmax([[-2.0, 1.0, -2.0]] * 30 + [[1.0, -1.0, -2.0]] * 10)
    assert choose_bias([exact], [["neutral"] * 30 + ["negative"] * 10]).best == 0.0


def test_bad_calibration_input_is_refused() -> None:
    probs, gold = _underread_neutral()
    with pytest.raises(ValueError, match="unknown label"):
        choose_bias([probs], [gold], label="angry")
    with pytest.raises(ValueError, match="must hold 0"):
        choose_bias([probs], [gold], grid=(0.5, 1.0))
    with pytest.raises(ValueError, match="as many probabilities as gold labels"):
        choose_bias([probs], [gold[:-1]])
    assert calibration_part(Path("dev.xml")) == "val" and calibration_part(Path("dev.tsv")) == "all"


def test_the_chosen_bias_is_recorded_beside_the_weights_and_keeps_the_rest(tmp_path: Path) -> None:
    probs, gold = _underread_neutral()
    cal = choose_bias([probs], [gold])
    weights = tmp_path / "sentiment.safetensors"
    weights.with_suffix(".json").write_text(json.dumps({"config": {"max_tokens": 80}, "topics": {"join_threshold": 0.45}}))
    write_calibration(weights, cal, [Path("dev.tsv")], "m-1")
    meta = json.loads(weights.with_suffix(".json").read_text())
    assert meta["config"] == {"max_tokens": 80} and meta["topics"] == {"join_threshold": 0.45}
    assert meta["calibration"]["logit_bias"] == {"neutral": 0.5}
    assert "dev.tsv (all)" in meta["calibration"]["measured_with"]
    assert runtime.recorded_logit_bias(weights) == {"neutral": 0.5}
    weights.with_suffix(".json").write_text("{broken")
    with pytest.raises(ValueError, match="not valid JSON"):
        write_calibration(weights, cal, [Path("dev.tsv")], "m-1")
    assert weights.with_suffix(".json").read_text() == "{broken"  # left as it was


def _gold_file(tmp_path: Path) -> Path:
    f = tmp_path / "val.tsv"
    f.write_text("".join(f"{i}\t{label}\t{text}\n" for i, (label, text) in enumerate(
        [("negative", "Die App ist kaputt, danke für nichts"), ("positive", "Super Service, danke!"),
         ("neutral", "Fährt der Zug heute?"), ("negative", "Störung in Hamburg seit heute, kein Netz"),
         ("neutral", "die bahn ist heute"), ("positive", "toll, gut, danke")])), encoding="utf-8")
    return f


def test_calibrate_cli_prints_the_table_and_writes_what_inference_then_applies(
        tiny_settings: tuple[dict[str, Any], dict[str, Any], Path], tmp_path: Path) -> None:  # noqa: F811
    base, model, weights = tiny_settings
    env = {"FRUEHWARN_DATA_DIR": str(base["data_dir"]), "FRUEHWARN_MODEL__CACHE_DIR": str(model["cache_dir"]),
           "FRUEHWARN_MODEL__THREADS": "1"}
    f = _gold_file(tmp_path)
    res = CliRunner().invoke(app, ["model", "calibrate", "--val", str(f), "--weights", str(weights), "--write"], env=env)
    assert res.exit_code == 0, res.output
    chosen = float(res.output.split("chosen: neutral ")[1].split()[0])
    assert len([line for line in res.output.splitlines() if line.startswith(("+", "-"))]) == 31  # -1.0 .. +2.0
    recorded = runtime.recorded_logit_bias(weights)
    assert recorded == ({"neutral": chosen} if chosen else {})
    res = CliRunner().invoke(app, ["model", "eval", str(f), "--weights", str(weights)], env=env)
    assert res.exit_code == 0 and (f"+bias0,{chosen:g},0" in res.output) is bool(chosen), res.output


def test_calibrate_cli_refuses_a_bad_label_and_the_test_encoder(tmp_path: Path) -> None:
    env = {"FRUEHWARN_MODEL__ENCODER": "fake", "FRUEHWARN_DATA_DIR": str(tmp_path / "data")}
    f = _gold_file(tmp_path)
    res = CliRunner().invoke(app, ["model", "calibrate", "--val", str(f), "--label", "angry"], env=env)
    assert res.exit_code == 2 and "expected one of negative, neutral, positive" in res.output
    res = CliRunner().invoke(app, ["model", "calibrate", "--val", str(f)], env=env)
    assert res.exit_code == 2 and "needs the transformer" in res.output
    res = CliRunner().invoke(app, ["model", "calibrate", "--val", str(tmp_path / "nope.tsv")], env=env)
    assert res.exit_code == 2 and "nope.tsv" in res.output
