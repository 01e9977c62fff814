"""Soak: seven simulated days of posts through classification, grouping, detection and alerting on PostgreSQL.

The stream is bench_replay's (German scenario sentences over days with a day/night rhythm
and labelled incidents). A simulated clock advances ``--tick`` seconds at a time; at each
tick the posts published by then are stored, classified (the fake classifier: the soak is
about the pipeline and the database, not the model), grouped, and detection runs; then the
alerting stage turns issues into team alerts and auto-approved customer notices, and
delivery sends them to a webhook receiver on 127.0.0.1 in its own process (it dedups by
Idempotency-Key). This process's RSS is sampled every simulated hour and reported per
simulated day.

Prints: throughput, RSS per simulated day, issues raised, alerts and notices sent,
duplicates and losses (posts not stored/classified/grouped, deliveries never accepted).
Exit status 0 only with 0 duplicates, 0 losses and RSS growth after day 1 within the
allowance (``--rss-allowance-mb``).

    .venv/bin/python benchmarks/bench_soak.py postgresql+psycopg://postgres@127.0.0.1:5432/postgres
    FRUEHWARN_BENCH_POSTGRES_URL=... .venv/bin/python benchmarks/bench_soak.py --posts 20000

The URL names a server and a database to connect to; the soak creates its own fresh
database next to it (``fw_soak_<random>``) and drops it afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import json  # noqa: E402

from bench_replay import build_stream  # noqa: E402
from sqlalchemy import func, insert, select, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from alerting.delivery import DeliveryStats, deliver_due  # noqa: E402
from alerting.stage import process  # noqa: E402
from alerting.subscribers import add_subscriber  # noqa: E402
from classifiers.detect import detect, group_pending  # noqa: E402
from classifiers.fake import FakeClassifier  # noqa: E402
from classifiers.pipeline import classify_pending  # noqa: E402
from config import load_settings  # noqa: E402
from storage.db import create_scratch_database, drop_scratch_database, init_db, session_scope  # noqa: E402
from storage.models import Alert, Classification, Delivery, Issue, Notice, Post, Source  # noqa: E402
from tests.alerting.servers import free_port, serve_forever  # noqa: E402

# what subscribers care about: each matches some of the stream's incidents (products/topics, regions)
INTERESTS: list[dict[str, list[str]]] = [
    {"products": ["Internet"], "topics": ["störung", "netz"]},
    {"products": ["App"], "topics": ["absturz"]},
    {"products": ["DSL"], "regions": ["München"]},
    {"topics": ["abbuchung", "rechnung"]},
    {"topics": ["störung"], "regions": ["Köln"]},
    {"topics": ["störung"], "regions": ["Hamburg"]},
]


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _count(engine: Engine, stmt: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("database_url", nargs="?", default=os.environ.get("FRUEHWARN_BENCH_POSTGRES_URL"),
                    help="postgresql+psycopg://USER@HOST:PORT/DB (or FRUEHWARN_BENCH_POSTGRES_URL)")
    ap.add_argument("--posts", type=int, default=200_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--tick", type=float, default=60.0, help="simulated seconds between stage runs")
    ap.add_argument("--subscribers", type=int, default=300)
    ap.add_argument("--fail-rate", type=float, default=0.02, help="share of webhook answers that are 429/503")
    ap.add_argument("--rss-allowance-mb", type=float, default=30.0, help="RSS growth after day 1 still counted flat")
    ap.add_argument("--keep", action="store_true", help="keep the soak database")
    args = ap.parse_args()
    if not args.database_url or not args.database_url.startswith("postgresql"):
        print("bench_soak: give a PostgreSQL URL (argument or FRUEHWARN_BENCH_POSTGRES_URL)", file=sys.stderr)
        return 2

    stream = build_stream(args.posts, args.days)
    db_url = create_scratch_database(args.database_url, "fw_soak_")
    port = free_port()
    receiver = mp.get_context("spawn").Process(target=serve_forever, args=(port, args.fail_rate), daemon=True)
    receiver.start()
    tmp = Path(tempfile.mkdtemp(prefix="fw-soak-"))
    try:
        return run(args, stream, db_url, port, tmp)
    finally:
        receiver.terminate()
        shutil.rmtree(tmp, ignore_errors=True)
        if not args.keep:
            drop_scratch_database(args.database_url, db_url)
        else:
            print(f"kept database {db_url}")


def run(args: argparse.Namespace, stream: list[dict[str, Any]], db_url: str, port: int, tmp: Path) -> int:
    settings = load_settings(
        data_dir=tmp, database_url=db_url, model={"encoder": "fake"},
        alerting={"auto_approve_min_severity": 0.0, "backoff_base": 0.05, "backoff_max": 1.0, "max_attempts": 10,
                  "channel_rates": {"webhook": 100_000.0, "team": 100_000.0}, "concurrency": 16,
                  "team_channels": [{"name": "leitstand", "url": f"json://127.0.0.1:{port}/team"}]})
    engine = init_db(settings)
    classifier = FakeClassifier()
    with session_scope(engine) as s:
        for i in range(args.subscribers):
            interest = INTERESTS[i % len(INTERESTS)]
            add_subscriber(s, name=f"Kunde {i}", channels=[("webhook", f"json://127.0.0.1:{port}/kunde/{i}")],
                           confirmed=True, **interest)
        sources = {name: Source(name=name, type="replay", url=f"replay://{name}")
                   for name in sorted({p.get("source", "replay") for p in stream})}
        s.add_all(sources.values())
        s.flush()
        source_ids = {n: int(src.id) for n, src in sources.items()}  # type: ignore[arg-type]

    posts = [(p, datetime.fromisoformat(p["published_at"].replace("Z", "+00:00")).replace(tzinfo=None))
             for p in stream]
    posts.sort(key=lambda x: x[1])
    t_start = posts[0][1].replace(hour=0, minute=0, second=0, microsecond=0)
    tick = timedelta(seconds=args.tick)
    end = t_start + timedelta(days=args.days)
    seconds: Counter[str] = Counter()
    dstats = DeliveryStats()
    grouped = 0
    samples: list[tuple[float, float]] = []  # (simulated hours, RSS MB)
    days: list[dict[str, Any]] = []
    i = 0
    now = t_start
    next_sample = t_start
    day_start_wall = time.perf_counter()
    day_start_posts = 0
    wall0 = time.perf_counter()
    while now < end or i < len(posts):
        j = i
        while j < len(posts) and posts[j][1] <= now:
            j += 1
        batch = posts[i:j]
        i = j
        t = time.perf_counter()
        if batch:
            with engine.begin() as conn:
                conn.execute(insert(Post), [
                    {"source_id": source_ids[p.get("source", "replay")], "external_id": p["id"], "text": p["text"],
                     "published_at": at, "fetched_at": at, "label": p.get("label"),
                     "author_hash": hashlib.sha256(p["author"].encode()).hexdigest()[:32] if p.get("author") else None,
                     "content_hash": hashlib.sha256(p["text"].encode()).hexdigest()} for p, at in batch])
        seconds["store"] += time.perf_counter() - t
        t = time.perf_counter()
        while classify_pending(settings, engine, classifier, limit=5000) == 5000:
            pass
        seconds["classify"] += time.perf_counter() - t
        t = time.perf_counter()
        grouped += group_pending(settings, engine, limit=10**9)
        seconds["group"] += time.perf_counter() - t
        t = time.perf_counter()
        detect(settings, engine, now=now)
        seconds["detect"] += time.perf_counter() - t
        t = time.perf_counter()
        process(settings, engine, now=now)
        seconds["alert"] += time.perf_counter() - t
        t = time.perf_counter()
        while True:
            st = deliver_due(settings, engine, "soak", limit=500)
            dstats.add(st)
            if st.claimed < 500:
                break
        seconds["deliver"] += time.perf_counter() - t
        if now >= next_sample:
            samples.append(((now - t_start).total_seconds() / 3600, rss_mb()))
            next_sample += timedelta(hours=1)
        now += tick
        if int((now - t_start) / timedelta(days=1)) > len(days) or (i >= len(posts) and now >= end):
            wall = time.perf_counter() - day_start_wall
            day_rss = [r for h, r in samples if len(days) * 24 <= h < (len(days) + 1) * 24]
            days.append({"day": len(days) + 1, "posts": i - day_start_posts, "wall": wall,
                         "rss_end": rss_mb(), "rss_max": max(day_rss or [rss_mb()])})
            day_start_wall, day_start_posts = time.perf_counter(), i
            print(f"  day {days[-1]['day']}: {days[-1]['posts']:,} posts in {wall:.0f} s, "
                  f"RSS {days[-1]['rss_end']:.0f} MB", flush=True)
            if i >= len(posts) and now >= end:
                break
    # drain what is still due (retries after injected failures)
    t = time.perf_counter()
    for _ in range(600):
        st = deliver_due(settings, engine, "soak", limit=500)
        dstats.add(st)
        if _count(engine, select(func.count()).select_from(Delivery).where(
                Delivery.status.in_(("pending", "sending")))) == 0:  # type: ignore[attr-defined]
            break
        time.sleep(0.05)
    seconds["deliver"] += time.perf_counter() - t
    wall = time.perf_counter() - wall0

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats") as r:
        recv = json.loads(r.read())
    n_posts = _count(engine, select(func.count()).select_from(Post))
    n_classified = _count(engine, select(func.count()).select_from(Classification))
    n_issues = _count(engine, select(func.count()).select_from(Issue))
    n_alerts = _count(engine, select(func.count()).select_from(Alert))
    n_notices = _count(engine, select(func.count()).select_from(Notice))
    with engine.connect() as conn:
        rows = conn.execute(select(Delivery.idempotency_key, Delivery.status, Delivery.notice_id)).all()
        double_rows = conn.execute(text(
            "SELECT count(*) FROM (SELECT notice_id, subscriber_id FROM delivery WHERE notice_id IS NOT NULL "
            "AND status = 'sent' GROUP BY notice_id, subscriber_id HAVING count(*) > 1) d")).scalar_one()
    accepted = set(recv["accepted"])
    sent_notice_rows = sum(1 for _, st, n in rows if n is not None and st == "sent")
    lost_deliveries = len({k for k, st, _ in rows if st in ("sent", "pending", "sending")} - accepted)
    dead = sum(1 for _, st, _ in rows if st == "dead")
    dup_deliveries = len(recv["duplicates"])
    lost_posts = (len(stream) - n_posts) + (n_posts - n_classified) + (n_posts - grouped)
    engine.dispose()

    base = days[0]["rss_end"] if days else float("nan")
    growth = max(d["rss_end"] for d in days[1:]) - base if len(days) > 1 else 0.0
    flat = growth <= args.rss_allowance_mb
    print(f"\nbench_soak: {len(stream):,} posts over {args.days} simulated days, tick {args.tick:.0f} s, "
          f"PostgreSQL, fake classifier, {os.cpu_count()} CPUs, receiver in its own process (fail rate "
          f"{args.fail_rate:.0%})")
    print(f"{'simulated day':>14}{'posts':>10}{'wall s':>9}{'posts/s':>9}{'RSS end MB':>12}{'RSS max MB':>12}")
    for d in days:
        rate = d["posts"] / d["wall"] if d["wall"] else 0.0
        print(f"{d['day']:>14}{d['posts']:>10,}{d['wall']:>9.0f}{rate:>9,.0f}{d['rss_end']:>12.0f}{d['rss_max']:>12.0f}")
    total = sum(seconds.values())
    table = [
        ("wall time", f"{wall:,.0f} s ({len(stream) / wall:,.0f} posts/s end to end)"),
        ("stage seconds", ", ".join(f"{k} {v:,.0f}" for k, v in seconds.items()) + f" (sum {total:,.0f})"),
        ("RSS day 1 -> max later", f"{base:.0f} MB -> {base + growth:.0f} MB (growth {growth:+.0f} MB, "
                                   f"allowance {args.rss_allowance_mb:.0f} MB: {'flat' if flat else 'GROWS'})"),
        ("issues raised", f"{n_issues}"),
        ("team alerts / customer notices", f"{n_alerts} / {n_notices}"),
        ("notice deliveries sent", f"{sent_notice_rows:,} (to {args.subscribers} subscribers)"),
        ("all deliveries sent / dead letters", f"{dstats.sent:,} / {dead}"),
        ("receiver requests / injected failures", f"{recv['requests']:,} / {recv['injected']:,}"),
        ("duplicates (key accepted twice)", f"{dup_deliveries}"),
        ("duplicates (two rows for one notice+subscriber)", f"{double_rows}"),
        ("losses: posts not stored/classified/grouped", f"{lost_posts} ({len(stream) - n_posts} / "
                                                         f"{n_posts - n_classified} / {n_posts - grouped})"),
        ("losses: deliveries never accepted", f"{lost_deliveries}"),
    ]
    width = max(len(k) for k, _ in table)
    print("-" * (width + 60))
    for k, v in table:
        print(f"{k:<{width}}  {v}")
    print("-" * (width + 60))
    ok = dup_deliveries == 0 and double_rows == 0 and lost_posts == 0 and lost_deliveries == 0 and flat
    print("result:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
