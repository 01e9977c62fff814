"""Several `fruehwarn worker` processes on one PostgreSQL database (tasks.engine = procrastinate).

Real parts: a PostgreSQL server (FRUEHWARN_TEST_POSTGRES_URL, a fresh database per test),
worker processes started with the real command line, APScheduler deferring the jobs, and a
webhook receiver on 127.0.0.1 that counts Idempotency-Keys.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from config import ConfigError, Settings, load_settings
from storage.db import init_db, session_scope
from storage.models import Classification, Delivery, Post, Source, utcnow
from tests.conftest import PG_URL

ROOT = Path(__file__).resolve().parents[2]
postgres = pytest.mark.postgres
needs_pg = pytest.mark.skipif(not PG_URL, reason="set FRUEHWARN_TEST_POSTGRES_URL to run against PostgreSQL")

WORDS = ("Netz", "Rechnung", "App", "Vertrag", "Tarif", "Router", "Hotline", "Kündigung", "Lieferung", "Paket",
         "Störung", "langsam", "super", "danke", "leider", "wieder", "heute", "immer", "schnell", "Problem")


# --- without a server --------------------------------------------------------------------------------------
def test_procrastinate_with_sqlite_stops_start_up_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"tasks\.engine = 'procrastinate' needs a PostgreSQL database_url"):
        load_settings(data_dir=tmp_path, tasks={"engine": "procrastinate"})
    with pytest.raises(ConfigError, match=r"tasks\.concurrency"):
        load_settings(data_dir=tmp_path, tasks={"concurrency": 0})


def test_worker_command_refuses_the_inprocess_engine(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(tmp_path)}))
    proc = subprocess.run([sys.executable, "-m", "fruehwarn", "--config", str(cfg), "worker"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env=_env())
    assert proc.returncode == 2
    assert "tasks.engine is 'inprocess'" in proc.stderr and "Traceback" not in proc.stderr


def test_conninfo_converts_the_sqlalchemy_url() -> None:
    from fruehwarn.tasks import conninfo

    assert conninfo("postgresql+psycopg://fw:geheim@db.example:5433/fruehwarn?sslmode=require") == \
        "postgresql://fw:geheim@db.example:5433/fruehwarn?sslmode=require"
    with pytest.raises(ConfigError, match="PostgreSQL"):
        conninfo("sqlite:///x.db")


def test_worker_without_a_reachable_database_fails_in_one_line(tmp_path: Path) -> None:
    from tests.alerting.servers import free_port

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"data_dir": str(tmp_path), "tasks": {"engine": "procrastinate"},
                                   "database_url": f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/fw"}))
    proc = subprocess.run([sys.executable, "-m", "fruehwarn", "--config", str(cfg), "worker"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env=_env())
    assert proc.returncode == 1
    assert proc.stderr.count("fruehwarn: error:") == 1 and "Traceback" not in proc.stderr


# --- helpers -----------------------------------------------------------------------------------------------
def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRUEHWARN_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _config(tmp_path: Path, db_url: str, **extra: Any) -> tuple[Settings, Path]:
    data: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"), "database_url": db_url, "model": {"encoder": "fake"},
        # stalled_after well above the heartbeat: on a loaded machine a live worker's heartbeat can be late,
        # and a worker wrongly declared dead has its running job started a second time
        "tasks": {"engine": "procrastinate", "heartbeat_interval": 0.5, "stalled_after": 20, "recover_every": 1,
                  "poll_interval": 0.5, "keep_finished_jobs": True},
        "alerting": {"auto_approve_min_severity": 0.0, "backoff_base": 0.05, "backoff_max": 0.5,
                     "channel_rates": {"webhook": 100_000.0}, "lease": 30},
    }
    for k, v in extra.items():
        data[k] = {**data.get(k, {}), **v} if isinstance(v, dict) else v
    path = tmp_path / "fruehwarn.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_settings(path), path


def _posts(engine: Engine, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    start = utcnow() - timedelta(hours=2)
    with session_scope(engine) as s:
        src = Source(name="forum", type="rss", url="http://127.0.0.1:9/feed")
        s.add(src)
        s.flush()
        rows = []
        for i in range(n):
            body = " ".join(rng.choice(WORDS) for _ in range(12)) + f" #{i}"
            rows.append(Post(source_id=src.id, external_id=f"p{i}", text=body, published_at=start + timedelta(seconds=i),
                             fetched_at=start + timedelta(seconds=i), author_hash=f"a{i % 97}",
                             content_hash=hashlib.sha256(body.encode()).hexdigest()))
        s.add_all(rows)


class Workers:
    """`fruehwarn worker` processes writing their logs to files."""

    def __init__(self, config: Path, logs: Path) -> None:
        self.config = config
        self.logs = logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, concurrency: int = 2, post_cost: float = 0.0) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        proc = subprocess.Popen([sys.executable, "-m", "fruehwarn", "--config", str(self.config), "worker",
                                 "--concurrency", str(concurrency), "--name", name,
                                 *(["--fake-post-cost", str(post_cost)] if post_cost else [])],
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=_env())
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[Path], Workers]]:
    made: list[Workers] = []

    def make(config: Path) -> Workers:
        w = Workers(config, tmp_path)
        made.append(w)
        return w

    yield make
    for w in made:
        w.stop_all()


def _wait(cond: Callable[[], bool], timeout: float, what: str, poll: float = 0.2) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _count(engine: Engine, stmt: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def _overlaps_per_lock(engine: Engine) -> list[str]:
    """Pairs of jobs with the same lock whose runs overlapped (must be none).

    Ordered by event id, not by ``at``: ``at`` is NOW(), the start of the writing
    transaction, while ids come from a sequence at the moment of writing. A job that
    starts after another ended was fetched by a statement that saw the other's end
    committed, so its 'started' id is larger than the other's 'succeeded' id.
    """
    with engine.connect() as conn:
        rows = conn.execute(text("""
            SELECT j.id, j.lock, e.type, e.id FROM procrastinate_jobs j JOIN procrastinate_events e ON e.job_id = j.id
            WHERE j.lock IS NOT NULL AND e.type IN ('started', 'succeeded', 'failed', 'deferred_for_retry', 'aborted')
            ORDER BY e.id""")).all()
    spans: dict[str, list[list[Any]]] = defaultdict(list)
    open_: dict[int, list[Any]] = {}
    for job_id, lock, kind, seq in rows:
        if kind == "started":
            open_[job_id] = [job_id, seq, None]
            spans[lock].append(open_[job_id])
        elif job_id in open_:
            open_.pop(job_id)[2] = seq
    bad = []
    for lock, runs in spans.items():
        for a, b in zip(runs, runs[1:], strict=False):
            if a[2] is None or b[1] < a[2]:
                bad.append(f"{lock}: job {a[0]} (events {a[1]}-{a[2]}) and job {b[0]} (events {b[1]}-{b[2]})")
    return bad


@postgres
@needs_pg
def test_deferrer_keeps_one_waiting_job_per_lock(pg_scratch_url: str, tmp_path: Path) -> None:
    from fruehwarn.tasks import Deferrer, ensure_schema

    settings, _ = _config(tmp_path, pg_scratch_url)
    engine = init_db(settings)
    _posts(engine, 15)  # ids 1-15: two ranges of 10 ids
    assert ensure_schema(settings) is True
    assert ensure_schema(settings) is False  # already there: left alone
    d = Deferrer(settings, engine)
    try:
        assert len(d.classify(size=10)) == 2  # one job per range of ids holding unclassified posts
        assert d.classify(size=10) == []  # both still wait: nothing deferred twice
        a = d.crawl("a")
        assert a is not None and d.crawl("b") is not None and d.crawl("a") is None  # one per source
        assert d.deliver() is not None and d.deliver() is None
        assert (d.deferred, d.skipped) == (5, 2)
        with psycopg_connect(settings) as conn:
            rows = conn.execute("SELECT task_name, lock, queueing_lock, args FROM procrastinate_jobs "
                                "WHERE status = 'todo' ORDER BY id").fetchall()
        assert rows == [("fruehwarn.classify_batch", "classify:0", "classify:0", {"first": 0, "last": 10}),
                        ("fruehwarn.classify_batch", "classify:10", "classify:10", {"first": 10, "last": 20}),
                        ("fruehwarn.crawl_source", "crawl:a", "crawl:a", {"name": "a"}),
                        ("fruehwarn.crawl_source", "crawl:b", "crawl:b", {"name": "b"}),
                        ("fruehwarn.deliver", None, "deliver", {})]
    finally:
        d.close()
        engine.dispose()


def psycopg_connect(settings: Settings) -> Any:
    import psycopg

    from fruehwarn.tasks import conninfo

    return psycopg.connect(conninfo(settings.db_url))


@postgres
@needs_pg
def test_recovery_requeues_a_dead_workers_job_or_closes_it_when_a_twin_waits(pg_scratch_url: str, tmp_path: Path) -> None:
    import asyncio

    from fruehwarn.tasks import CLASSIFY, CRAWL, _recover, ensure_schema, make_app

    settings, _ = _config(tmp_path, pg_scratch_url)
    ensure_schema(settings)

    async def scenario() -> dict[int, str]:
        app = make_app(settings)
        async with app.open_async():
            jm = app.job_manager
            crawl = await app.configure_task(CRAWL, lock="crawl:a", queueing_lock="crawl:a").defer_async(name="a")
            classify = await app.configure_task(CLASSIFY, lock="classify:0",
                                                queueing_lock="classify:0").defer_async(first=0, last=512)
            dead = await jm.register_worker()
            taken = {(await jm.fetch_job(["fruehwarn"], dead)).id for _ in range(2)}  # type: ignore[union-attr]
            assert taken == {crawl, classify}
            twin = await app.configure_task(CLASSIFY, lock="classify:0",
                                            queueing_lock="classify:0").defer_async(first=0, last=512)
            alive_worker_jobs = await jm.get_stalled_jobs(seconds_since_heartbeat=30)
            assert list(alive_worker_jobs) == []  # a live worker's jobs are left alone
            await app.connector.execute_query_async(
                "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' WHERE id = %(w)s", w=dead)
            assert await _recover(app, stalled_after=30) == 1
            return {j: (await jm.get_job_status_async(j)).value for j in (crawl, classify, twin)}

    status = asyncio.run(scenario())
    values = list(status.values())
    assert values == ["todo", "failed", "todo"], status  # crawl queued again; classify closed, its twin does the work


# --- two workers, the scheduler deferring ------------------------------------------------------------------
@postgres
@needs_pg
@pytest.mark.timeout(120)
def test_two_workers_do_every_job_exactly_once(pg_scratch_url: str, tmp_path: Path, workers: Callable[[Path], Workers]) -> None:
    from fruehwarn.scheduler import Pipeline, Stages, run_forever
    from tests.alerting.servers import WebhookReceiver, seed_mobilfunk_issues

    def not_here(*_: object) -> int:
        raise AssertionError("a stage ran in the scheduler's process")

    n_posts, n_subs, n_issues = 1000, 30, 4
    settings, cfg = _config(tmp_path, pg_scratch_url,
                            scheduler={"classify_interval": 0.3, "detect_interval": 0.5, "deliver_interval": 0.3})
    engine = init_db(settings)
    _posts(engine, n_posts)
    with WebhookReceiver(keep_bodies=False) as hook:
        with session_scope(engine) as s:
            seed_mobilfunk_issues(s, lambda i: hook.url(f"/kunde/{i}"), n_subs, n_issues)
        w = workers(cfg)
        w.start("w1")
        w.start("w2")
        pipeline = Pipeline(settings, engine, Stages(*([not_here] * 6)))  # type: ignore[arg-type]

        def done() -> bool:
            classified = _count(engine, select(func.count()).select_from(Classification))
            deliveries = _count(engine, select(func.count()).select_from(Delivery))
            unsent = _count(engine, select(func.count()).select_from(Delivery).where(Delivery.status != "sent"))
            return classified == n_posts and deliveries >= n_subs * n_issues and unsent == 0

        t0 = time.monotonic()
        run_forever(pipeline, until=lambda: done() or time.monotonic() - t0 > 90, tick=0.2)
        assert done(), f"work not finished in 90 s; worker logs:\n{w.log('w1')[-2000:]}\n{w.log('w2')[-2000:]}"
        time.sleep(0.5)  # a late duplicate would arrive now
        with session_scope(engine) as s:
            keys = {k for (k,) in s.execute(select(Delivery.idempotency_key).where(Delivery.notice_id.is_not(None)))}
        received = dict(hook.accept_count)
    w.stop_all()
    assert [p.returncode for p in w.procs.values()] == [0, 0], "SIGTERM must stop a worker cleanly"
    assert "worker stopped" in w.log("w1")
    assert len(keys) >= n_subs * n_issues
    assert set(received) == keys, "a delivery was lost or an unknown one arrived"
    assert {k: c for k, c in received.items() if c != 1} == {}, "a delivery arrived twice"
    assert _count(engine, select(func.count(func.distinct(Classification.post_id)))) == n_posts
    assert sum(classified_in_logs(w).values()) == n_posts, "a post was classified twice"
    assert pipeline.stats["classify"].failures == 0 and pipeline.stats["alert"].failures == 0
    assert _overlaps_per_lock(engine) == []
    with engine.connect() as conn:
        by_task = dict(conn.execute(text("SELECT task_name, count(*) FROM procrastinate_jobs "
                                         "WHERE status = 'succeeded' GROUP BY task_name")).all())
        failed = conn.execute(text("SELECT task_name FROM procrastinate_jobs WHERE status = 'failed'")).all()
        waiting = conn.execute(text("SELECT task_name, count(*) FROM procrastinate_jobs WHERE status = 'todo' "
                                    "GROUP BY task_name HAVING count(*) > 1")).all()
    assert failed == [], f"{failed}\n{w.log('w1')[-3000:]}\n{w.log('w2')[-3000:]}"
    assert waiting == [], "the queueing lock let identical jobs pile up"
    for task in ("fruehwarn.classify_batch", "fruehwarn.detect", "fruehwarn.alert", "fruehwarn.deliver"):
        assert by_task.get(task, 0) >= 1, by_task
    for name in ("w1", "w2"):
        assert "Starting job fruehwarn." in w.log(name), f"worker {name} ran no job"
    engine.dispose()


# --- one worker killed mid-batch ---------------------------------------------------------------------------
@postgres
@needs_pg
@pytest.mark.timeout(150)
def test_killed_worker_batch_is_finished_by_the_other(pg_scratch_url: str, tmp_path: Path, workers: Callable[[Path], Workers]) -> None:
    """SIGKILL a worker between two commits of its classify batch: once its heartbeat is stale
    the batch is queued again, and the other worker classifies exactly the posts left."""
    from fruehwarn.tasks import CLASSIFY_BATCH, Deferrer

    size, n_posts = CLASSIFY_BATCH, 4 * CLASSIFY_BATCH
    settings, cfg = _config(tmp_path, pg_scratch_url, model={"batch_size": 1},  # commits per 256 posts
                            tasks={"stalled_after": 5})
    engine = init_db(settings)
    _posts(engine, n_posts)
    w = workers(cfg)
    # 4 ms of simulated model latency per post: a commit about every second
    procs = {name: w.start(name, concurrency=1, post_cost=0.004) for name in ("a", "b")}
    _wait(lambda: all("Starting worker" in w.log(n) for n in procs), 90, "both workers to start")
    d = Deferrer(settings, engine)
    job_ids = d.classify()
    d.close()
    assert len(job_ids) == 5  # ids 1-2048: ranges 0, 512, 1024, 1536, 2048

    def per_range() -> dict[int, int]:
        with engine.connect() as conn:
            return {int(k) * size: int(c) for k, c in conn.execute(text(
                "SELECT post_id / :s, count(*) FROM classification GROUP BY 1"), {"s": size})}

    def half_done() -> bool:
        return any(0 < c < 256 + 10 for c in per_range().values())

    _wait(half_done, 60, "a batch with its first commit only", poll=0.05)
    first = next(f for f, c in per_range().items() if 0 < c < 256 + 10)
    job_id = _job_of(engine, f"classify:{first}")
    running = [n for n in procs if f"Starting job fruehwarn.classify_batch[{job_id}]" in w.log(n)]
    assert len(running) == 1, running
    victim, survivor = running[0], ({"a", "b"} - set(running)).pop()
    os.kill(procs[victim].pid, signal.SIGKILL)
    procs[victim].wait(10)
    committed = per_range()[first]
    in_range = len(range(max(first, 1), min(first + size, n_posts + 1)))
    assert 0 < committed < in_range, "the batch finished before the worker could be killed"

    def all_succeeded() -> bool:
        with engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE task_name = :t AND "
                                     "status <> 'succeeded'"), {"t": "fruehwarn.classify_batch"}).scalar_one() == 0

    _wait(all_succeeded, 90, f"worker {survivor} to finish every batch; log:\n{w.log(survivor)[-3000:]}")
    assert _count(engine, select(func.count(func.distinct(Classification.post_id)))) == n_posts
    with engine.connect() as conn:
        events = [e for (e,) in conn.execute(text("SELECT type FROM procrastinate_events WHERE job_id = :i ORDER BY id"),
                                             {"i": job_id})]
    assert events.count("started") == 2, events  # the victim started it, the survivor again after recovery
    log = w.log(survivor)
    assert "of a dead worker queued again" in log
    # the survivor classified only what the victim had not committed: nothing twice
    assert f"classify_batch posts {first}-{first + size - 1}: {in_range - committed} classified" in log, log[-3000:]
    assert "classified by another process" not in log
    engine.dispose()


def _job_of(engine: Engine, lock: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT id FROM procrastinate_jobs WHERE lock = :l ORDER BY id DESC LIMIT 1"),
                                {"l": lock}).scalar_one())


def classified_in_logs(w: Workers) -> dict[str, int]:
    """Posts each worker handed to its classifier, from its ``classify_batch`` log lines."""
    return {name: sum(int(n) for n in re.findall(r"classify_batch posts \d+-\d+: (\d+) classified", w.log(name)))
            for name in w.procs}
