"""The pipeline's work as Procrastinate jobs, for several worker processes on one PostgreSQL.

With ``tasks.engine = "procrastinate"`` APScheduler stays the clock (fruehwarn/scheduler.py)
but only *defers* jobs; ``fruehwarn worker`` processes, on this machine or others, fetch
and run them. Procrastinate keeps the queue in PostgreSQL, which production already runs,
so there is no broker to operate (the reason it was chosen over Celery with Redis).

What makes the work happen once, and more workers add throughput:

- every job carries a ``lock`` (a crawl per source, a classify batch, detect, alert):
  Procrastinate never runs two jobs with the same lock at the same time, on any worker;
- and a ``queueing_lock`` of the same name: a second identical job is refused while one
  waits (:class:`procrastinate.exceptions.AlreadyEnqueued`, counted as ``skipped``), so a
  slow stage does not pile up a queue behind it;
- classification is partitioned by post id: the scheduler's tick defers one
  ``classify_batch(first, last)`` job per range of :data:`CLASSIFY_BATCH` ids that holds
  unclassified posts (lock ``classify:<first>``), skipping ranges whose job still waits or
  runs. Ranges are disjoint, so any number of workers classify side by side and no post is
  classified by two of them; detection stays one serial job (one topic state);
- ``deliver`` has a queueing lock but no run lock: several deliver jobs may run at once on
  different workers, each claiming its own rows (alerting's outbox: ``FOR UPDATE SKIP
  LOCKED`` and a lease per row, a lease holder per call). A deliver job whose claim came
  back full defers a helper, so a backlog spreads over every free worker;
- workers send heartbeats; a worker silent for ``tasks.stalled_after`` is dead, and the
  periodic ``recover_stalled`` job (every ``tasks.recover_every`` seconds, deferred by the
  workers themselves, once per tick across all of them) puts its running jobs back in the
  queue. Every stage commits per batch and skips what is already done, so the job run
  again continues where the dead one stopped.

Procrastinate's schema lives in the same database as fruehwarn's tables but is not part
of the Alembic migrations: it belongs to the installed Procrastinate version, and a
SQLite or in-process PostgreSQL deployment should not carry it. :func:`ensure_schema`
applies it (under an advisory lock, so workers starting together do not race) when the
scheduler or a worker starts with the engine enabled.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import procrastinate
import psycopg
from procrastinate import exceptions as pexc
from procrastinate import jobs as pjobs
from procrastinate.schema import SchemaManager
from sqlalchemy import text
from sqlalchemy.engine import make_url

from config import ConfigError, Settings
from fruehwarn.scheduler import DELIVER_CLAIM

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from fruehwarn.scheduler import Stages

log = logging.getLogger("fruehwarn.tasks")

CRAWL = "fruehwarn.crawl_source"
CLASSIFY = "fruehwarn.classify_batch"
DETECT = "fruehwarn.detect"
ALERT = "fruehwarn.alert"
DELIVER = "fruehwarn.deliver"
RECOVER = "fruehwarn.recover_stalled"
TASK_NAMES = (CRAWL, CLASSIFY, DETECT, ALERT, DELIVER, RECOVER)

_SCHEMA_LOCK = 0x66727565  # pg_advisory_lock key while the schema is applied ("frue")
_STAGE_BUDGET_S = 60.0  # a deliver job loops over its backlog at most this long, then yields
CLASSIFY_BATCH = 512  # post ids per classify job (~8 s of the real model on 2 cores; committed per 256)
MAX_CLASSIFY_JOBS = 1000  # classify jobs one scheduler tick defers at most (the rest: next tick)


def conninfo(db_url: str) -> str:
    """A libpq connection string from the SQLAlchemy URL (``postgresql+psycopg://`` -> ``postgresql://``)."""
    url = make_url(db_url)
    if url.get_backend_name() != "postgresql":
        raise ConfigError(f"tasks.engine = 'procrastinate' needs a PostgreSQL database_url, not {url.get_backend_name()}")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def ensure_schema(settings: Settings) -> bool:
    """Apply Procrastinate's schema unless it is there; True when it was applied now."""
    with psycopg.connect(conninfo(settings.db_url), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
        try:
            row = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
            if row and row[0]:
                return False
            conn.execute(SchemaManager.get_schema())
            log.info("applied Procrastinate's schema to %s", make_url(settings.db_url).render_as_string())
            return True
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))


@dataclass
class Runtime:
    """What the jobs of one worker process share: settings, engine and the stages (built once)."""

    settings: Settings
    engine: Engine
    stages: Stages | None = None
    build_stages: Callable[[Settings], Stages] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get_stages(self) -> Stages:
        with self._lock:  # jobs run in threads: the classifier is loaded once, by the first job
            if self.stages is None:
                if self.build_stages is None:
                    from fruehwarn.scheduler import default_stages

                    self.build_stages = default_stages
                self.stages = self.build_stages(self.settings)
            return self.stages


def make_app(settings: Settings, runtime: Runtime | None = None) -> procrastinate.App:
    """The Procrastinate app with one task per stage.

    ``runtime`` is needed only where jobs run (a worker); the scheduler defers with none.
    """
    t = settings.tasks
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(settings.db_url)))

    def rt() -> Runtime:
        if runtime is None:
            raise RuntimeError("this app only defers jobs; run them with `fruehwarn worker`")
        return runtime

    @app.task(name=CRAWL, queue=t.queue)
    def crawl_source(name: str) -> None:
        r = rt()
        r.get_stages().crawl(r.settings, r.engine, [name])

    @app.task(name=CLASSIFY, queue=t.queue)
    def classify_batch(first: int, last: int) -> int:
        r = rt()
        stages = r.get_stages()
        if stages.classify_range is None:
            raise RuntimeError("these stages cannot classify a batch of post ids")
        res = stages.classify_range(r.settings, r.engine, first, last)
        predicted, written = int(getattr(res, "predicted", res)), int(getattr(res, "written", res))
        log.info("classify_batch posts %d-%d: %d classified", first, last - 1, predicted)
        if predicted != written:
            log.warning("classify_batch posts %d-%d: %d were classified by another process meanwhile",
                        first, last - 1, predicted - written)
        return written

    @app.task(name=DETECT, queue=t.queue)
    def detect() -> None:
        r = rt()
        stages = r.get_stages()
        stages.group(r.settings, r.engine)
        stages.detect(r.settings, r.engine)

    @app.task(name=ALERT, queue=t.queue)
    def alert() -> None:
        r = rt()
        r.get_stages().alert(r.settings, r.engine)
        _defer(app, DELIVER, lock=None, queueing_lock="deliver")  # what was queued goes out now, not at the next tick

    @app.task(name=DELIVER, queue=t.queue)
    def deliver() -> int:
        r = rt()
        stages = r.get_stages()

        def once() -> int:
            res = stages.deliver(r.settings, r.engine)
            claimed = int(getattr(res, "claimed", 0) or 0)
            if claimed >= DELIVER_CLAIM:  # more is due: a free worker can take a share (one helper waits at most)
                _defer(app, DELIVER, lock=None, queueing_lock="deliver")
            return claimed

        return _drain(once)

    @app.periodic(cron=f"* * * * * */{t.recover_every}", periodic_id="recover")
    @app.task(name=RECOVER, queue=t.queue, queueing_lock="recover_stalled")
    async def recover_stalled(timestamp: int) -> int:
        return await _recover(app, t.stalled_after)

    return app


def _drain(step: Callable[[], int]) -> int:
    """Run ``step`` until it finds nothing more to do (or the budget is spent); the total it did."""
    total = 0
    end = time.monotonic() + _STAGE_BUDGET_S
    while time.monotonic() < end:
        n = step()
        total += n
        if n <= 0:
            break
    return total


async def _recover(app: procrastinate.App, stalled_after: float) -> int:
    """Put the running jobs of dead workers back in the queue; the number recovered."""
    n = 0
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
        try:
            await app.job_manager.retry_job(job)
            log.warning("job %s (%s) of a dead worker queued again", job.id, job.task_name)
            n += 1
        except pexc.UniqueViolation:
            # an identical job already waits (queueing lock): it does the work; close this one
            await app.job_manager.finish_job(job, status=pjobs.Status.FAILED, delete_job=False)
            log.warning("job %s (%s) of a dead worker closed: an identical job is queued", job.id, job.task_name)
    return n


def _defer(app: procrastinate.App, task: str, *, lock: str | None, queueing_lock: str | None,
           **kwargs: Any) -> int | None:
    try:
        return app.configure_task(task, lock=lock, queueing_lock=queueing_lock).defer(**kwargs)
    except pexc.AlreadyEnqueued:
        return None


def pending_batches(engine: Engine, size: int = CLASSIFY_BATCH, limit: int = MAX_CLASSIFY_JOBS) -> list[int]:
    """First post ids of the ranges ``[k*size, (k+1)*size)`` that hold unclassified posts and
    have no classify job waiting or running; lowest (oldest posts) first."""
    with engine.connect() as conn:
        busy = {int(lock.split(":", 1)[1]) for (lock,) in conn.execute(text(
            "SELECT lock FROM procrastinate_jobs WHERE task_name = :t AND status IN ('todo', 'doing') "
            "AND lock LIKE 'classify:%'"), {"t": CLASSIFY})}
        firsts = [int(k) * size for (k,) in conn.execute(text(
            "SELECT DISTINCT p.id / :size AS k FROM post p LEFT JOIN classification c ON c.post_id = p.id "
            "WHERE c.post_id IS NULL ORDER BY k LIMIT :limit"), {"size": size, "limit": limit + len(busy)})]
    return [f for f in firsts if f not in busy][:limit]


class Deferrer:
    """Defers the stage jobs (the scheduler's side). Thread-safe; ``close()`` when done.

    Each method answers the job id, or None when an identical job already waits;
    :meth:`classify` answers the ids of the classify jobs it deferred.
    """

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        ensure_schema(settings)
        self.app = make_app(settings)
        self.app.open()
        logging.getLogger("procrastinate.jobs").setLevel(logging.WARNING)  # not a line for every deferral
        self.deferred = 0
        self.skipped = 0
        self._lock = threading.Lock()
        self._engine = engine
        self._own_engine = False

    def _go(self, task: str, key: str | None, queueing_lock: str, **kwargs: Any) -> int | None:
        job_id = _defer(self.app, task, lock=key, queueing_lock=queueing_lock, **kwargs)
        with self._lock:
            if job_id is None:
                self.skipped += 1
            else:
                self.deferred += 1
        return job_id

    def crawl(self, source: str) -> int | None:
        return self._go(CRAWL, f"crawl:{source}", f"crawl:{source}", name=source)

    def classify(self, size: int = CLASSIFY_BATCH) -> list[int]:
        """One classify job per id range with unclassified posts and no job yet (oldest first)."""
        ids = []
        for first in pending_batches(self.engine(), size):
            key = f"classify:{first}"
            job_id = self._go(CLASSIFY, key, key, first=first, last=first + size)
            if job_id is not None:
                ids.append(job_id)
        return ids

    def detect(self) -> int | None:
        return self._go(DETECT, "detect", "detect")

    def alert(self) -> int | None:
        return self._go(ALERT, "alert", "alert")

    def deliver(self) -> int | None:
        return self._go(DELIVER, None, "deliver")

    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                from storage.db import make_engine

                self._engine = make_engine(self.settings.db_url)
                self._own_engine = True
            return self._engine

    def close(self) -> None:
        self.app.close()
        if self._own_engine and self._engine is not None:
            self._engine.dispose()


def run_worker(settings: Settings, engine: Engine, *, concurrency: int | None = None, name: str | None = None,
               stages: Stages | None = None, post_cost: float = 0.0) -> None:
    """Run one worker until SIGTERM/SIGINT (it then finishes its running jobs and exits).

    The classifier is loaded once per worker process, before the first job. ``post_cost``:
    seconds of simulated model latency per post (fake classifier; benchmarks and tests).
    """
    t = settings.tasks
    ensure_schema(settings)
    runtime = Runtime(settings, engine, stages=stages)
    if post_cost > 0:
        from fruehwarn.scheduler import default_stages

        runtime.build_stages = lambda s: default_stages(s, post_cost=post_cost)
    runtime.get_stages()  # load the classifier now, once, not inside the first job
    app = make_app(settings, runtime)
    log.info("worker %s on %s (pid %d): queue %s, concurrency %d", name or "worker", os.uname().nodename,
             os.getpid(), t.queue, concurrency or t.concurrency)
    app.run_worker(
        queues=[t.queue],
        name=name or "worker",
        concurrency=concurrency or t.concurrency,
        update_heartbeat_interval=t.heartbeat_interval,
        stalled_worker_timeout=t.stalled_after,
        fetch_job_polling_interval=t.poll_interval,
        delete_jobs="never" if t.keep_finished_jobs else "successful",
        install_signal_handlers=True,
    )
