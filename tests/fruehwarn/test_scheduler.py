import os
import signal
import threading
import time
from pathlib import Path

from sqlalchemy.engine import Engine

from config import Settings, load_settings
from fruehwarn.scheduler import Pipeline, Stages, build_scheduler, run_forever


def _settings(tmp_path: Path) -> Settings:
    return load_settings(
        data_dir=tmp_path,
        sources=[{"name": "a", "type": "rss", "url": "http://127.0.0.1:9/a", "interval": 1},
                 {"name": "b", "type": "rss", "url": "http://127.0.0.1:9/b", "interval": "1h"},
                 {"name": "off", "type": "rss", "url": "http://127.0.0.1:9/c", "enabled": False}],
        scheduler={"classify_interval": 0.2, "detect_interval": 0.2, "deliver_interval": 0.2},
    )


class Recorder:
    def __init__(self, fail_on: str | None = None, slow: float = 0.0) -> None:
        self.calls: list[str] = []
        self.fail_on = fail_on
        self.slow = slow
        self.running = 0
        self.max_running = 0
        self.lock = threading.Lock()

    def make(self, name: str):  # noqa: ANN201
        def fn(*args: object) -> int:
            with self.lock:
                self.running += 1
                self.max_running = max(self.max_running, self.running)
            try:
                label = name if name != "crawl" else f"crawl:{args[2][0]}"  # type: ignore[index]
                self.calls.append(label)
                if self.fail_on == name:
                    raise RuntimeError(f"{name} broke")
                time.sleep(self.slow)
                return 1
            finally:
                with self.lock:
                    self.running -= 1

        return fn

    def stages(self) -> Stages:
        return Stages(**{n: self.make(n) for n in ("crawl", "classify", "group", "detect", "alert", "deliver")})


def test_jobs_one_per_enabled_source_and_never_overlapping(tmp_path: Path, engine: Engine) -> None:
    s = _settings(tmp_path)
    sched = build_scheduler(Pipeline(s, engine, Recorder().stages()))
    sched.start(paused=True)
    jobs = {j.id: j for j in sched.get_jobs()}
    sched.shutdown(wait=False)
    assert set(jobs) == {"crawl:a", "crawl:b", "classify", "detect", "alert", "purge"}
    for job in jobs.values():
        assert job.max_instances == 1 and job.coalesce is True
    assert jobs["crawl:b"].trigger.interval.total_seconds() == 3600


def test_run_all_once_runs_stages_in_order_and_survives_a_failure(tmp_path: Path, engine: Engine) -> None:
    rec = Recorder(fail_on="classify")
    p = Pipeline(_settings(tmp_path), engine, rec.stages())
    p.run_all_once()
    assert rec.calls == ["crawl:a", "crawl:b", "classify", "group", "detect", "alert", "deliver"]
    assert p.stats["classify"].failures == 1 and "classify broke" in (p.stats["classify"].last_error or "")
    assert p.stats["detect"].failures == 0


def test_sigterm_stops_cleanly_after_running_jobs(tmp_path: Path, engine: Engine) -> None:
    rec = Recorder(slow=0.3)
    p = Pipeline(_settings(tmp_path), engine, rec.stages())
    threading.Timer(1.5, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
    t0 = time.monotonic()
    run_forever(p, tick=0.05)
    assert time.monotonic() - t0 < 10
    assert rec.running == 0, "a job was still running after shutdown"
    assert rec.calls.count("crawl:a") >= 1 and "classify" in rec.calls
    n = len(rec.calls)
    time.sleep(0.5)
    assert len(rec.calls) == n, "jobs ran after the scheduler stopped"
