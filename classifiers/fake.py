"""A tiny deterministic classifier for tests that are not about the model.

Embedding: hashed bag of lower-cased word stems (first 6 letters) into ``dim`` buckets,
L2-normalised, so texts sharing words are close. Sentiment: a small German lexicon.
Language: the real detector (py3langid) when available, else German.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from classifiers.base import LABELS, Prediction

_WORD = re.compile(r"[a-zäöüß0-9]+", re.IGNORECASE)
_NEG = {
    "störung", "ausfall", "kaputt", "abstürz", "stürzt", "absturz", "fehler", "kein", "keine", "nicht",
    "geht", "ärger", "nervt", "mist", "schlecht", "langsam", "verspätung", "warte", "wütend", "down",
    "problem", "probleme", "funktioniert", "sauer", "katastrophe", "frech", "unverschämt", "weg",
}
_POS = {
    "danke", "super", "toll", "klasse", "gut", "top", "freue", "prima", "lieb", "genial", "schnell",
    "zufrieden", "perfekt", "großartig", "gewinnspiel", "liebe", "spitze", "empfehle",
}


def _stem(word: str) -> str:
    return word.lower()[:6]


class FakeClassifier:
    """Deterministic, instant, dependency-free stand-in for the transformer."""

    version = "fake-1"

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim

    def embed(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, dtype=np.float32)
        for word in _WORD.findall(text):
            if len(word) < 3:
                continue
            h = int.from_bytes(hashlib.blake2b(_stem(word).encode(), digest_size=8).digest(), "little")
            vec[h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        norm = float(np.linalg.norm(vec))
        if norm == 0:
            vec[0] = 1.0
            norm = 1.0
        return vec / norm

    def sentiment(self, text: str) -> dict[str, float]:
        words = [w.lower() for w in _WORD.findall(text)]
        neg = sum(1 for w in words if w in _NEG or any(w.startswith(n) for n in ("störung", "ausfall", "abstürz")))
        pos = sum(1 for w in words if w in _POS)
        raw = np.array([neg, 0.5, pos], dtype=np.float32)
        exp = np.exp(raw * 2 - (raw * 2).max())
        probs = exp / exp.sum()
        return {label: float(p) for label, p in zip(LABELS, probs, strict=True)}

    def classify(self, texts: list[str]) -> list[Prediction]:
        out = []
        for text in texts:
            lang = _detect(text)
            is_de = lang == "de"
            scores = self.sentiment(text) if is_de else {}
            label = max(scores, key=scores.__getitem__) if scores else None
            out.append(Prediction(lang=lang, is_german=is_de, sentiment=label, scores=scores,
                                  embedding=self.embed(text)))
        return out


def _detect(text: str) -> str:
    try:
        from classifiers.language import detect_language
    except ImportError:  # language.py not there yet
        return "de"
    return detect_language(text)[0]
