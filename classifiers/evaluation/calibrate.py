"""Choose a logit bias on validation data: ``fruehwarn model calibrate --val FILE ...``.

The model is trained with class weights ((N / 3 n_c) ** 0.5, ``--class-weight 0.5``) so that the
rare negative and positive posts are not drowned by the neutral majority. That moves its decision
boundary away from neutral: it reads more posts as negative or positive than the data have
(session-11 model in float32, GermEval validation part: 73 posts predicted negative for 59 gold). A bias added to
one label's logit corrects the prior the class weights moved ("logit adjustment", Menon et al.
2021); it changes no weight, costs nothing at inference and is recorded beside the weights
(``calibration.logit_bias`` in ``sentiment.json``), where :func:`classifiers.runtime.logit_bias_of`
reads it.

The bias is chosen on validation files only -- GermEval XML by its fixed validation part, never the
held-out one -- by the metric the weights themselves were chosen by: the mean over the files of
(micro-F1 + macro-F1) / 2. On a few hundred documents one document more or less right moves that
metric by ~0.002, so the choice is made on the metric smoothed over neighbouring grid points (a
plateau, not a spike), ties going to the smaller shift.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from classifiers.base import LABELS
from classifiers.evaluation.metrics import Scores, score

GRID = tuple(round(float(x), 2) + 0.0 for x in np.arange(-1.0, 2.0001, 0.1))  # shifts of the log-odds tried


@dataclass
class Calibration:
    label: str  # the label whose logit is shifted
    grid: tuple[float, ...]
    scores: list[list[Scores]]  # per shift, per file
    metric: list[float]  # selection metric per shift
    smoothed: list[float]  # the metric averaged with its grid neighbours
    best: float  # the chosen shift

    @property
    def bias(self) -> dict[str, float]:
        return {self.label: self.best} if self.best else {}

    def metric_at(self, shift: float) -> float:
        return self.metric[self.grid.index(shift)]


def calibration_part(path: Path) -> str:
    """The part of ``path`` calibration may read: GermEval XML its validation part, a TSV all of it."""
    return "val" if Path(path).suffix.lower() == ".xml" else "all"


def _selection(per_file: list[Scores]) -> float:
    return float(np.mean([(s.micro_f1 + s.macro_f1) / 2 for s in per_file]))


def choose_bias(probs: list[np.ndarray], gold: list[list[str]], label: str = "neutral",
                grid: tuple[float, ...] = GRID) -> Calibration:
    """The shift of ``label``'s logit (one of ``grid``, which must hold 0) that reads the validation
    files best; ``probs`` are the unshifted probabilities (n, 3) per file, ``gold`` its labels."""
    if label not in LABELS:
        raise ValueError(f"unknown label {label!r}; expected one of {', '.join(LABELS)}")
    if 0.0 not in grid:
        raise ValueError("the grid must hold 0 (no shift) to compare against")
    if not probs or len(probs) != len(gold) or any(len(p) != len(g) or not len(g) for p, g in zip(probs, gold, strict=False)):
        raise ValueError("every validation file needs as many probabilities as gold labels, and at least one")
    col = LABELS.index(label)
    logs = [np.log(np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1.0)) for p in probs]
    table: list[list[Scores]] = []
    for shift in grid:
        row = []
        for lp, g in zip(logs, gold, strict=True):
            shifted = lp.copy()
            shifted[:, col] += shift
            row.append(score(g, [LABELS[i] for i in shifted.argmax(1)]))
        table.append(row)
    metric = [_selection(row) for row in table]
    smoothed = [float(np.mean(metric[max(0, i - 1):i + 2])) for i in range(len(grid))]
    best = max(range(len(grid)), key=lambda i: (round(smoothed[i], 9), -abs(grid[i])))
    return Calibration(label=label, grid=tuple(grid), scores=table, metric=metric, smoothed=smoothed, best=grid[best])


def format_calibration(cal: Calibration, names: list[str]) -> str:
    head = f"{cal.label} shift | " + " | ".join(f"{n} micro / macro" for n in names) + " | metric | smoothed"
    lines = [head]
    for i, shift in enumerate(cal.grid):
        mark = "  <- chosen" if shift == cal.best else ""
        cells = " | ".join(f"{s.micro_f1:.3f} / {s.macro_f1:.3f}" for s in cal.scores[i])
        lines.append(f"{shift:+.1f} | {cells} | {cal.metric[i]:.4f} | {cal.smoothed[i]:.4f}{mark}")
    lines.append(f"chosen: {cal.label} {cal.best:+.1f} (metric {cal.metric_at(cal.best):.4f}, "
                 f"unshifted {cal.metric_at(0.0):.4f})")
    return "\n".join(lines)


def write_calibration(weights: Path, cal: Calibration, files: list[Path], version: str) -> Path:
    """Record the chosen bias in the ``.json`` beside ``weights`` (section ``calibration``)."""
    meta_path = Path(weights).with_suffix(".json")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    except ValueError as exc:
        raise ValueError(f"{meta_path} is not valid JSON ({exc}); not overwritten") from None
    meta["calibration"] = {
        "logit_bias": cal.bias,
        "measured_with": (f"fruehwarn model calibrate with {version} on "
                          + ", ".join(f"{f.name} ({calibration_part(f)})" for f in files)
                          + f": selection metric {cal.metric_at(0.0):.4f} unshifted, "
                            f"{cal.metric_at(cal.best):.4f} with {cal.label} {cal.best:+.1f}"),
    }
    meta_path.write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")
    return meta_path
