"""Readers for the labelled German corpora and the fixed split of GermEval 2017 dev.

Formats (see the corpora's own documentation):
- GermEval 2017 XML: ``<Document id=...>`` with ``<sentiment>`` and ``<text>``.
- SB10k / PotTS TSV: ``id \\t label \\t text \\t ...``, unquoted (``csv.QUOTE_NONE``);
  PotTS' ``mixed`` label is dropped (it is none of our three classes).

HTML entities (``&gt;``) that the tweet corpora keep are unescaped, as crawled posts are.

The held-out split: GermEval 2017 dev is the only in-domain (Deutsche Bahn) data we have.
:func:`germeval_split` splits it per class with a fixed seed into 60 % train, 10 %
validation and 30 % held-out test; the held-out part is never trained on or used for
model selection and stands in for "unseen GermEval" in the figures.

Cross-validation over the held-out part: ``heldout-K/N`` is the K-th of N stratified folds of
it. A model trained on ``train``, ``val`` and every other fold and scored on fold K never saw
those documents, so N such models measure, on all held-out documents, what training on
more of GermEval dev gives (``fruehwarn model train --germeval-part``).
"""

from __future__ import annotations

import csv
import html
import random
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from classifiers.base import LABELS

SPLIT_SEED = 20170915  # fixed: changing it changes which documents are held out
SPLIT_FRACTIONS = {"train": 0.6, "val": 0.1, "heldout": 0.3}


class DataError(ValueError):
    """A labelled file cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Example:
    id: str
    text: str
    label: str  # one of LABELS
    gold: bool = False  # trained on this label only, never a teacher's (``fruehwarn model train --gold``)
    in_domain: bool = False  # a GermEval document (``--germeval-gold`` trains these on their own label too)


def read_germeval_xml(path: Path) -> list[Example]:
    """Documents of a GermEval 2017 XML file (document-level sentiment)."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise DataError(f"{path}: not valid GermEval XML ({exc})") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    out = []
    for i, doc in enumerate(root.iter("Document"), start=1):
        text = (doc.findtext("text") or "").strip()
        label = (doc.findtext("sentiment") or "").strip()
        if label not in LABELS:
            raise DataError(f"{path}: document {i} ({doc.get('id')}) has sentiment {label!r}; "
                            f"expected one of {', '.join(LABELS)}")
        out.append(Example(doc.get("id") or str(i), text, label))
    if not out:
        raise DataError(f"{path}: no <Document> elements found; is this a GermEval 2017 XML file?")
    return out


def read_tsv(path: Path, skip_labels: tuple[str, ...] = ("mixed",)) -> list[Example]:
    """``id \\t label \\t text`` rows (SB10k, PotTS); rows labelled ``mixed`` are skipped."""
    csv.field_size_limit(sys.maxsize)
    out = []
    try:
        with Path(path).open(encoding="utf-8", newline="") as fh:
            for n, row in enumerate(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) < 3:
                    raise DataError(f"{path}: line {n} has {len(row)} column(s); expected id, label, text")
                label = row[1].strip().lower()
                if label in skip_labels:
                    continue
                if label not in LABELS:
                    raise DataError(f"{path}: line {n} has label {row[1]!r}; expected one of {', '.join(LABELS)}")
                out.append(Example(row[0], html.unescape(row[2]).strip(), label))
    except OSError as exc:
        raise DataError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 ({exc})") from exc
    if not out:
        raise DataError(f"{path}: no labelled rows found")
    return out


def read_labelled(path: Path, fmt: str | None = None) -> list[Example]:
    """Read a GermEval XML or a TSV file; ``fmt`` is ``germeval`` or ``tsv`` (default: by suffix)."""
    path = Path(path)
    fmt = fmt or ("germeval" if path.suffix.lower() == ".xml" else "tsv")
    if fmt == "germeval":
        return read_germeval_xml(path)
    if fmt == "tsv":
        return read_tsv(path)
    raise DataError(f"unknown format {fmt!r}; expected germeval or tsv")


PART_HELP = "all, train, val, heldout, or heldout-K/N (the K-th of N folds of heldout)"


def _fold(part: str) -> tuple[int, int] | None:
    """``(K, N)`` of ``heldout-K/N``; None for any other name; DataError for a bad fold."""
    if not part.startswith("heldout-"):
        return None
    k, sep, n = part.removeprefix("heldout-").partition("/")
    if not (sep and k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n) and int(n) >= 2):
        raise DataError(f"split part {part!r}: expected heldout-K/N with 1 <= K <= N and N >= 2, e.g. heldout-1/3")
    return int(k), int(n)


def germeval_split(examples: list[Example], part: str) -> list[Example]:
    """A fixed, stratified part of GermEval 2017 dev (see module doc): ``all``, ``train``, ``val``,
    ``heldout`` or ``heldout-K/N``, the K-th of N folds of ``heldout``."""
    if part == "all":
        return list(examples)
    fold = _fold(part)
    if fold is not None:
        k, n = fold
        held = _part_indices(examples, "heldout")
        rng = random.Random(SPLIT_SEED + n)
        in_fold: set[int] = set()
        for label in LABELS:  # stratified: each fold gets its share of every class
            idx = sorted((i for i in held if examples[i].label == label), key=lambda i: examples[i].id)
            rng.shuffle(idx)
            in_fold.update(idx[k - 1::n])
        return [e for i, e in enumerate(examples) if i in in_fold]
    if part not in SPLIT_FRACTIONS:
        raise DataError(f"unknown split part {part!r}; expected {PART_HELP}")
    chosen = _part_indices(examples, part)
    return [e for i, e in enumerate(examples) if i in chosen]


def _part_indices(examples: list[Example], part: str) -> set[int]:
    rng = random.Random(SPLIT_SEED)
    chosen: set[int] = set()
    for label in LABELS:
        idx = sorted((i for i, e in enumerate(examples) if e.label == label), key=lambda i: examples[i].id)
        rng.shuffle(idx)
        n_train = round(len(idx) * SPLIT_FRACTIONS["train"])
        n_val = round(len(idx) * SPLIT_FRACTIONS["val"])
        bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "heldout": (n_train + n_val, len(idx))}
        lo, hi = bounds[part]
        chosen.update(idx[lo:hi])
    return chosen


def trained_overlap(examples: list[Example], trained_parts: list[str], part: str) -> int:
    """How many documents of ``part`` a model trained on ``trained_parts`` of the same file has seen
    (0: ``part`` is unseen by it, a fair test)."""
    seen = {id(e) for p in trained_parts for e in germeval_split(examples, p)}
    return sum(id(e) in seen for e in germeval_split(examples, part))
