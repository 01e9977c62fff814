"""How far apart a model's topic embedding keeps the replay's incidents and standing themes.

The replay benchmark (``bench_replay.py --encoder model``) takes minutes and says only whether
an incident was missed; this says why, in seconds: the mean centred cosine of the embedding
``fruehwarn run`` groups on (the one-pass embedding of the shipped or ``--weights`` model,
int8 in ONNX Runtime) within each incident's sentences and between an incident and the themes
it may be swallowed by -- the standing invoice questions, the slow-PDF complaint that is read
negative, the angry author's invoice complaints, and the other incidents. Embeddings are centred
on the mean of the everyday chatter, as the grouper centres on the running mean of all posts.

A row's ``gap`` is the within-incident similarity minus the highest similarity to another
group: the margin the join threshold has to fall into. A gap near 0 means the incident's posts
join that group's topic at any threshold (session 10: the double debit and the slow-PDF
complaint, ``classifiers/weights/README.md``).

    .venv/bin/python benchmarks/bench_separation.py [--weights W ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "scenarios"))

import make_scenarios as sc  # noqa: E402

from classifiers.runtime import load_classifier  # noqa: E402
from config import load_settings  # noqa: E402

SLOW_PDF = next(t for t in sc.INVOICE_MONDAY if "PDF lädt" in t)
GROUPS: dict[str, list[str]] = {
    "outage": [t.format(city="Köln") for t in sc.OUTAGE],
    "app bug": sc.APP_BUG,
    "DSL München": sc.DSL_MUNICH,
    "double debit": sc.DOUBLE_CHARGE,
    "invoice questions": [t for t in sc.INVOICE_MONDAY if t != SLOW_PDF],
    "slow PDF": [SLOW_PDF, "Mal ehrlich: " + SLOW_PDF, SLOW_PDF + " #frage", "Moin! " + SLOW_PDF],
    "angry invoice": [t for t in sc.ANGRY if "Rechnung" in t],
    "campaign": sc.CAMPAIGN,
}
INCIDENTS = ("outage", "app bug", "DSL München", "double debit")


def separation(embed: dict[str, np.ndarray], centre: np.ndarray) -> list[tuple[str, float, str, float]]:
    """Per incident: (incident, within-similarity, closest other group, its similarity)."""
    unit = {}
    for name, e in embed.items():
        x = e - centre
        unit[name] = x / np.linalg.norm(x, axis=1, keepdims=True)
    rows = []
    for inc in INCIDENTS:
        a = unit[inc]
        s = a @ a.T
        within = float(s[~np.eye(len(a), dtype=bool)].mean())
        others = {g: float((a @ unit[g].T).mean()) for g in unit if g != inc}
        closest = max(others, key=others.__getitem__)
        rows.append((inc, within, closest, others[closest]))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", type=Path, action="append", help="sentiment weights (repeat; default: shipped)")
    args = ap.parse_args()
    print(f"{'weights':34s} {'incident':14s} {'within':>7s}  {'closest other group':20s} {'sim':>6s} {'gap':>6s}")
    for w in args.weights or [None]:
        model = {"sentiment_weights": str(w)} if w else {}
        clf = load_classifier(load_settings(model=model))
        embed = {g: np.stack([p.embedding for p in clf.classify(texts)]) for g, texts in GROUPS.items()}
        centre = np.stack([p.embedding for p in clf.classify(sc.CHATTER)]).mean(0)
        name = str(w.parent.name if w else "shipped")
        for inc, within, closest, sim in separation(embed, centre):
            print(f"{name:34s} {inc:14s} {within:7.2f}  {closest:20s} {sim:6.2f} {within - sim:6.2f}")


if __name__ == "__main__":
    main()
