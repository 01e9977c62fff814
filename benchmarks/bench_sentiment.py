"""Sentiment quality against the issue's targets, on data the shipped model never trained on.

One table for the figures the README reports: micro-F1, macro-F1 and per-class F1 of the shipped
(or ``--weights``) model on the held-out 30 % of GermEval 2017 dev (the fixed split of
``classifiers.training.data``; target micro-F1 >= 0.80 and macro-F1 >= 0.60), SB10k test, and the
project's own service, sarcasm and Bahn-speak probes -- for the int8 graph (the default) and float32, with
the logit bias recorded beside the weights and, with ``--unshifted``, without it.

The labelled corpora are not part of the project (``../shared/data``, or ``--data-dir``); a corpus
that is not there is skipped and said so. The probes ship with the project.

    .venv/bin/python benchmarks/bench_sentiment.py [--data-dir DIR] [--weights W] [--unshifted]
        [--variants int8,float32] [--report OUT.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from classifiers.base import LABELS, Classifier  # noqa: E402
from classifiers.evaluation.evaluate import evaluate, load_examples  # noqa: E402
from classifiers.training.data import trained_overlap  # noqa: E402

PROBES = ROOT / "classifiers" / "evaluation"


@dataclass(frozen=True)
class Dataset:
    name: str
    path: str  # relative to --data-dir, or absolute
    part: str = "all"
    target_micro: float | None = None
    target_macro: float | None = None


DATASETS = (
    Dataset("GermEval 2017 dev, held-out 30 %", "germeval2017/dev.xml", "heldout", 0.80, 0.60),
    Dataset("SB10k test", "sb10k/test.tsv"),
    Dataset("service probes", str(PROBES / "service_probes.tsv")),
    Dataset("sarcasm probes", str(PROBES / "sarcasm_probes.tsv")),
    Dataset("Bahn-speak probes", str(PROBES / "bahn_probes.tsv")),
)


@dataclass
class Row:
    data: str
    model: str
    docs: int
    micro_f1: float
    macro_f1: float
    per_class_f1: dict[str, float]
    verdict: str  # "" when the data set has no target


def verdict(d: Dataset, micro: float, macro: float) -> str:
    parts = []
    for what, target, value in (("micro", d.target_micro, micro), ("macro", d.target_macro, macro)):
        if target is not None:
            parts.append(f"{what} >= {target:.2f}: {'PASS' if value >= target else 'FAIL'}")
    return ", ".join(parts)


def measure(classifier: Classifier, datasets: list[tuple[Dataset, Path]],
            trained_parts: Sequence[str] = ("train",)) -> list[Row]:
    """Score ``classifier`` on each (data set, resolved path). ``trained_parts``: the GermEval parts
    the model trained on; a GermEval part it has seen gets no verdict, it is no held-out figure."""
    rows = []
    for d, path in datasets:
        s = evaluate(classifier, load_examples(path, part=d.part))
        seen = trained_overlap(load_examples(path), list(trained_parts), d.part) if d.part != "all" else 0
        note = (f"not held out: trained on {seen} of these (see benchmarks/bench_crossval.py)" if seen
                else verdict(d, s.micro_f1, s.macro_f1))
        rows.append(Row(d.name, classifier.version, s.n, s.micro_f1, s.macro_f1, s.per_class_f1, note))
    return rows


def format_rows(rows: list[Row]) -> str:
    w = max(len(r.data) for r in rows)
    m = max(len(r.model) for r in rows)
    lines = [f"{'data':{w}s}  {'model':{m}s}  {'docs':>5s}  {'micro':>6s}  {'macro':>6s}  "
             f"{'F1 ' + '/'.join(x[:3] for x in LABELS):>17s}  target"]
    for r in rows:
        per = "/".join(f"{r.per_class_f1[x]:.2f}" if x in r.per_class_f1 else "  - " for x in LABELS)
        lines.append(f"{r.data:{w}s}  {r.model:{m}s}  {r.docs:5d}  {r.micro_f1:6.3f}  {r.macro_f1:6.3f}  "
                     f"{per:>17s}  {r.verdict}")
    return "\n".join(lines)


def resolve(data_dir: Path) -> tuple[list[tuple[Dataset, Path]], list[str]]:
    found, skipped = [], []
    for d in DATASETS:
        path = Path(d.path) if Path(d.path).is_absolute() else data_dir / d.path
        (found.append((d, path)) if path.is_file() else skipped.append(f"{d.name}: {path} not found"))
    return found, skipped


def main() -> None:
    from classifiers.runtime import load_classifier, trained_germeval_parts, weights_of
    from config import load_settings

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data",
                    help="the labelled corpora (default: ../shared/data)")
    ap.add_argument("--weights", type=Path, help="sentiment weights (default: settings / shipped)")
    ap.add_argument("--variants", default="int8,float32", help="int8 and/or float32 (ONNX Runtime)")
    ap.add_argument("--unshifted", action="store_true", help="also without the recorded logit bias")
    ap.add_argument("--report", type=Path, help="write the rows as JSON")
    args = ap.parse_args()
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if not variants or any(v not in ("int8", "float32") for v in variants):
        ap.error("--variants: int8 and/or float32")
    datasets, skipped = resolve(args.data_dir)
    for s in skipped:
        print(f"skipped: {s} (the labelled corpora are not part of the project; see --data-dir)")
    rows: list[Row] = []
    for variant in variants:
        for bias in ([None, {}] if args.unshifted else [None]):
            model: dict[str, Any] = {"quantize": variant == "int8"}
            if args.weights:
                model["sentiment_weights"] = str(args.weights)
            if bias is not None:
                model["logit_bias"] = bias
            settings = load_settings(model=model)
            rows += measure(load_classifier(settings), datasets,
                            trained_germeval_parts(weights_of(settings.model, args.weights)))
    rows.sort(key=lambda r: [d.name for d, _ in datasets].index(r.data))
    print(format_rows(rows))
    if args.report:
        args.report.write_text(json.dumps([asdict(r) for r in rows], indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
