"""The small interface every classifier implements, so stages and tests can swap models."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

LABELS = ("negative", "neutral", "positive")


@dataclass(frozen=True)
class Prediction:
    """What one forward pass says about one text."""

    lang: str  # ISO 639-1 code ("de", "en", ...) or "und"
    is_german: bool
    sentiment: str | None  # negative | neutral | positive; None when the text is not German
    scores: dict[str, float] = field(default_factory=dict)  # probability per label
    embedding: np.ndarray | None = None  # float32, L2-normalised, for topic grouping


class Classifier(Protocol):
    """Language, sentiment and embedding for a batch of texts."""

    version: str  # recorded with every Classification row
    dim: int  # embedding size

    def classify(self, texts: list[str]) -> list[Prediction]: ...
