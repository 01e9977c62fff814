"""Online topic grouping: stable ids, new topics, merges, German keywords, relative similarity."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from classifiers.fake import FakeClassifier
from classifiers.text import GERMAN_STOP_WORDS, stem, surface_tokens, terms
from classifiers.topics import OnlineGrouper
from config.settings import TopicSettings

T0 = datetime(2026, 3, 2, 9, 0)
FAKE = FakeClassifier()

OUTAGE = [
    "Störung in Köln: kein Netz seit einer Stunde",
    "Kein Netz in Köln, Störung im Mobilfunk?",
    "Mobilfunk Störung Köln, Netz komplett weg",
    "Netz weg in Köln, ist das eine Störung?",
    "Köln Störung: kein Netz, kein Mobilfunk",
]
BILLING = [
    "Lastschrift doppelt abgebucht, Rechnung falsch",
    "Rechnung doppelt abgebucht, Lastschrift zweimal",
    "Doppelte Lastschrift für die Rechnung abgebucht",
    "Lastschrift zweimal abgebucht, Rechnung prüfen",
]
CHATTER = [
    "Wie ändere ich meine Bankverbindung im Kundenportal?",
    "Wann kommt Glasfaser in unsere Straße?",
    "Der Techniker war pünktlich und freundlich.",
    "Welcher Tarif lohnt sich für Vieltelefonierer?",
    "Wo finde ich die PUK meiner SIM-Karte?",
    "Hat jemand Erfahrung mit dem Mesh-WLAN-Set?",
]


def _feed(g: OnlineGrouper, texts: list[str], start: datetime = T0, embed=FAKE.embed) -> list[int]:
    out = []
    for i, text in enumerate(texts):
        out.append(g.assign(embed(text), terms(text), start + timedelta(minutes=i)).topic_id)
    return out


def test_stop_words_and_stems() -> None:
    words = surface_tokens("Seit heute morgen kein Netz in Berlin, die App stürzt ab und ich bin sauer")
    assert "Netz" in words and "App" in words and "ab" not in words  # "ab": a stop word and too short
    assert not {w.lower() for w in words} & {"seit", "heute", "morgen", "kein", "die", "und", "ich", "bin"}
    assert {"und", "der", "nicht", "kein"} <= GERMAN_STOP_WORDS
    assert stem("lastschriften") == stem("lastschrift")
    assert terms("Doppelte Lastschriften")[1] == (stem("lastschriften"), "Lastschriften")


def test_post_joins_nearest_topic_and_ids_stay_stable() -> None:
    g = OnlineGrouper(TopicSettings(), FAKE.dim)
    _feed(g, CHATTER)
    ids = _feed(g, OUTAGE, T0 + timedelta(hours=1))
    outage_id = ids[0]
    assert ids[1:].count(outage_id) >= 3, ids  # the outage forms one topic
    before = g.topics[outage_id].size
    more = _feed(g, ["Störung Köln: wieder kein Netz", "Köln hat kein Netz, Störung!"], T0 + timedelta(hours=2))
    assert more == [outage_id, outage_id]  # the topic grows under the same id
    assert g.topics[outage_id].size == before + 2
    assert set(_feed(g, BILLING, T0 + timedelta(hours=3))).isdisjoint({outage_id})  # another thing: another topic


def test_keywords_are_german_ctfidf_without_stop_words() -> None:
    g = OnlineGrouper(TopicSettings(keywords_per_topic=5), FAKE.dim)
    _feed(g, CHATTER)
    tid = _feed(g, OUTAGE)[0]
    g.update_keywords([tid])
    kw = g.topics[tid].keywords
    assert len(kw) == 5
    assert {"Köln", "Netz"} <= set(kw) or {"Köln", "Störung"} <= set(kw), kw
    assert not {k.lower() for k in kw} & GERMAN_STOP_WORDS
    assert g.topics[tid].label == ", ".join(kw[:3])


def _two_topics(g: OnlineGrouper, n_a: int, n_b: int) -> tuple[int, int]:
    _feed(g, CHATTER * 2)  # a background, so that centring means something
    a = _feed(g, [OUTAGE[0]] * n_a)[0]
    b = _feed(g, [OUTAGE[4]] * n_b)[0]
    assert a != b  # the join threshold is so high that only identical texts join
    return a, b


def test_converging_topics_merge_into_the_larger_one() -> None:
    g = OnlineGrouper(TopicSettings(join_threshold=1.5, merge_threshold=0.3), FAKE.dim)
    a, b = _two_topics(g, 4, 2)
    assert g.find_merges([b]) == [(b, a)]  # the smaller one is absorbed into the survivor
    assert b not in g.topics and g.topics[a].size == 6
    assert g.topics[a].terms[stem("köln")] == 6


def test_unrelated_topics_do_not_merge() -> None:
    g = OnlineGrouper(TopicSettings(join_threshold=1.5), FAKE.dim)
    _feed(g, CHATTER * 2)
    a = _feed(g, [OUTAGE[0]] * 4)[0]
    b = _feed(g, [BILLING[0]] * 4)[0]
    assert g.find_merges([a, b]) == []


def test_prefer_keeps_the_topic_with_an_open_issue() -> None:
    g = OnlineGrouper(TopicSettings(join_threshold=1.5, merge_threshold=0.3), FAKE.dim)
    a, b = _two_topics(g, 2, 4)
    assert g.topics[b].size > g.topics[a].size
    assert g.find_merges([a], prefer=lambda: {a}) == [(b, a)]


def _anisotropic(text: str) -> np.ndarray:
    """Fake embeddings squeezed into a narrow cosine band, as multilingual-e5 does."""
    common = np.zeros(FAKE.dim, dtype=np.float32)
    common[0] = 1.0
    v = 0.35 * FAKE.embed(text) + common
    return v / np.linalg.norm(v)


def test_relative_similarity_works_in_a_narrow_cosine_band() -> None:
    raw = [_anisotropic(t) for t in CHATTER + OUTAGE]
    sims = [float(a @ b) for i, a in enumerate(raw) for b in raw[i + 1:]]
    assert min(sims) > 0.8  # every pair looks "similar" in absolute terms
    g = OnlineGrouper(TopicSettings(), FAKE.dim)
    chatter_ids = _feed(g, CHATTER * 3, embed=_anisotropic)
    outage_ids = _feed(g, OUTAGE, T0 + timedelta(hours=1), embed=_anisotropic)
    assert len(set(chatter_ids)) >= 5  # unrelated questions do not collapse into one topic
    assert max(outage_ids.count(t) for t in set(outage_ids)) >= 4
    assert set(outage_ids).isdisjoint(chatter_ids)


def test_stale_topics_leave_the_active_set_but_keep_their_id() -> None:
    g = OnlineGrouper(TopicSettings(singleton_ttl=3600, topic_ttl=86400), FAKE.dim)
    lone = _feed(g, [CHATTER[0]])[0]
    big = _feed(g, OUTAGE)[0]
    retired = g.retire_stale(T0 + timedelta(hours=5))
    assert lone in retired and big not in retired
    assert lone not in g.topics and big in g.topics


@pytest.mark.parametrize("cap", [10, 12])
def test_active_topics_are_capped(cap: int) -> None:
    g = OnlineGrouper(TopicSettings(max_active_topics=cap), FAKE.dim)
    _feed(g, [f"Frage Nummer {i}: {CHATTER[i % 6]} {'x' * i}" for i in range(30)] + CHATTER)
    g.retire_stale(T0 + timedelta(minutes=40))
    assert len(g.topics) <= cap


def test_the_join_threshold_follows_the_embedding_unless_set(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from classifiers.topics import DEFAULT_JOIN_THRESHOLD, join_threshold_of
    from config import load_settings

    weights = tmp_path / "sentiment.safetensors"
    weights.write_bytes(b"not read here")
    meta = weights.with_suffix(".json")
    real = {"data_dir": tmp_path, "model": {"encoder": "e5", "sentiment_weights": weights}}
    assert join_threshold_of(load_settings(data_dir=tmp_path, model={"encoder": "fake"})) == DEFAULT_JOIN_THRESHOLD
    assert join_threshold_of(load_settings(**real)) == DEFAULT_JOIN_THRESHOLD  # the weights record nothing
    meta.write_text(json.dumps({"config": {}, "topics": {"join_threshold": 0.6}}), encoding="utf-8")
    assert join_threshold_of(load_settings(**real)) == 0.6  # measured for this embedding
    assert join_threshold_of(load_settings(**real, topics={"join_threshold": 0.5})) == 0.5  # the setting wins
    for bad in ("{not json", json.dumps({"topics": {"join_threshold": "hoch"}}), json.dumps({"topics": 7})):
        meta.write_text(bad, encoding="utf-8")
        assert join_threshold_of(load_settings(**real)) == DEFAULT_JOIN_THRESHOLD
    # the shipped weights record their own
    shipped = load_settings(data_dir=tmp_path, model={"encoder": "e5"})
    assert join_threshold_of(shipped) == 0.45


def test_the_grouper_joins_at_the_threshold_it_is_given() -> None:
    texts = [OUTAGE[0], OUTAGE[1]]
    loose = OnlineGrouper(TopicSettings(), FAKE.dim, join_threshold=-0.9)
    strict = OnlineGrouper(TopicSettings(), FAKE.dim, join_threshold=1.9)
    assert len(set(_feed(loose, texts))) == 1 and len(set(_feed(strict, texts))) == 2
    assert OnlineGrouper(TopicSettings(join_threshold=1.2), FAKE.dim).join_threshold == 1.2
    assert OnlineGrouper(TopicSettings(), FAKE.dim).join_threshold == 0.3
