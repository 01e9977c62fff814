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
