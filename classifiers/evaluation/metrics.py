"""Micro-F1, macro-F1 and the confusion matrix over the three sentiment labels."""

from __future__ import annotations

from dataclasses import dataclass

from classifiers.base import LABELS


@dataclass
class Scores:
    n: int
    micro_f1: float  # equals accuracy with one label per document
    macro_f1: float  # mean of the per-class F1 (classes present in gold or prediction)
    per_class_f1: dict[str, float]
    confusion: list[list[int]]  # rows gold, columns predicted, in LABELS order


def score(gold: list[str], pred: list[str], labels: tuple[str, ...] = LABELS) -> Scores:
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold labels but {len(pred)} predictions")
    idx = {label: i for i, label in enumerate(labels)}
    cm = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, pred, strict=True):
        cm[idx[g]][idx[p]] += 1
    n = len(gold)
    correct = sum(cm[i][i] for i in range(len(labels)))
    f1s = {}
    for i, label in enumerate(labels):
        tp = cm[i][i]
        fp = sum(cm[r][i] for r in range(len(labels))) - tp
        fn = sum(cm[i]) - tp
        if tp + fp + fn == 0:
            continue
        f1s[label] = 2 * tp / (2 * tp + fp + fn)
    return Scores(n=n, micro_f1=correct / n if n else 0.0,
                  macro_f1=sum(f1s.values()) / len(f1s) if f1s else 0.0, per_class_f1=f1s, confusion=cm)


def format_scores(s: Scores, title: str = "", labels: tuple[str, ...] = LABELS) -> str:
    """A small text report: the two F1 figures, per-class F1 and the confusion matrix."""
    w = max(len(x) for x in labels) + 2
    lines = [title] if title else []
    lines.append(f"documents: {s.n}   micro-F1: {s.micro_f1:.3f}   macro-F1: {s.macro_f1:.3f}")
    lines.append("per class F1: " + ", ".join(f"{k} {v:.3f}" for k, v in s.per_class_f1.items()))
    lines.append("confusion matrix (rows: gold, columns: predicted)")
    lines.append(" " * w + "".join(f"{x:>{w}}" for x in labels))
    for label, row in zip(labels, s.confusion, strict=True):
        lines.append(f"{label:<{w}}" + "".join(f"{v:>{w}}" for v in row))
    return "\n".join(lines)
