"""``benchmarks/bench_sentiment.py``: the quality table and its verdicts (fake classifier, tiny files)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from classifiers.fake import FakeClassifier
from classifiers.training.data import Example

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_sentiment", ROOT / "benchmarks" / "bench_sentiment.py")
assert _spec and _spec.loader
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_sentiment"] = bench  # dataclasses look their module up
_spec.loader.exec_module(bench)


def test_a_target_passes_only_when_reached_not_when_it_rounds_to_it() -> None:
    d = bench.Dataset("GermEval", "x.xml", "heldout", 0.80, 0.60)
    assert bench.verdict(d, 0.80, 0.5998) == "micro >= 0.80: PASS, macro >= 0.60: FAIL"
    assert bench.verdict(d, 0.7999, 0.61) == "micro >= 0.80: FAIL, macro >= 0.60: PASS"
    assert bench.verdict(bench.Dataset("SB10k", "y.tsv"), 0.1, 0.1) == ""


def test_missing_corpora_are_skipped_and_named_the_probes_always_run(tmp_path: Path) -> None:
    found, skipped = bench.resolve(tmp_path)
    assert [d.name for d, _ in found] == ["service probes", "sarcasm probes", "Bahn-speak probes"]
    assert len(skipped) == 2 and all("not found" in s for s in skipped)
    (tmp_path / "sb10k").mkdir()
    (tmp_path / "sb10k" / "test.tsv").write_text("1\tnegative\tkaputt\n2\tpositive\tsuper\n", encoding="utf-8")
    found, skipped = bench.resolve(tmp_path)
    assert [d.name for d, _ in found][0] == "SB10k test" and len(skipped) == 1


def test_rows_score_each_data_set_and_print_one_line_each(tmp_path: Path) -> None:
    f = tmp_path / "t.tsv"
    f.write_text("1\tnegative\tDie App ist kaputt, Störung!\n2\tpositive\tSuper, danke!\n3\tneutral\tFährt der Zug?\n",
                 encoding="utf-8")
    reachable, out_of_reach = bench.Dataset("tiny", str(f), target_micro=0.0), bench.Dataset("tiny2", str(f), target_macro=1.01)
    rows = bench.measure(FakeClassifier(), [(reachable, f), (out_of_reach, f)])
    assert [r.docs for r in rows] == [3, 3] and rows[0].model == FakeClassifier.version
    assert [r.verdict for r in rows] == ["micro >= 0.00: PASS", "macro >= 1.01: FAIL"]  # each row gets its targets
    rows = rows[:1]
    table = bench.format_rows(rows).splitlines()
    assert len(table) == 2 and table[1].startswith("tiny") and f"{rows[0].micro_f1:.3f}" in table[1]


def test_a_germeval_part_the_model_trained_on_gets_no_verdict(tmp_path: Path) -> None:
    docs = "".join(f'<Document id="d{i}"><sentiment>{["negative", "neutral", "positive"][i % 3]}</sentiment>'
                   f"<text>Text {i}</text></Document>" for i in range(60))
    xml = tmp_path / "dev.xml"
    xml.write_text(f"<Documents>{docs}</Documents>", encoding="utf-8")
    held = bench.Dataset("GermEval held-out", str(xml), "heldout", 0.0, 0.0)
    fair, = bench.measure(FakeClassifier(), [(held, xml)], ["train", "val"])
    assert fair.verdict == "micro >= 0.00: PASS, macro >= 0.00: PASS"
    seen, = bench.measure(FakeClassifier(), [(held, xml)], ["all"])
    assert seen.verdict == f"not held out: trained on {seen.docs} of these (see benchmarks/bench_crossval.py)"


def test_crossval_refuses_a_fold_model_that_saw_its_fold(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_crossval", ROOT / "benchmarks" / "bench_crossval.py")
    assert spec and spec.loader
    cv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cv)
    ex = [Example(f"id{i}", f"t{i}", ["negative", "neutral", "positive"][i % 3]) for i in range(90)]
    w = tmp_path / "fold1.safetensors"
    w.with_suffix(".json").write_text(json.dumps({"config": {"germeval_parts": ["train", "val", "heldout-2/3",
                                                                               "heldout-3/3"]}}), encoding="utf-8")
    cv.check_fold(w, 1, 3, ex)  # fold model 1 never saw heldout-1/3
    with pytest.raises(SystemExit, match="trained on 9 documents of heldout-2/3"):
        cv.check_fold(w, 2, 3, ex)
