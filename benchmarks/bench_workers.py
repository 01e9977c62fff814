"""Worker scaling: posts classified and notices delivered per second by 1, 2 and 4 `fruehwarn worker` processes.

For each worker count: a fresh PostgreSQL database, ``--posts`` unclassified posts and an
outbox of ``--deliveries`` customer notices (subscribers x issues, through the real alerting
stage), then that many real ``fruehwarn worker`` processes (``tasks.engine = procrastinate``,
``--concurrency`` jobs each) started and waited for. Timed from the first deferral to the last
row done:

- classify: the scheduler's classify tick (``Deferrer.classify``: one job per 512 post ids);
- deliver: one deliver job (a full claim defers a helper job, so the backlog spreads over
  the workers), ticked every 0.5 s as the scheduler does, to a webhook receiver on 127.0.0.1
  in its own process that dedups by Idempotency-Key.

The per-item cost is a WAIT, not CPU: the fake classifier with ``--post-cost`` seconds per
post (``fruehwarn worker --fake-post-cost``: a model served on another machine) and a receiver
answering after ``--send-latency`` seconds (a remote channel). This machine has 2 cores, so
CPU-bound work could not show what workers on more machines add; an I/O-like cost shows what
the task engine and the database let them add. The real model is CPU-bound: on one machine
its throughput is set by the cores (see bench_classify.py), not by the number of workers.

Prints a table with throughput, speed-up over one worker, duplicates (posts handed to the
model twice, deliveries accepted twice) and losses (posts left unclassified, deliveries never
accepted). Exit status 0 only with 0 duplicates and 0 losses.

    .venv/bin/python benchmarks/bench_workers.py postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    FRUEHWARN_BENCH_POSTGRES_URL=... .venv/bin/python benchmarks/bench_workers.py --workers 1,2,4

The URL names a server and a database to connect to; each run creates its own database next
to it (``fw_workers_<random>``) and drops it afterwards.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import multiprocessing as mp
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from alerting.stage import process  # noqa: E402
from config import Settings, load_settings  # noqa: E402
from storage.db import create_scratch_database, drop_scratch_database, init_db, session_scope  # noqa: E402
from storage.models import Classification, Delivery, Post, Source, utcnow  # noqa: E402
from tests.alerting.servers import Answer, WebhookReceiver, free_port, seed_mobilfunk_issues  # noqa: E402

WORDS = ("Netz", "Rechnung", "App", "Vertrag", "Tarif", "Router", "Hotline", "Kündigung", "Lieferung", "Paket",
         "Störung", "langsam", "super", "danke", "leider", "wieder", "heute", "immer", "schnell", "Problem")
CLASSIFIED = re.compile(r"classify_batch posts \d+-\d+: (\d+) classified")


class SlowReceiver(WebhookReceiver):
    """The test receiver, answering every accepted request after ``latency`` seconds (outside its lock)."""

    latency = 0.0

    def _answer(self, path: str, key: str | None, raw: bytes) -> Answer:
        answer = super()._answer(path, key, raw)
        return dataclasses.replace(answer, stall=max(answer.stall, self.latency))


def serve_slow(port: int, latency: float) -> None:
    """The receiver process: until killed."""
    SlowReceiver.latency = latency
    with SlowReceiver(keep_bodies=False, port=port) as receiver:
        receiver.thread.join()


def _count(engine: Engine, stmt: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRUEHWARN_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _settings(args: argparse.Namespace, tmp: Path, db_url: str) -> tuple[Settings, Path]:
    data = {
        "data_dir": str(tmp / "data"), "database_url": db_url, "model": {"encoder": "fake"}, "log_level": "INFO",
        "tasks": {"engine": "procrastinate", "heartbeat_interval": 2, "stalled_after": 60, "poll_interval": 0.5},
        "alerting": {"auto_approve_min_severity": 0.0, "concurrency": args.send_concurrency, "backoff_base": 0.05,
                     "backoff_max": 1.0, "max_attempts": 10, "channel_rates": {"webhook": 100_000.0}, "lease": 60},
    }
    path = tmp / "fruehwarn.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_settings(path), path


def _fill(engine: Engine, settings: Settings, n_posts: int, n_deliveries: int, issues: int, port: int) -> int:
    """Posts to classify and an outbox of notices (subscribers x issues); the number of outbox rows."""
    start = utcnow() - timedelta(hours=2)
    with session_scope(engine) as s:
        src = Source(name="forum", type="rss", url="http://127.0.0.1:9/feed")
        s.add(src)
        s.flush()
        src_id = src.id
    rows = []
    for i in range(n_posts):
        body = " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(12)) + f" #{i}"
        rows.append({"source_id": src_id, "external_id": f"p{i}", "text": body,
                     "published_at": start + timedelta(milliseconds=i), "fetched_at": start,
                     "content_hash": hashlib.sha256(body.encode()).hexdigest()})
    with engine.begin() as conn:
        conn.execute(insert(Post), rows)
    with session_scope(engine) as s:
        seed_mobilfunk_issues(s, lambda i: f"json://127.0.0.1:{port}/kunde/{i}", n_deliveries // issues, issues)
    process(settings, engine)
    return _count(engine, select(func.count()).select_from(Delivery))


def run_one(args: argparse.Namespace, n_workers: int, port: int) -> dict[str, Any]:
    from fruehwarn.tasks import Deferrer

    db_url = create_scratch_database(args.database_url, "fw_workers_")
    tmp = Path(tempfile.mkdtemp(prefix="fw-workers-"))
    procs: list[subprocess.Popen[bytes]] = []
    logs = [tmp / f"w{i}.log" for i in range(n_workers)]
    try:
        t_setup = time.perf_counter()
        settings, cfg = _settings(args, tmp, db_url)
        engine = init_db(settings)
        n_rows = _fill(engine, settings, args.posts, args.deliveries, args.issues, port)
        d = Deferrer(settings, engine)  # applies Procrastinate's schema before the workers start
        for i, log in enumerate(logs):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "fruehwarn", "--config", str(cfg), "worker", "--name", f"w{i}",
                 "--concurrency", str(args.concurrency), "--fake-post-cost", str(args.post_cost)],
                cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT, env=_env()))
        end = time.monotonic() + 120
        while not all("Starting worker" in log.read_text(errors="replace") for log in logs):
            if time.monotonic() > end or any(p.poll() is not None for p in procs):
                raise RuntimeError("a worker did not start:\n" + "\n".join(
                    log.read_text(errors="replace")[-1500:] for log in logs))
            time.sleep(0.2)
        t_setup = time.perf_counter() - t_setup

        def classified() -> int:
            return _count(engine, select(func.count()).select_from(Classification))

        def open_rows() -> int:
            return _count(engine, select(func.count()).select_from(Delivery).where(Delivery.status != "sent"))

        t0 = time.perf_counter()
        n_jobs = len(d.classify())
        deadline = time.monotonic() + args.timeout
        while classified() < args.posts and time.monotonic() < deadline:
            time.sleep(0.05)
        t_classify = time.perf_counter() - t0

        t0 = time.perf_counter()
        d.deliver()
        last_tick = time.monotonic()
        deadline = time.monotonic() + args.timeout
        while open_rows() and time.monotonic() < deadline:
            time.sleep(0.05)
            if time.monotonic() - last_tick >= 0.5:  # the scheduler's alert tick defers deliver (retries due)
                d.deliver()
                last_tick = time.monotonic()
        t_deliver = time.perf_counter() - t0
        d.close()
        time.sleep(max(0.5, 2 * args.send_latency))  # a late duplicate would arrive now

        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(60)
        handed = sum(int(n) for log in logs for n in CLASSIFIED.findall(log.read_text(errors="replace")))
        distinct = _count(engine, select(func.count(func.distinct(Classification.post_id))))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats") as r:
            recv = json.loads(r.read())
        with session_scope(engine) as s:
            keys = set(s.execute(select(Delivery.idempotency_key)).scalars())
        accepted = set(recv["accepted"]) & keys
        engine.dispose()
        return {
            "t_setup": t_setup, "workers": n_workers, "posts": args.posts, "classify_jobs": n_jobs, "t_classify": t_classify,
            "classify_rate": distinct / t_classify, "classify_dup": handed - distinct,
            "classify_lost": args.posts - distinct, "deliveries": n_rows, "t_deliver": t_deliver,
            "deliver_rate": len(accepted) / t_deliver,
            "deliver_dup": sum(1 for k in recv["duplicates"] if k in keys), "deliver_lost": len(keys - accepted),
        }
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
        drop_scratch_database(args.database_url, db_url)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("database_url", nargs="?", default=os.environ.get("FRUEHWARN_BENCH_POSTGRES_URL"),
                    help="postgresql+psycopg://USER@HOST:PORT/DB (or FRUEHWARN_BENCH_POSTGRES_URL)")
    ap.add_argument("--workers", default="1,2,4", help="worker counts to measure, comma-separated")
    ap.add_argument("--concurrency", type=int, default=1, help="jobs each worker runs at a time")
    ap.add_argument("--posts", type=int, default=4095, help="posts to classify (one job per 512 post ids: 8)")
    ap.add_argument("--post-cost", type=float, default=0.025, help="simulated model latency per post, seconds")
    ap.add_argument("--deliveries", type=int, default=800, help="outbox rows (subscribers x issues)")
    ap.add_argument("--issues", type=int, default=4, help="notices; subscribers = deliveries / issues")
    ap.add_argument("--send-latency", type=float, default=0.2, help="receiver's answer delay, seconds")
    ap.add_argument("--send-concurrency", type=int, default=2, help="alerting.concurrency: sends at once per deliver job")
    ap.add_argument("--timeout", type=float, default=300.0, help="per phase and worker count, seconds")
    args = ap.parse_args()
    if not args.database_url or not args.database_url.startswith("postgresql"):
        print("bench_workers: give a PostgreSQL URL (argument or FRUEHWARN_BENCH_POSTGRES_URL)", file=sys.stderr)
        return 2
    counts = [int(x) for x in args.workers.split(",") if x.strip()]

    results = []
    for n in counts:
        port = free_port()  # a fresh receiver per run: its counts are that run's
        receiver = mp.get_context("spawn").Process(target=serve_slow, args=(port, args.send_latency), daemon=True)
        receiver.start()
        try:
            results.append(run_one(args, n, port))
        finally:
            receiver.terminate()
            receiver.join(5)
        r = results[-1]
        print(f"  {n} worker(s): setup and start {r['t_setup']:.1f} s, classify {r['t_classify']:.1f} s, "
              f"deliver {r['t_deliver']:.1f} s; load average {os.getloadavg()[0]:.1f}", flush=True)

    base_c, base_d = results[0]["classify_rate"], results[0]["deliver_rate"]
    print(f"\nbench_workers: {os.cpu_count()} CPUs, PostgreSQL, `fruehwarn worker --concurrency {args.concurrency}` "
          f"processes; classify: {args.posts:,} posts (fake classifier + {args.post_cost * 1000:.0f} ms wait per post, "
          f"{results[0]['classify_jobs']} jobs of 512 ids); deliver: {results[0]['deliveries']:,} notices to a "
          f"receiver answering after {args.send_latency * 1000:.0f} ms, {args.send_concurrency} sends at once per job")
    head = ("workers", "classify posts/s", "x", "deliver /s", "x", "duplicates", "losses")
    rows = [(str(r["workers"]), f"{r['classify_rate']:,.1f}", f"{r['classify_rate'] / base_c:.2f}",
             f"{r['deliver_rate']:,.1f}", f"{r['deliver_rate'] / base_d:.2f}",
             f"{r['classify_dup']} + {r['deliver_dup']}", f"{r['classify_lost']} + {r['deliver_lost']}")
            for r in results]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    line = "  ".join("-" * w for w in widths)
    print(line)
    print("  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True)))
    print(line)
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    print(line)
    print("duplicates / losses: posts + deliveries; x: throughput over one worker; "
          f"one worker's ceiling: {1 / args.post_cost:,.0f} posts/s, "
          f"{args.send_concurrency / args.send_latency:,.0f} deliveries/s")
    bad = sum(r["classify_dup"] + r["deliver_dup"] + r["classify_lost"] + r["deliver_lost"] for r in results)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
