"""Wires the stages into APScheduler jobs.

crawl (one job per source, each on its own interval) -> classify -> detect (topics,
emergence) -> alert (internal alerts, notices, outbox) -> deliver. Every stage reads
what the previous one wrote, in its own transaction, so a job can stop at any point
and the next run picks up where it left off. A job never overlaps itself
(``max_instances=1``, ``coalesce=True``); SIGTERM and Ctrl-C stop the scheduler after
the running jobs finish their current transaction.

With ``tasks.engine = "procrastinate"`` (PostgreSQL) the same jobs *defer* Procrastinate
jobs instead of running the stages here: ``fruehwarn worker`` processes run them
(fruehwarn/tasks.py); the classify tick defers one job per batch of post ids, so several
workers classify side by side. The retention purge stays in this process. The default
(``inprocess``) runs everything here and needs no extra server.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from config import Settings

if TYPE_CHECKING:
    from fruehwarn.tasks import Deferrer

log = logging.getLogger("fruehwarn.scheduler")


@dataclass
class Stages:
    """The stage functions the scheduler calls; swapped in tests."""

    crawl: Callable[[Settings, Engine, list[str] | None], Any]
    classify: Callable[[Settings, Engine], int]
    group: Callable[[Settings, Engine], int]
    detect: Callable[[Settings, Engine], Any]
    alert: Callable[[Settings, Engine], Any]
    deliver: Callable[[Settings, Engine], Any]
    # one worker's batch: the unclassified posts with first <= id < last (tasks.engine = procrastinate)
    classify_range: Callable[[Settings, Engine, int, int], Any] | None = None


DELIVER_CLAIM = 100  # outbox rows one deliver call claims (a worker with a full claim asks another to help)


class SlowedClassifier:
    """Wraps a classifier and waits ``post_cost`` seconds per post first: a model served elsewhere.

    For the worker benchmark and tests (``fruehwarn worker --fake-post-cost``): the fake
    classifier is instant, and on a 2-core machine CPU-bound work cannot show what more
    worker processes on more machines add; a wait per post (I/O-like) can.
    """

    def __init__(self, inner: Any, post_cost: float) -> None:
        self.inner = inner
        self.post_cost = post_cost
        self.version = inner.version
        self.dim = inner.dim

    def classify(self, texts: list[str]) -> Any:
        time.sleep(self.post_cost * len(texts))
        return self.inner.classify(texts)


def default_stages(settings: Settings, *, post_cost: float = 0.0) -> Stages:
    """The real stages; the classifier is loaded once, here.

    ``post_cost`` (seconds, fake classifier only) adds a wait per classified post.
    """
    from alerting.delivery import deliver_due
    from alerting.stage import process as alert_process
    from classifiers.detect import detect, group_pending
    from classifiers.pipeline import classify_pending, classify_range
    from classifiers.runtime import load_classifier
    from crawlers.runner import crawl_once

    classifier = load_classifier(settings)
    if post_cost > 0:
        if settings.model.encoder != "fake":
            raise RuntimeError("a simulated per-post cost is for the fake classifier only (model.encoder = fake)")
        classifier = SlowedClassifier(classifier, post_cost)
    host = f"{os.uname().nodename}:{os.getpid()}"
    calls = itertools.count(1)

    def deliver(s: Settings, e: Engine) -> Any:
        # a worker id per call: two deliver jobs running at once in one worker process hold
        # separate leases, so one cannot write an outcome for a row the other (re)claimed
        return deliver_due(s, e, f"{host}:{next(calls)}", limit=DELIVER_CLAIM)

    return Stages(
        crawl=lambda s, e, names: crawl_once(s, e, names),
        classify=lambda s, e: classify_pending(s, e, classifier),
        group=lambda s, e: group_pending(s, e),
        detect=lambda s, e: detect(s, e),
        alert=lambda s, e: alert_process(s, e),
        deliver=deliver,
        classify_range=lambda s, e, first, last: classify_range(s, e, classifier, first, last),
    )


@dataclass
class JobStats:
    runs: int = 0
    failures: int = 0
    last_error: str | None = None
    last_run_at: datetime | None = None


@dataclass
class Pipeline:
    """The scheduled jobs and what they did (for logs, the demo and tests)."""

    settings: Settings
    engine: Engine
    stages: Stages
    stats: dict[str, JobStats] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _deferrer: Deferrer | None = field(default=None, repr=False)
    _deferrer_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def distributed(self) -> bool:
        """True when the jobs are deferred to Procrastinate workers instead of run here."""
        return self.settings.tasks.engine == "procrastinate"

    def deferrer(self) -> Deferrer:
        """The Procrastinate deferrer (schema applied on first use); only when ``distributed``."""
        with self._deferrer_lock:
            if self._deferrer is None:
                from fruehwarn.tasks import Deferrer

                self._deferrer = Deferrer(self.settings, self.engine)
            return self._deferrer

    def _run(self, name: str, fn: Callable[[], Any]) -> Any:
        st = self.stats.setdefault(name, JobStats())
        if self._stop.is_set():
            return None
        st.runs += 1
        st.last_run_at = datetime.now()
        try:
            result = fn()
            st.last_error = None
            return result
        except Exception as exc:  # noqa: BLE001 - a failing job must not kill the scheduler
            st.failures += 1
            st.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("job %s failed", name)
            return None

    # one method a job (distributed: defer the job; else run the stage here) ---------------
    def crawl(self, source: str) -> Any:
        if self.distributed:
            return self._run(f"crawl:{source}", lambda: self.deferrer().crawl(source))
        return self._run(f"crawl:{source}", lambda: self.stages.crawl(self.settings, self.engine, [source]))

    def classify(self) -> Any:
        if self.distributed:
            return self._run("classify", lambda: self.deferrer().classify())
        return self._run("classify", lambda: self.stages.classify(self.settings, self.engine))

    def detect(self) -> Any:
        if self.distributed:
            return self._run("detect", lambda: self.deferrer().detect())

        def both() -> Any:
            self.stages.group(self.settings, self.engine)
            return self.stages.detect(self.settings, self.engine)

        return self._run("detect", both)

    def alert(self) -> Any:
        if self.distributed:
            def defer_both() -> Any:
                d = self.deferrer()
                d.deliver()  # retries that fell due, even when the alert stage has nothing new
                return d.alert()

            return self._run("alert", defer_both)

        def both() -> Any:
            self.stages.alert(self.settings, self.engine)
            return self.stages.deliver(self.settings, self.engine)

        return self._run("alert", both)

    def purge(self) -> Any:
        from storage.retention import purge

        return self._run("purge", lambda: purge(self.settings, self.engine))

    def run_all_once(self) -> None:
        """Every stage once, in order (``fruehwarn run --once`` and tests)."""
        for src in self.settings.sources:
            if src.enabled:
                self.crawl(src.name)
        self.classify()
        self.detect()
        self.alert()

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Release the deferrer's connections (after the scheduler has stopped)."""
        with self._deferrer_lock:
            if self._deferrer is not None:
                self._deferrer.close()
                self._deferrer = None


def build_scheduler(pipeline: Pipeline) -> BackgroundScheduler:
    """An APScheduler with one job per source plus the pipeline stages."""
    s = pipeline.settings
    sched = BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=4)},
        job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 30},
        timezone="UTC",
    )
    for src in s.sources:
        if src.enabled:
            sched.add_job(pipeline.crawl, "interval", seconds=src.interval, args=[src.name],
                          id=f"crawl:{src.name}", name=f"crawl {src.name}", next_run_time=datetime.now().astimezone())
    sched.add_job(pipeline.classify, "interval", seconds=s.scheduler.classify_interval, id="classify")
    sched.add_job(pipeline.detect, "interval", seconds=s.scheduler.detect_interval, id="detect")
    sched.add_job(pipeline.alert, "interval", seconds=s.scheduler.deliver_interval, id="alert")
    sched.add_job(pipeline.purge, "interval", seconds=s.scheduler.purge_interval, id="purge")
    return sched


def run_forever(pipeline: Pipeline, *, until: Callable[[], bool] | None = None,
                on_tick: Callable[[], None] | None = None, tick: float = 1.0) -> None:
    """Run the scheduler until SIGTERM/SIGINT (or ``until()`` is true), then stop cleanly.

    Shutdown waits for running jobs: each stage commits in its own transactions, so
    nothing is left half-written.
    """
    sched = build_scheduler(pipeline)
    stopping = threading.Event()

    def _signal(signum: int, _frame: Any) -> None:
        log.info("received %s, stopping after the running jobs", signal.Signals(signum).name)
        stopping.set()

    old = {sig: signal.signal(sig, _signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    sched.start()
    log.info("scheduler started: %d jobs", len(sched.get_jobs()))
    try:
        while not stopping.is_set() and not (until and until()):
            if on_tick:
                on_tick()
            stopping.wait(tick)
    finally:
        pipeline.stop()
        sched.shutdown(wait=True)
        pipeline.close()
        for sig, handler in old.items():
            signal.signal(sig, handler)
        log.info("scheduler stopped cleanly")
