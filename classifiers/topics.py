"""Online topic grouping with stable ids (in memory; :mod:`classifiers.detect` persists it).

Each post joins the nearest active topic or starts a new one; a topic keeps its id as it
grows; two topics whose centroids converge are merged (the smaller one into the larger,
the caller records ``merged_into``); nothing is ever re-clustered or renumbered.

Similarity is measured on a *relative* scale so that it works both for the test encoder
(unrelated texts near cosine 0) and for multilingual-e5 (every German complaint near
0.85-0.93): embeddings are centred on the running mean of all embeddings seen (which
removes the common direction that makes e5 anisotropic) and re-normalised; the score of a
post against a topic is this centred cosine plus a keyword-overlap bonus (the share of
the post's idf-weighted words that the topic already uses), which keeps two incidents
that share general vocabulary ("App", "Kunde") apart.

Keywords are class-based TF-IDF (c-TF-IDF, as in BERTopic): a term's frequency in the
topic times ``log(1 + A / f)``, ``A`` the average number of words per topic and ``f`` the
term's frequency over all active topics; German stop words are dropped
(:mod:`classifiers.text`). The label is the top three keywords in their usual spelling.

Speed: the centred, normalised centroids of the active topics live in one numpy matrix;
a post costs one matrix-vector product. Topics not seen for ``topic_ttl`` (small ones
after ``singleton_ttl``) leave the matrix but keep their id and row in the database.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from config.settings import Settings, TopicSettings

MAX_TERMS = 200  # distinct terms kept per topic (the rest is noise for keywords)
DEFAULT_JOIN_THRESHOLD = 0.3  # tuned on the replay with the test encoder and with the original e5


def join_threshold_of(settings: Settings) -> float:
    """The join threshold in force: ``topics.join_threshold`` or, unset, the one measured for the
    embedding the configured model gives.

    Similarity scales differ between embeddings: the fine-tuned one-pass embedding puts complaints
    about different things closer than the original e5 does, so at 0.3 the replay benchmark's five
    incidents fell into one topic (sessions 5-6 model: 2 of 5 detected). The shipped weights record
    the value chosen for theirs on that replay and the demo (``topics.join_threshold`` in
    ``sentiment.json``). The test encoder and weights that record nothing use 0.3.
    """
    if settings.topics.join_threshold is not None:
        return settings.topics.join_threshold
    if settings.model.encoder == "fake":
        return DEFAULT_JOIN_THRESHOLD
    from classifiers.runtime import recorded_join_threshold, weights_of

    recorded = recorded_join_threshold(weights_of(settings.model))
    return DEFAULT_JOIN_THRESHOLD if recorded is None else recorded


@dataclass
class TopicState:
    """One topic as the grouper sees it. ``id`` < 0: not yet stored (temporary id)."""

    id: int
    vec_sum: np.ndarray  # float64 sum of the members' raw embeddings
    size: int
    terms: Counter[str] = field(default_factory=Counter)  # stem -> count
    forms: dict[str, str] = field(default_factory=dict)  # stem -> spelling shown in keywords
    last_post_at: datetime | None = None
    keywords: list[str] = field(default_factory=list)
    label: str = ""
    dirty: bool = True  # changed since last persisted
    top8: frozenset[str] | None = field(default=None, repr=False, compare=False)  # cache of the 8 commonest terms

    @property
    def centroid(self) -> np.ndarray:
        """Mean of the members' raw embeddings (float32, not normalised)."""
        return (self.vec_sum / max(self.size, 1)).astype(np.float32)


@dataclass
class Assignment:
    topic_id: int  # may be a temporary (negative) id until the caller stores the topic
    created: bool
    score: float  # combined score against the chosen topic (0 for a new topic)


class OnlineGrouper:
    """The active topics and the running statistics that grouping needs."""

    def __init__(self, settings: TopicSettings, dim: int, join_threshold: float | None = None) -> None:
        self.settings = settings
        self.dim = dim
        self.join_threshold = next(t for t in (join_threshold, settings.join_threshold, DEFAULT_JOIN_THRESHOLD)
                                   if t is not None)
        self.mean_sum = np.zeros(dim, dtype=np.float64)  # running sum of all embeddings seen
        self.mean_count = 0
        self._mu = np.zeros(dim, dtype=np.float64)  # the centring vector in force
        self._mu_count_at_refresh = 0
        self.topics: dict[int, TopicState] = {}
        self.term_freq: Counter[str] = Counter()  # f(t) over active topics
        self.total_terms = 0
        self._matrix = np.zeros((64, dim), dtype=np.float32)
        self._row_of: dict[int, int] = {}
        self._id_of_row: list[int] = []
        self._next_temp = -1

    # ------------------------------------------------------------------ state

    def set_mean(self, mean_sum: np.ndarray, count: int) -> None:
        self.mean_sum = mean_sum.astype(np.float64)
        self.mean_count = count
        self._refresh_all()

    def add_topic(self, state: TopicState) -> None:
        """Put a (loaded or new) topic into the active set."""
        self.topics[state.id] = state
        for term, count in state.terms.items():
            self.term_freq[term] += count
            self.total_terms += count
        self._set_row(state)

    def rename(self, old_id: int, new_id: int) -> None:
        """A temporary id got its database id."""
        state = self.topics.pop(old_id)
        state.id = new_id
        self.topics[new_id] = state
        row = self._row_of.pop(old_id)
        self._row_of[new_id] = row
        self._id_of_row[row] = new_id

    def retire(self, topic_id: int) -> TopicState:
        """Take a topic out of the active set (it keeps its id in the database)."""
        state = self.topics.pop(topic_id)
        for term, count in state.terms.items():
            self._drop_term(term, count)
        self._drop_row(topic_id)
        return state

    def retire_stale(self, now: datetime) -> list[int]:
        """Retire topics quiet for longer than their time to live; returns their ids."""
        s = self.settings
        big = now - timedelta(seconds=s.topic_ttl)
        small = now - timedelta(seconds=s.singleton_ttl)
        stale = [t.id for t in self.topics.values()
                 if t.last_post_at is not None and t.last_post_at < (big if t.size >= 3 else small)]
        if len(self.topics) - len(stale) > s.max_active_topics:
            rest = sorted((t for t in self.topics.values() if t.id not in set(stale)),
                          key=lambda t: (t.size >= 3, t.last_post_at or datetime.min))
            stale += [t.id for t in rest[: len(self.topics) - len(stale) - s.max_active_topics]]
        for tid in stale:
            self.retire(tid)
        return stale

    # ------------------------------------------------------------------ grouping

    def assign(self, embedding: np.ndarray, words: list[tuple[str, str]], at: datetime) -> Assignment:
        """Add one post (its embedding and ``(stem, spelling)`` terms): join the best topic or start one."""
        emb = np.asarray(embedding, dtype=np.float64)
        self.mean_sum += emb
        self.mean_count += 1
        if self.mean_count >= 1.25 * self._mu_count_at_refresh + 1 or (
                self.mean_count - self._mu_count_at_refresh) >= 2000:
            self._refresh_all()
        lowered = [k for k, _ in words]
        best_id, best_score = self._best(emb, lowered)
        if best_id is not None and best_score >= self.join_threshold:
            state = self.topics[best_id]
            state.vec_sum += emb
            state.size += 1
            self._add_terms(state, words)
            state.last_post_at = at if state.last_post_at is None else max(state.last_post_at, at)
            state.dirty = True
            self._set_row(state)
            return Assignment(best_id, False, best_score)
        tid = self._next_temp
        self._next_temp -= 1
        state = TopicState(id=tid, vec_sum=emb.copy(), size=1, last_post_at=at)
        self._add_terms(state, words)
        self.topics[tid] = state
        self._set_row(state)
        return Assignment(tid, True, 0.0)

    def score(self, embedding: np.ndarray, words: list[tuple[str, str]], topic_id: int) -> float:
        """Combined score of a post against one active topic (for tests and diagnostics)."""
        x = self._centred(np.asarray(embedding, dtype=np.float64))
        sim = float(self._matrix[self._row_of[topic_id]] @ x)
        return sim + self.settings.keyword_weight * self._overlap([k for k, _ in words], self.topics[topic_id])

    def _best(self, emb: np.ndarray, lowered: list[str]) -> tuple[int | None, float]:
        n = len(self._id_of_row)
        if not self._row_of:
            return None, -1.0
        x = self._centred(emb)
        sims = self._matrix[:n] @ x
        k = min(4, n)
        cand = np.argpartition(-sims, k - 1)[:k] if n > k else np.arange(n)
        best_id, best = None, -2.0
        idfs = self._idfs(lowered)  # the same for every candidate: computed once
        for row in cand:
            tid = self._id_of_row[int(row)]
            score = float(sims[row]) + self.settings.keyword_weight * _overlap(idfs, self.topics[tid])
            if score > best:
                best_id, best = tid, score
        return best_id, best

    def _overlap(self, lowered: list[str], state: TopicState) -> float:
        """Share of the post's idf-weighted words that the topic uses (0..1)."""
        return _overlap(self._idfs(lowered), state)

    def _idfs(self, lowered: list[str]) -> tuple[list[tuple[str, float]], float]:
        """The post's distinct words with their idf over the active topics, and the idf sum."""
        avg = self.total_terms / max(len(self.topics), 1)
        out, den = [], 0.0
        for w in set(lowered):
            idf = math.log(1.0 + avg / max(self.term_freq.get(w, 0), 1))
            den += idf
            out.append((w, idf))
        return out, den

    # ------------------------------------------------------------------ merging

    def find_merges(self, topic_ids: list[int],
                    prefer: set[int] | Callable[[], set[int]] | None = None) -> list[tuple[int, int]]:
        """Merge topics among ``topic_ids`` that converged with another active topic.

        Returns ``(absorbed, survivor)`` pairs, already applied in memory. The survivor is
        the topic in ``prefer`` (e.g. one with an open issue; a callable is asked only when a
        merge happens), else the larger, else the older.
        """
        preferred: set[int] | None = None
        done: list[tuple[int, int]] = []
        n = len(self._id_of_row)
        for tid in topic_ids:
            if tid not in self.topics or self.topics[tid].size < 2:
                continue
            sims = self._matrix[:n] @ self._matrix[self._row_of[tid]]
            sims[self._row_of[tid]] = -2.0
            row = int(np.argmax(sims))
            other = self._id_of_row[row]
            if other not in self.topics or self.topics[other].size < 2:
                continue
            a, b = self.topics[tid], self.topics[other]
            if float(sims[row]) + self.settings.keyword_weight < self.settings.merge_threshold:
                continue  # not even with all keywords shared (the Jaccard index is at most 1)
            score = float(sims[row]) + self.settings.keyword_weight * _keyword_jaccard(a, b)
            if score < self.settings.merge_threshold:
                continue
            if preferred is None:
                preferred = (prefer() if callable(prefer) else prefer) or set()
            survivor, absorbed = (a, b) if _rank(a, preferred) >= _rank(b, preferred) else (b, a)
            self._absorb(survivor, absorbed)
            done.append((absorbed.id, survivor.id))
        return done

    def _absorb(self, survivor: TopicState, absorbed: TopicState) -> None:
        self.retire(absorbed.id)
        survivor.vec_sum += absorbed.vec_sum
        survivor.size += absorbed.size
        survivor.top8 = None
        for term, count in absorbed.terms.items():
            survivor.terms[term] += count
            self.term_freq[term] += count
            self.total_terms += count
        for term, form in absorbed.forms.items():
            survivor.forms.setdefault(term, form)
        if absorbed.last_post_at and (survivor.last_post_at is None or absorbed.last_post_at > survivor.last_post_at):
            survivor.last_post_at = absorbed.last_post_at
        survivor.dirty = True
        self._set_row(survivor)

    # ------------------------------------------------------------------ keywords

    def update_keywords(self, topic_ids: list[int]) -> None:
        """Recompute c-TF-IDF keywords and the German label of the given topics."""
        k = self.settings.keywords_per_topic
        avg = self.total_terms / max(len(self.topics), 1)
        for tid in topic_ids:
            state = self.topics.get(tid)
            if state is None:
                continue
            self._prune(state)
            total = sum(state.terms.values()) or 1
            weights = {t: (c / total) * math.log(1.0 + avg / max(self.term_freq.get(t, 0), 1))
                       for t, c in state.terms.items()}
            top = sorted(weights, key=lambda t: (-weights[t], t))[:k]
            state.keywords = [state.forms.get(t, t) for t in top]
            state.label = ", ".join(state.keywords[:3])
            state.dirty = True

    # ------------------------------------------------------------------ internals

    def _add_terms(self, state: TopicState, words: list[tuple[str, str]]) -> None:
        state.top8 = None
        for key, spelling in words:
            state.terms[key] += 1
            state.forms.setdefault(key, spelling)
            self.term_freq[key] += 1
            self.total_terms += 1
        if len(state.terms) > 2 * MAX_TERMS:
            self._prune(state)

    def _prune(self, state: TopicState) -> None:
        if len(state.terms) <= MAX_TERMS:
            return
        keep = dict(state.terms.most_common(MAX_TERMS))
        for term, count in state.terms.items():
            if term not in keep:
                self._drop_term(term, count)
                state.forms.pop(term, None)
        state.terms = Counter(keep)
        state.top8 = None

    def _drop_term(self, term: str, count: int) -> None:
        left = self.term_freq.get(term, 0) - count
        if left > 0:
            self.term_freq[term] = left
        else:
            self.term_freq.pop(term, None)
        self.total_terms -= count

    def _centred(self, v: np.ndarray) -> np.ndarray:
        x = v - self._mu
        norm = float(np.linalg.norm(x))
        return (x / norm if norm > 1e-12 else x).astype(np.float32)

    def _refresh_all(self) -> None:
        if self.mean_count:
            self._mu = self.mean_sum / self.mean_count
        self._mu_count_at_refresh = self.mean_count
        for tid in self._row_of:
            state = self.topics[tid]
            self._matrix[self._row_of[tid]] = self._centred(state.vec_sum / state.size)

    def _set_row(self, state: TopicState) -> None:
        row = self._row_of.get(state.id)
        if row is None:
            row = len(self._id_of_row)
            if row >= self._matrix.shape[0]:
                grown = np.zeros((self._matrix.shape[0] * 2, self.dim), dtype=np.float32)
                grown[:row] = self._matrix[:row]
                self._matrix = grown
            self._id_of_row.append(state.id)
            self._row_of[state.id] = row
        self._matrix[row] = self._centred(state.vec_sum / state.size)

    def _drop_row(self, topic_id: int) -> None:
        """Remove a row by moving the last row into its place."""
        row = self._row_of.pop(topic_id)
        last = len(self._id_of_row) - 1
        if row != last:
            moved = self._id_of_row[last]
            self._matrix[row] = self._matrix[last]
            self._id_of_row[row] = moved
            self._row_of[moved] = row
        self._id_of_row.pop()
        self._matrix[last] = 0.0


def _overlap(idfs: tuple[list[tuple[str, float]], float], state: TopicState) -> float:
    words, den = idfs
    num = 0.0
    for w, idf in words:
        c = state.terms.get(w, 0)
        if c:
            num += idf * min(1.0, c / state.size)
    return num / den if den else 0.0


def _rank(state: TopicState, prefer: set[int]) -> tuple[bool, int, int]:
    return (state.id in prefer, state.size, -state.id if state.id > 0 else -10**12 - state.id)


def _top8(state: TopicState) -> frozenset[str]:
    """The topic's 8 commonest terms (cached until its terms change)."""
    if state.top8 is None:
        state.top8 = frozenset(dict(state.terms.most_common(8)))
    return state.top8


def _keyword_jaccard(a: TopicState, b: TopicState) -> float:
    ka, kb = _top8(a), _top8(b)
    if not ka or not kb:
        return 0.0
    return len(ka & kb) / len(ka | kb)
