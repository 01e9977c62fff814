"""Score a classifier on a labelled file: ``fruehwarn model eval FILE [--format] [--part]``."""

from __future__ import annotations

from pathlib import Path

from classifiers.base import Classifier
from classifiers.evaluation.metrics import Scores, format_scores, score
from classifiers.training.data import DataError, Example, germeval_split, read_labelled


class EvalError(ValueError):
    """The file cannot be evaluated; the message says why."""


def load_examples(path: Path, fmt: str | None = None, part: str = "all") -> list[Example]:
    """Labelled examples of ``path``; for GermEval XML, ``part`` selects the fixed split."""
    try:
        ex = read_labelled(Path(path), fmt)
        if part != "all":
            is_germeval = (fmt or ("germeval" if Path(path).suffix.lower() == ".xml" else "tsv")) == "germeval"
            if not is_germeval:
                raise EvalError(f"--part {part} applies only to GermEval XML files")
            ex = germeval_split(ex, part)
    except DataError as exc:
        raise EvalError(str(exc)) from None
    return ex


def predict_labels(classifier: Classifier, texts: list[str]) -> list[str]:
    """One sentiment label per text; every text is scored as German here (the corpora are German)."""
    forward = getattr(classifier, "forward", None)
    if forward is not None:  # the transformer: score all texts, regardless of language detection
        from classifiers.base import LABELS

        probs, _ = forward(texts)
        return [LABELS[int(i)] for i in probs.argmax(1)]
    return [p.sentiment or "neutral" for p in classifier.classify(texts)]


def evaluate(classifier: Classifier, examples: list[Example]) -> Scores:
    """Sentiment scores of ``classifier`` on ``examples``."""
    return score([e.label for e in examples], predict_labels(classifier, [e.text for e in examples]))


def evaluate_file(classifier: Classifier, path: Path, fmt: str | None = None, part: str = "all") -> str:
    ex = load_examples(path, fmt, part)
    s = evaluate(classifier, ex)
    title = f"{path} ({part if part != 'all' else 'all documents'}), model {classifier.version}"
    return format_scores(s, title)
