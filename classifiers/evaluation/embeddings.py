"""Does the one-pass embedding still group topics? A check on GermEval 2017 aspect categories.

    python -m classifiers.evaluation.embeddings GERMEVAL.xml [--part heldout]

Documents of the chosen part whose opinions name exactly one aspect category other than
``Allgemein`` (e.g. ``Zugfahrt``, ``Sonstige Unregelmässigkeiten``, ``Ticketkauf``) are the
items; for each, its nearest neighbours by cosine are looked up among the others
(leave-one-out). Reported: 1-NN accuracy and mean precision@5 of the category, for

- the original multilingual-e5-small embedding (mean pooling, what a second pass would give),
- the fine-tuned sentiment network's embedding (one pass gives sentiment and embedding),
  float32 and int8, of the shipped weights or of ``--weights`` candidates;

raw and centred (minus the mean of the documents, as topic grouping centres on the running mean).
"""

from __future__ import annotations

import argparse
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np

from classifiers.training.data import Example, germeval_split


def read_aspect_docs(path: Path, part: str) -> list[tuple[str, str]]:
    """(text, single aspect category) for the documents of ``part`` with one non-general category."""
    root = ET.parse(path).getroot()
    examples, cats = [], {}
    for i, doc in enumerate(root.iter("Document"), start=1):
        ex = Example(doc.get("id") or str(i), (doc.findtext("text") or "").strip(),
                     (doc.findtext("sentiment") or "neutral").strip())
        examples.append(ex)
        found = {op.get("category", "").split("#")[0] for op in doc.iter("Opinion")} - {"Allgemein", ""}
        cats[id(ex)] = found
    chosen = germeval_split(examples, part) if part != "all" else examples
    return [(e.text, next(iter(cats[id(e)]))) for e in chosen if len(cats[id(e)]) == 1]


def knn_scores(emb: np.ndarray, labels: list[str], k: int = 5) -> tuple[float, float]:
    sim = emb @ emb.T
    np.fill_diagonal(sim, -np.inf)
    nn = np.argsort(-sim, axis=1)[:, :k]
    lab = np.array(labels)
    top1 = float(np.mean(lab[nn[:, 0]] == lab))
    pk = float(np.mean(lab[nn] == lab[:, None]))
    return top1, pk


def _centred(emb: np.ndarray) -> np.ndarray:
    """Minus the mean, re-normalised: topic grouping compares centred vectors (running mean of all posts)."""
    c = emb - emb.mean(axis=0)
    return c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", type=Path)
    ap.add_argument("--part", default="heldout")
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--weights", type=Path, action="append", default=None,
                    help="sentiment weights to check (repeat; default: the shipped ones)")
    args = ap.parse_args()

    from classifiers.encoder import load_encoder
    from classifiers.runtime import DEFAULT_WEIGHTS, BatchedClassifier, load_classifier, max_tokens_of
    from classifiers.training.train import reference_embeddings
    from config import load_settings

    docs = read_aspect_docs(args.file, args.part)
    texts, labels = [t for t, _ in docs], [c for _, c in docs]
    counts = Counter(labels)
    print(f"{len(docs)} documents, {len(counts)} categories: {dict(counts.most_common())}")
    settings = load_settings(model={"cache_dir": args.cache_dir}) if args.cache_dir else load_settings()
    enc = load_encoder(settings.model_cache_dir, max_tokens=max_tokens_of(settings.model))
    rows = [("original multilingual-e5-small (second pass)", reference_embeddings(enc, texts))]
    for weights in args.weights or [DEFAULT_WEIGHTS]:
        for quant in (False, True):  # in ONNX Runtime, float32 and int8
            model = settings.model.model_copy(update={"runtime": "onnx", "quantize": quant, "sentiment_weights": weights})
            clf = load_classifier(settings.model_copy(update={"model": model}))
            assert isinstance(clf, BatchedClassifier)
            rows.append((f"{str(weights)[-34:]}, one pass ({'int8' if quant else 'float32'})", clf.forward(texts)[1]))
    majority = counts.most_common(1)[0][1] / len(labels)
    print(f"\n{'embedding':<52} {'1-NN acc':>9} {'P@5':>7} {'centred: 1-NN':>14} {'P@5':>7}")
    for name, emb in rows:
        top1, p5 = knn_scores(emb, labels)
        c1, c5 = knn_scores(_centred(emb), labels)
        print(f"{name:<52} {top1:>9.3f} {p5:>7.3f} {c1:>14.3f} {c5:>7.3f}")
    print(f"{'(majority category)':<52} {majority:>9.3f} {majority:>7.3f}")


if __name__ == "__main__":
    main()
