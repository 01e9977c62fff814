"""Detection's in-memory window and history (classifiers/window.py, history.py) against the database.

Whatever happens behind the cache's back -- another process grouping or merging topics, a
late post, the retention purge clearing ``duplicate_of``, a restart (an empty cache) -- the
window and history detect uses must equal what is read straight from the database, and a replay must
give the same report with the cache as without it.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

import classifiers.history as history
import classifiers.window as window
from classifiers.baselines import _ALL_COUNT, Baselines, _topic_counts
from classifiers.detect import _CP_DETECT, TOPICS_CHECKPOINT, _window_key, detect, group_pending, window_state
from classifiers.emergence import WindowPost
from classifiers.fake import FakeClassifier
from classifiers.replay import replay
from config import load_settings
from storage.db import get_checkpoint, posts_changed, session_scope, set_checkpoint
from storage.models import Classification, Post, Topic
from tests.classifiers.helpers import add_posts
from tests.classifiers.test_detect import CHATTER, OUTAGE

T0 = datetime(2026, 3, 2, 14, 0)
SCENARIOS = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios"


def _brute(posts: list[WindowPost], now: datetime, long_s: float, short_s: float) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for p in posts:
        if not (now - timedelta(seconds=long_s) < p.published_at <= now):
            continue
        c = out.setdefault(p.topic_id, [0] * 6)
        short = p.published_at > now - timedelta(seconds=short_s)
        for i, hit in enumerate((True, p.sentiment == "negative", p.sentiment is not None)):
            c[i] += hit
            c[i + 3] += hit and short
    return out


def test_incremental_counts_equal_a_recount_with_late_posts_and_a_clock_behind() -> None:
    rng = random.Random(3)
    w = window.Window(("x",), (0, 0), 3600.0, 900.0)
    w.advance(T0)
    seen: list[WindowPost] = []
    now = T0
    for k in range(300):
        now += timedelta(seconds=rng.choice([0, 20, 60, 300]))
        late = rng.random() < 0.2  # published well before the newest post
        at = now - timedelta(seconds=rng.uniform(0, 4000 if late else 30))
        if rng.random() < 0.05:
            at = now + timedelta(seconds=90)  # a post from the future: left out until its time
        p = WindowPost(k, rng.randrange(5), rng.randrange(3), f"a{rng.randrange(9)}",
                       rng.choice(["negative", "neutral", None]), at)
        seen.append(p)
        assert w.add(p)
        assert w.advance(now)
        assert w.counts_at() == _brute(seen, now, 3600.0, 900.0)
        topics = {0, 2}
        want = {p.post_id for p in seen if p.topic_id in topics and now - timedelta(hours=1) < p.published_at <= now}
        assert {p.post_id for p in w.posts_of(topics)} == want
    assert not w.add(seen[-1])  # a post seen twice: the window must be rebuilt
    assert not w.advance(now - timedelta(seconds=1))  # the clock went backwards: rebuilt as well


def test_history_counts_equal_a_recount_with_late_posts_merges_and_forgetting() -> None:
    rng = random.Random(5)
    h = history.History(("x",), (0, 0), T0)
    held: list[list] = []  # [topic, published_at]
    for k in range(400):
        at = T0 + timedelta(minutes=k) - timedelta(minutes=rng.choice([0, 0, 0, 90]))  # some late
        tid = rng.randrange(6)
        h.add(tid, at)
        held.append([tid, at])
        if k % 50 == 49:  # topic a merged into b
            a, b = rng.sample(range(6), 2)
            h.merge(a, b)
            held = [[b if t == a else t, x] for t, x in held]
        if k == 300:
            h.forget_before(T0 + timedelta(minutes=100))
            held = [[t, x] for t, x in held if x > T0 + timedelta(minutes=100)]
        lo = T0 + timedelta(minutes=rng.randrange(100, 200) if k >= 300 else rng.randrange(0, 200))
        hi = lo + timedelta(minutes=rng.randrange(0, 300))
        for tid in (None, *range(6)):
            want = sum(1 for t, x in held if lo < x <= hi and (tid is None or t == tid))
            assert h.count(lo, hi, tid) == want
    assert h.count(T0 + timedelta(minutes=50), T0 + timedelta(minutes=150)) is None  # not held: ask SQL


def _same_as_database(settings, engine, now: datetime) -> dict[int, list[int]]:
    counts, posts = window_state(settings, engine, now)
    fresh_counts, fresh_posts = window_state(settings, engine, now, use_cache=False)
    assert counts == fresh_counts
    assert sorted(posts, key=lambda p: p.post_id) == sorted(fresh_posts, key=lambda p: p.post_id)
    with session_scope(engine) as s:  # the history behind the baselines: the same counts as SQL
        key, revision = _window_key(engine, {n: dict(v or {}) for n, v, _ in s.connection().execute(_CP_DETECT)})
        hist = Baselines(s, key, settings, now, revision).hist
        assert hist is not None
        ranges = [(now - timedelta(hours=h), now - timedelta(minutes=m)) for h, m in ((7 * 24, 30), (3, 0), (1, 20))]
        for tid in {p.topic_id for p in fresh_posts}:
            assert [hist.count(lo, hi, tid) for lo, hi in ranges] == _topic_counts(s, tid, ranges)
        for lo, hi in ranges:
            assert hist.count(lo, hi) == s.connection().execute(_ALL_COUNT, {"b_lo": lo, "b_hi": hi}).scalar_one()
    return counts


def test_window_equals_the_database_whatever_happens_behind_its_back(tmp_path, engine) -> None:
    settings = load_settings(data_dir=tmp_path / "d", database_url=str(engine.url), model={"encoder": "fake"})
    window.clear()
    history.clear()
    rng = random.Random(7)
    now = T0
    for tick in range(90):  # three hours at two-minute ticks
        now += timedelta(minutes=2)
        items = [(now - timedelta(seconds=rng.uniform(0, 110)), rng.choice(CHATTER), f"c{rng.randrange(40)}",
                  rng.choice(["neutral", "positive"])) for _ in range(3)]
        if 30 <= tick < 50:
            items += [(now - timedelta(seconds=rng.uniform(0, 110)), rng.choice(OUTAGE), f"o{tick}{i}", "negative")
                      for i in range(2)]
        if tick % 7 == 3:  # a late post, published 40 minutes ago
            items.append((now - timedelta(minutes=40), rng.choice(OUTAGE), "late", "negative"))
        ids = add_posts(engine, items)
        group_pending(settings, engine)
        detect(settings, engine, now=now)
        if tick == 45:  # another process merges two topics (its grouping bumps the topics revision)
            with session_scope(engine) as s:
                counts = window_state(settings, engine, now, use_cache=False)[0]
                a, b = sorted(counts)[:2]
                s.execute(update(Topic).where(Topic.id == a).values(merged_into=b))
                s.execute(update(Classification).where(Classification.topic_id == a).values(topic_id=b))
                cp = get_checkpoint(s, TOPICS_CHECKPOINT)
                set_checkpoint(s, TOPICS_CHECKPOINT, {**cp, "revision": cp["revision"] + 1})
            assert a not in _same_as_database(settings, engine, now)
        if tick == 60:  # duplicate_of changed outside the stages (as when the retention purge deletes an original)
            with session_scope(engine) as s:
                s.execute(update(Post).where(Post.id == ids[0]).values(duplicate_of=ids[1]))
                posts_changed(s)
        if tick == 70:  # a restart
            window.clear()
            history.clear()
        _same_as_database(settings, engine, now)
        _same_as_database(settings, engine, now + timedelta(seconds=30))  # detect's clock runs ahead


@pytest.mark.parametrize("name", ["outage", "two_incidents"])
def test_replay_report_is_the_same_without_the_cache(name: str, tmp_path, monkeypatch) -> None:
    settings = load_settings(data_dir=tmp_path, model={"encoder": "fake"})
    history.clear()
    replay(SCENARIOS / f"{name}.jsonl", tmp_path / "cached.json", settings, FakeClassifier(), tick=60)
    assert history._HISTORIES  # the baselines were counted in memory
    # the window rebuilt from the database every tick (as when detect hops between worker
    # processes): then the history is not built either, the baselines are counted in SQL
    monkeypatch.setattr(window, "cached", lambda key, revision: None)
    history.clear()
    replay(SCENARIOS / f"{name}.jsonl", tmp_path / "uncached.json", settings, FakeClassifier(), tick=60)
    assert not history._HISTORIES
    cached = json.loads((tmp_path / "cached.json").read_text(encoding="utf-8"))
    assert cached and cached == json.loads((tmp_path / "uncached.json").read_text(encoding="utf-8"))
