"""Delivery throughput: N customer notices through the outbox to a local webhook receiver.

The receiver runs in its own process on 127.0.0.1, injects failures (half 429 with
Retry-After: 0, half 503) at the given rate, dedups by Idempotency-Key and reports what it
accepted. The notices go the real way: subscribers -> issues -> alerting.stage.process
(auto-approved) -> outbox -> deliver_due workers. Prints a table; target: >= 200/s with
0 duplicates and 0 losses under 5 % injected failures.

    .venv/bin/python benchmarks/bench_delivery.py [--notices 10000] [--fail-rate 0.05]
        [--workers 1] [--concurrency 16] [--limit 500]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlmodel import Session, col, func, select  # noqa: E402

from alerting.delivery import DeliveryStats, deliver_due  # noqa: E402
from alerting.stage import process  # noqa: E402
from alerting.subscribers import add_subscriber  # noqa: E402
from config import load_settings  # noqa: E402
from storage.db import init_db, session_scope  # noqa: E402
from storage.models import Delivery, Issue, Topic, utcnow  # noqa: E402
from tests.alerting.servers import free_port, serve_forever  # noqa: E402


def _open_rows(engine) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        return int(s.exec(select(func.count()).select_from(Delivery).where(
            col(Delivery.status).in_(("pending", "sending")))).one())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notices", type=int, default=10_000, help="deliveries in total")
    ap.add_argument("--issues", type=int, default=10, help="notices (one per issue); subscribers = notices / issues")
    ap.add_argument("--fail-rate", type=float, default=0.05)
    ap.add_argument("--workers", type=int, default=1, help="worker processes (1: in this process)")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--limit", type=int, default=500, help="rows per claim")
    ap.add_argument("--database-url", default=None, help="an EMPTY database (default: a temporary SQLite file)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="fw-bench-"))
    port = free_port()
    receiver = mp.Process(target=serve_forever, args=(port, args.fail_rate), daemon=True)
    receiver.start()
    cfg = {"data_dir": str(tmp), "database_url": args.database_url or f"sqlite:///{tmp / 'bench.db'}",
           "alerting": {"auto_approve_min_severity": 0.0, "concurrency": args.concurrency, "backoff_base": 0.05,
                        "backoff_max": 1.0, "max_attempts": 10, "channel_rates": {"webhook": 100_000.0},
                        "lease": 30}}
    settings = load_settings(**cfg)
    engine = init_db(settings)
    per_issue = args.notices // args.issues
    t0 = time.perf_counter()
    with session_scope(engine) as s:
        for i in range(per_issue):
            add_subscriber(s, name=f"Kunde {i}", channels=[("webhook", f"json://127.0.0.1:{port}/kunde/{i}")],
                           products=["Mobilfunk"], confirmed=True)
        for k in range(args.issues):
            topic = Topic(label=f"Mobilfunk {k}", keywords=["mobilfunk", f"stoerung{k}"])
            s.add(topic)
            s.flush()
            s.add(Issue(topic_id=topic.id, title=f"Mobilfunk Störung {k}", keywords=list(topic.keywords),
                        severity=70, first_detected_at=utcnow()))
    t_setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = process(settings, engine)
    t_enqueue = time.perf_counter() - t0
    total_rows = _open_rows(engine)

    t0 = time.perf_counter()
    stats = DeliveryStats()
    if args.workers == 1:
        while True:
            st = deliver_due(settings, engine, "bench-1", limit=args.limit)
            stats.add(st)
            if st.claimed == 0:
                if _open_rows(engine) == 0:
                    break
                time.sleep(0.02)
    else:
        procs = [subprocess.Popen([sys.executable, "-m", "tests.alerting.worker_proc", json.dumps(cfg), f"bench-{w}",
                                   str(args.limit)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)}) for w in range(args.workers)]
        for p in procs:
            out, _ = p.communicate()
            st = json.loads(out.rsplit("SUMMARY ", 1)[1])
            stats.sent += st["sent"]
            stats.retried += st["retried"]
            stats.dead += st["dead"]
    elapsed = time.perf_counter() - t0

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats") as r:
        recv = json.loads(r.read())
    receiver.terminate()
    with Session(engine) as s:
        rows = s.exec(select(Delivery.idempotency_key, Delivery.status).where(col(Delivery.notice_id).is_not(None))).all()
    expected = {k for k, _ in rows}
    accepted = set(recv["accepted"])
    lost = len(expected - accepted)
    dups = len(recv["duplicates"])
    rate = len(expected) / elapsed if elapsed else 0.0
    table = [
        ("deliveries (notice x subscriber)", f"{len(expected):,}"),
        ("notices / subscribers", f"{res.notices_queued} / {per_issue:,}"),
        ("setup (subscribers, issues)", f"{t_setup:.1f} s"),
        ("alerting pass: draft + approve + enqueue", f"{t_enqueue:.2f} s ({total_rows:,} rows)"),
        ("workers x concurrency, claim limit", f"{args.workers} x {args.concurrency}, {args.limit}"),
        ("delivery wall time", f"{elapsed:.2f} s"),
        ("throughput", f"{rate:,.0f} notices/s  (target >= 200/s: {'met' if rate >= 200 else 'NOT met'})"),
        ("receiver requests / injected failures", f"{recv['requests']:,} / {recv['injected']:,} "
                                                   f"({recv['injected'] / max(1, recv['requests']):.1%})"),
        ("retries scheduled / dead letters", f"{stats.retried:,} / {stats.dead:,}"),
        ("losses (queued, never accepted)", f"{lost}"),
        ("duplicates (key accepted twice)", f"{dups}"),
        ("rows not 'sent'", f"{sum(1 for _, st in rows if st != 'sent')}"),
    ]
    width = max(len(k) for k, _ in table)
    backend = engine.dialect.name + (" (WAL)" if engine.dialect.name == "sqlite" else "")
    print(f"\nbench_delivery: {os.cpu_count()} CPUs, {backend}, receiver in its own process on 127.0.0.1")
    print("-" * (width + 40))
    for k, v in table:
        print(f"{k:<{width}}  {v}")
    print("-" * (width + 40))
    engine.dispose()
    shutil.rmtree(tmp, ignore_errors=True)
    ok = lost == 0 and dups == 0 and rate >= 200
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
