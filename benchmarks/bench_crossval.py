"""Cross-validated GermEval figure for a recipe trained on more of GermEval 2017 dev.

A model trained on the held-out part of GermEval dev (``fruehwarn model train --germeval-part
all``) has no held-out figure of its own. This gives its recipe one: fold model K is the same
recipe trained on ``train``, ``val`` and every held-out fold but K of N
(``--germeval-part heldout-J/N`` for each J != K), so it never saw ``heldout-K/N``; each fold
model is scored on its own fold and the predictions are pooled over the whole held-out part.
Reference models (``--reference``, e.g. the model trained on the train part alone) are scored on
the same documents, fold by fold, so the rows compare like with like.

Each model runs as the product does (int8 unless ``--float32``) with the logit bias recorded
beside its weights. A model that trained on documents of the fold it is scored on is refused
(by the GermEval parts recorded in the ``.json`` beside its weights).

    .venv/bin/python benchmarks/bench_crossval.py --fold artifacts/cv1/sentiment.safetensors \\
        --fold artifacts/cv2/sentiment.safetensors --fold artifacts/cv3/sentiment.safetensors \\
        [--reference W] [--data-dir DIR] [--float32]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from classifiers.base import LABELS, Classifier  # noqa: E402
from classifiers.evaluation.evaluate import load_examples, predict_labels  # noqa: E402
from classifiers.evaluation.metrics import Scores, score  # noqa: E402
from classifiers.runtime import trained_germeval_parts  # noqa: E402
from classifiers.training.data import Example, trained_overlap  # noqa: E402


def check_fold(weights: Path, k: int, n: int, examples: list[Example]) -> None:
    """Refuse a model that trained on documents of ``heldout-K/N``, where it is to be scored."""
    seen = trained_overlap(examples, trained_germeval_parts(weights), f"heldout-{k}/{n}")
    if seen:
        raise SystemExit(f"{weights}: trained on {seen} documents of heldout-{k}/{n} "
                         f"({', '.join(trained_germeval_parts(weights))}); it cannot be scored there")


def pooled(weights_per_fold: list[Path], data: Path, quantize: bool) -> tuple[list[Scores], Scores]:
    """Scores per fold and over all folds, model K scored on ``heldout-K/N``."""
    from classifiers.runtime import load_classifier
    from config import load_settings

    n = len(weights_per_fold)
    gold: list[str] = []
    pred: list[str] = []
    per_fold = []
    cache: dict[Path, Classifier] = {}
    for k, w in enumerate(weights_per_fold, start=1):
        ex = load_examples(data, part=f"heldout-{k}/{n}")
        if w not in cache:
            cache[w] = load_classifier(load_settings(model={"sentiment_weights": str(w), "quantize": quantize}))
        p = predict_labels(cache[w], [e.text for e in ex])
        per_fold.append(score([e.label for e in ex], p))
        gold += [e.label for e in ex]
        pred += p
    return per_fold, score(gold, pred)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fold", type=Path, action="append", required=True,
                    help="fold model K, in order (K = 1, 2, ...); at least two")
    ap.add_argument("--reference", type=Path, action="append", default=[],
                    help="a model scored on the same documents (must not have trained on the held-out part)")
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data",
                    help="the labelled corpora (default: ../shared/data)")
    ap.add_argument("--float32", action="store_true", help="the float32 graph instead of int8")
    args = ap.parse_args()
    n = len(args.fold)
    if n < 2:
        ap.error("--fold: at least two fold models")
    data = args.data_dir / "germeval2017" / "dev.xml"
    if not data.is_file():
        ap.error(f"{data} not found (the labelled corpora are not part of the project; see --data-dir)")
    examples = load_examples(data)
    for k, w in enumerate(args.fold, start=1):
        check_fold(w, k, n, examples)
    for w in args.reference:
        for k in range(1, n + 1):
            check_fold(w, k, n, examples)
    rows = [("cross-validated (fold K scores heldout-K/N)", *pooled(args.fold, data, not args.float32))]
    rows += [(f"reference {w}", *pooled([w] * n, data, not args.float32)) for w in args.reference]
    print(f"GermEval 2017 dev, held-out 30 % in {n} folds, {'float32' if args.float32 else 'int8'}")
    print(f"{'model':60s}  {'docs':>5s}  {'micro':>6s}  {'macro':>6s}  {'F1 ' + '/'.join(x[:3] for x in LABELS):>17s}"
          f"  per fold micro")
    for name, folds, total in rows:
        per = "/".join(f"{total.per_class_f1.get(x, 0.0):.2f}" for x in LABELS)
        print(f"{name[:60]:60s}  {total.n:5d}  {total.micro_f1:6.3f}  {total.macro_f1:6.3f}  {per:>17s}  "
              + " ".join(f"{s.micro_f1:.3f}" for s in folds))


if __name__ == "__main__":
    main()
