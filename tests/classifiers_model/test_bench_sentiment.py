"""``benchmarks/bench_sentiment.py``: the quality table and its verdicts (fake classifier, tiny files)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from classifiers.fake import FakeClassifier

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
