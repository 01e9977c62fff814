"""More `fruehwarn worker` processes share the work: classification by disjoint batches of post
ids, delivery by leased outbox rows. Behaviour, not timing: every post classified once, every
delivery accepted once, and the work really spread over (and overlapped on) both workers.

The helpers (config, posts, worker processes) are test_tasks.py's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from config import Settings
from storage.db import init_db, session_scope
from storage.models import Classification, Delivery
from tests.fruehwarn.test_tasks import (
    Workers,
    _config,
    _count,
    _overlaps_per_lock,
    _posts,
    _wait,
    classified_in_logs,
    needs_pg,
    postgres,
    workers,  # noqa: F401 - the fixture
)


# --- classify_range: both backends ------------------------------------------------------------------------
def test_classify_range_classifies_only_its_ids_and_once(settings: Settings, engine: Engine) -> None:
    from classifiers.fake import FakeClassifier
    from classifiers.pipeline import classify_pending, classify_range

    _posts(engine, 30)  # ids 1-30
    clf = FakeClassifier()
    res = classify_range(settings, engine, clf, 0, 10)
    assert (res.predicted, res.written, res.wasted) == (9, 9, 0)
    with session_scope(engine) as s:
        assert sorted(s.exec(select(Classification.post_id)).scalars()) == list(range(1, 10))  # type: ignore[call-overload]
    assert classify_range(settings, engine, clf, 0, 10).predicted == 0  # done: nothing handed to the model again
    assert classify_range(settings, engine, clf, 20, 40).predicted == 11
    assert classify_pending(settings, engine, clf) == 10  # the single-process stage takes what is left
    assert _count(engine, select(func.count()).select_from(Classification)) == 30


def _spans(engine: Engine, w: Workers, task: str) -> list[tuple[int, str, datetime, datetime]]:
    """(job id, worker name, started, ended) of every succeeded run of ``task``; the worker from its log
    (Procrastinate forgets a job's worker when the job ends)."""
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT j.id, max(e.at) FILTER (WHERE e.type = 'started'), max(e.at) FILTER (WHERE e.type = 'succeeded')
            FROM procrastinate_jobs j JOIN procrastinate_events e ON e.job_id = j.id
            WHERE j.task_name = :t AND j.status = 'succeeded' GROUP BY j.id ORDER BY j.id"""), {"t": task}).all()
    logs = {name: w.log(name) for name in w.procs}
    out = []
    for job_id, started, ended in rows:
        names = [n for n, log in logs.items() if f"Starting job {task}[{job_id}]" in log]
        assert len(names) == 1, (job_id, names)
        out.append((int(job_id), names[0], started, ended))
    return out


def _overlap_across_workers(spans: list[tuple[int, str, datetime, datetime]]) -> bool:
    return any(a[1] != b[1] and a[2] < b[3] and b[2] < a[3] for a in spans for b in spans if a[0] < b[0])


# --- two workers classify one backlog side by side --------------------------------------------------------
@postgres
@needs_pg
@pytest.mark.timeout(150)
def test_two_workers_classify_a_backlog_concurrently_each_post_once(
        pg_scratch_url: str, tmp_path: Path, workers: Callable[[Path], Workers]) -> None:  # noqa: F811
    from fruehwarn.scheduler import Pipeline, Stages, run_forever
    from fruehwarn.tasks import CLASSIFY_BATCH

    def not_here(*_: object) -> int:
        raise AssertionError("a stage ran in the scheduler's process")

    n_posts = 8 * CLASSIFY_BATCH
    # the scheduler ticks often: ranges whose job waits or runs must not be deferred again
    settings, cfg = _config(tmp_path, pg_scratch_url,
                            scheduler={"classify_interval": 0.2, "detect_interval": 3600, "deliver_interval": 3600})
    engine = init_db(settings)
    _posts(engine, n_posts)
    w = workers(cfg)
    for name in ("w1", "w2"):
        w.start(name, concurrency=1, post_cost=0.001)  # ~0.5 s a batch: both workers get several
    _wait(lambda: all("Starting worker" in w.log(n) for n in w.procs), 90, "both workers to start")
    pipeline = Pipeline(settings, engine, Stages(*([not_here] * 6)))  # type: ignore[arg-type]

    def done() -> bool:
        return _count(engine, select(func.count()).select_from(Classification)) == n_posts

    t0 = time.monotonic()
    run_forever(pipeline, until=lambda: done() or time.monotonic() - t0 > 100, tick=0.1)
    assert done(), f"not finished in 100 s:\n{w.log('w1')[-2000:]}\n{w.log('w2')[-2000:]}"
    _wait(lambda: sum(classified_in_logs(w).values()) >= n_posts, 10, "the last job's log line")

    per_worker = classified_in_logs(w)
    assert sum(per_worker.values()) == n_posts, f"a post was classified twice: {per_worker}"
    assert all(n > 0 for n in per_worker.values()), f"one worker did all the work: {per_worker}"
    assert _count(engine, select(func.count(func.distinct(Classification.post_id)))) == n_posts
    assert not any("classified by another process" in w.log(n) for n in w.procs)
    assert pipeline.stats["classify"].failures == 0
    assert _overlaps_per_lock(engine) == []  # a range never ran on two workers at once
    spans = _spans(engine, w, "fruehwarn.classify_batch")
    assert len(spans) >= 9  # ids 1-4096: nine ranges of 512 ids, one job each (plus late twins)
    assert _overlap_across_workers(spans), "the two workers never classified at the same time"

    def jobs(where: str) -> list[tuple[str, str]]:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(f"SELECT task_name, status FROM procrastinate_jobs WHERE {where}"))]

    # a late twin deferred by the scheduler's last ticks, or the periodic recovery job, may still be queued or
    # running when the last post is in: let them finish, then no job may have ended in any other way
    _wait(lambda: not jobs("status IN ('todo', 'doing')"), 30, "the queue to drain")
    assert jobs("status <> 'succeeded'") == []
    engine.dispose()


# --- deliver jobs on both workers at once -----------------------------------------------------------------
@postgres
@needs_pg
@pytest.mark.timeout(150)
def test_deliver_jobs_spread_over_two_workers_exactly_once(
        pg_scratch_url: str, tmp_path: Path, workers: Callable[[Path], Workers]) -> None:  # noqa: F811
    from alerting.stage import process
    from fruehwarn.tasks import Deferrer
    from tests.alerting.servers import WebhookReceiver, seed_mobilfunk_issues

    n_subs, n_issues = 300, 4
    settings, cfg = _config(tmp_path, pg_scratch_url,
                            alerting={"concurrency": 2, "backoff_base": 0.05, "backoff_max": 0.2})
    engine = init_db(settings)
    # 5 % of answers 429/503: retries go back to the outbox and are claimed again, by either worker
    with WebhookReceiver(keep_bodies=False, fail_rate=0.05) as hook:
        with session_scope(engine) as s:
            seed_mobilfunk_issues(s, lambda i: hook.url(f"/kunde/{i}"), n_subs, n_issues)
        process(settings, engine)  # the outbox: one row per notice and subscriber
        n_rows = _count(engine, select(func.count()).select_from(Delivery))
        assert n_rows == n_subs * n_issues
        w = workers(cfg)
        for name in ("w1", "w2"):
            w.start(name, concurrency=2)
        _wait(lambda: all("Starting worker" in w.log(n) for n in w.procs), 90, "both workers to start")
        d = Deferrer(settings, engine)
        try:
            assert d.deliver() is not None  # one job; a full claim defers a helper, and so on

            def open_rows() -> int:
                return _count(engine, select(func.count()).select_from(Delivery).where(Delivery.status != "sent"))

            deadline = time.monotonic() + 100
            while open_rows() and time.monotonic() < deadline:
                time.sleep(0.5)
                d.deliver()  # as the scheduler's tick does: retries that fell due
        finally:
            d.close()
        assert open_rows() == 0, f"{w.log('w1')[-2000:]}\n{w.log('w2')[-2000:]}"
        time.sleep(0.5)  # a late duplicate would arrive now
        with session_scope(engine) as s:
            keys = set(s.execute(select(Delivery.idempotency_key)).scalars())
        received = dict(hook.accept_count)
        injected = hook.injected
    w.stop_all()
    assert injected > 0
    assert set(received) == keys, "a delivery was lost or an unknown one arrived"
    assert {k: c for k, c in received.items() if c != 1} == {}, "a delivery was accepted twice"
    spans = _spans(engine, w, "fruehwarn.deliver")
    assert {name for _, name, _, _ in spans} == {"w1", "w2"}, spans
    assert _overlap_across_workers(spans), "deliver jobs never ran on both workers at once"
    engine.dispose()
