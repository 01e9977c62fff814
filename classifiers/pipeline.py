"""The classify stage: over the database (:func:`classify_pending`; :func:`classify_range` for one
worker's batch of post ids) and over files (:func:`classify_jsonl`).

``fruehwarn classify IN.jsonl OUT.jsonl`` contract (see DESIGN.md):
- input: one JSON object a line, ``{"id": str|int, "text": str}`` (further keys are ignored;
  blank lines are skipped);
- output: one line per input line, same order:
  ``{"id", "lang", "sentiment": "negative"|"neutral"|"positive"|null, "scores": {label: p}}``.
  A post that is not German (or has no letters: ``lang`` ``"und"``) gets ``sentiment: null``
  and empty ``scores``: it is kept and flagged, not scored as German.
- the whole input is checked before anything is written: a malformed line raises
  :class:`InputError` naming the file and line number, and no output file is left behind.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from classifiers.base import Classifier, Prediction
from storage.models import Classification, Post

log = logging.getLogger(__name__)

CHUNK = 2048  # texts handed to the classifier at once (it sorts them by length inside)


class InputError(ValueError):
    """A line of the input file is malformed; the message names the file and line."""


def read_posts_jsonl(path: Path) -> list[tuple[Any, str]]:
    """(id, text) per non-blank line; raise InputError naming the first bad line."""
    rows: list[tuple[Any, str]] = []
    try:
        fh = Path(path).open(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    with fh:
        n = 0
        try:
            for n, line in enumerate(fh, start=1):  # noqa: B007
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"{path}: line {n}: not valid JSON ({exc.msg} at column {exc.colno})") from None
                if not isinstance(obj, dict):
                    raise InputError(f"{path}: line {n}: expected an object {{\"id\", \"text\"}}, "
                                     f"got {type(obj).__name__}")
                if "id" not in obj or "text" not in obj:
                    missing = [k for k in ("id", "text") if k not in obj]
                    raise InputError(f"{path}: line {n}: missing key {', '.join(repr(k) for k in missing)}")
                if not isinstance(obj["text"], str):
                    raise InputError(f"{path}: line {n}: \"text\" must be a string, got {type(obj['text']).__name__}")
                if not isinstance(obj["id"], str | int) or isinstance(obj["id"], bool):
                    raise InputError(f"{path}: line {n}: \"id\" must be a string or an integer")
                rows.append((obj["id"], obj["text"]))
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: line {n + 1}: not UTF-8 ({exc.reason})") from None
    return rows


def _output_line(post_id: Any, p: Prediction) -> str:
    return json.dumps({
        "id": post_id, "lang": p.lang, "sentiment": p.sentiment,
        "scores": {k: round(float(v), 4) for k, v in p.scores.items()},
    }, ensure_ascii=False)


def classify_jsonl(in_path: Path, out_path: Path, classifier: Classifier, batch_size: int = 64,
                   *, progress: bool = False) -> int:
    """Classify a JSON-lines file into ``out_path`` (contract in the module doc); return the count.

    ``batch_size`` is the forward-pass size when the classifier has one; texts are handed
    over in chunks of at least 2,048 so the model can sort them by length.
    """
    rows = read_posts_jsonl(Path(in_path))
    if hasattr(classifier, "batch_size") and batch_size:
        classifier.batch_size = batch_size
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.partial")
    chunk = max(CHUNK, batch_size)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(rows), desc="classify", unit="post")
    try:
        with tmp.open("w", encoding="utf-8") as out:
            for start in range(0, len(rows), chunk):
                part = rows[start:start + chunk]
                preds = classifier.classify([t for _, t in part])
                for (post_id, _), p in zip(part, preds, strict=True):
                    out.write(_output_line(post_id, p) + "\n")
                if bar is not None:
                    bar.update(len(part))
        os.replace(tmp, out_path)
    finally:
        if bar is not None:
            bar.close()
        if tmp.exists():
            tmp.unlink()
    return len(rows)


def _row(post_id: int, p: Prediction, version: str) -> Classification:
    emb = None
    if p.embedding is not None:
        emb = np.asarray(p.embedding, dtype=np.float16).tobytes()
    return Classification(
        post_id=post_id, lang=p.lang[:10], is_german=p.is_german, sentiment=p.sentiment,
        score_negative=float(p.scores.get("negative", 0.0)), score_neutral=float(p.scores.get("neutral", 0.0)),
        score_positive=float(p.scores.get("positive", 0.0)), embedding=emb, model_version=version[:100],
    )


def classify_pending(settings: Any, engine: Engine, classifier: Classifier, limit: int = 1000) -> int:
    """Classify up to ``limit`` posts that have no Classification row yet, oldest first.

    Rows are committed per batch, so a crash loses at most the batch in flight and a re-run
    continues where it stopped. A post classified meanwhile by another process is skipped.
    Returns the number of Classification rows written.
    """
    return _classify(settings, engine, classifier, None, limit).written


@dataclass(frozen=True)
class RangeResult:
    """What :func:`classify_range` did: posts handed to the classifier, rows written."""

    predicted: int
    written: int

    @property
    def wasted(self) -> int:
        """Posts classified here but written by another process first (0 when batches are disjoint)."""
        return self.predicted - self.written


def classify_range(settings: Any, engine: Engine, classifier: Classifier, first: int, last: int) -> RangeResult:
    """Classify the unclassified posts with ``first <= id < last`` (one worker's batch), oldest first.

    Several workers each take a disjoint id range (fruehwarn/tasks.py defers one job per
    range), so they never classify the same post. Committed per batch like
    :func:`classify_pending`: a worker killed mid-range leaves what it committed, and the
    job run again classifies only the rest.
    """
    return _classify(settings, engine, classifier, (first, last), max(0, last - first))


def _classify(settings: Any, engine: Engine, classifier: Classifier, id_range: tuple[int, int] | None,
              limit: int) -> RangeResult:
    batch = max(1, int(getattr(getattr(settings, "model", None), "batch_size", 64)))
    with Session(engine) as session:
        stmt = (select(Post.id, Post.text)
                .outerjoin(Classification, col(Classification.post_id) == col(Post.id))
                .where(col(Classification.post_id).is_(None)))
        if id_range is not None:
            stmt = stmt.where(col(Post.id) >= id_range[0], col(Post.id) < id_range[1])
        stmt = stmt.order_by(col(Post.published_at), col(Post.id)).limit(limit)
        pending = [(int(i or 0), t or "") for i, t in session.exec(stmt).all()]
    written = 0
    step = max(batch, 256)
    for start in range(0, len(pending), step):
        part = pending[start:start + step]
        preds = classifier.classify([t for _, t in part])
        rows = [_row(pid, p, classifier.version) for (pid, _), p in zip(part, preds, strict=True)]
        written += _write(engine, rows)
    return RangeResult(predicted=len(pending), written=written)


def _write(engine: Engine, rows: list[Classification]) -> int:
    ids = [r.post_id for r in rows]
    with Session(engine) as session:
        done = set(session.exec(select(Classification.post_id).where(col(Classification.post_id).in_(ids))).all())
        fresh = [r for r in rows if r.post_id not in done]
        session.add_all(fresh)
        try:
            session.commit()
            return len(fresh)
        except IntegrityError:  # another worker wrote some of them in between: one by one
            session.rollback()
    n = 0
    for r in fresh:
        with Session(engine) as session:
            session.add(Classification.model_validate(r.model_dump()))
            try:
                session.commit()
                n += 1
            except IntegrityError:
                session.rollback()
    return n
