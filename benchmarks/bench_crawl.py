"""Crawl throughput and memory: 10,000 German posts on local servers, crawled for real.

    .venv/bin/python benchmarks/bench_crawl.py [--posts 10000] [--database-url URL]

Five local HTTP servers (one per platform, on 127.0.0.1 ... 127.0.0.5, like five hosts)
serve, in the documented formats, ``--posts`` posts split as: RSS 20 % (5 feeds),
Mastodon 30 % (2 hashtag timelines, 40 a page), Reddit 20 % (2 subreddits, 100 a page),
Discourse 20 % (topics of 20 posts), App Store 10 % (2 apps, 50 reviews a page). Then:

- ``first crawl``: ``crawl_once`` over every source with the default crawl settings
  (AutoThrottle, robots.txt, 2 requests per host) except ``max_pages``, in a worker
  process that crawls in-process (``crawl.subprocess: false``), so its peak RSS
  (``ru_maxrss``) is the crawl's own; posts/s = posts stored / wall time of the call.
- ``re-crawl``: the same again (conditional GET, since_id, topic keys: nothing new).
- ``scheduler mode``: one more ``crawl_once`` the way the scheduler calls it (crawl in a
  forked child), wall time only.

Prints a table; not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.crawlers.platforms import (  # noqa: E402
    appstore_pages,
    discourse_latest,
    make_reddit_post,
    make_review,
    make_rss,
    make_status,
    make_topic,
    mastodon_timeline,
    reddit_listing,
)
from tests.crawlers.server import RSS, LocalServer, Reply  # noqa: E402


def build_world(total: int) -> tuple[list[LocalServer], list[dict[str, Any]]]:
    """Start the five platform servers and return them with the source configs."""
    servers = [LocalServer(host=f"127.0.0.{i}").start() for i in range(1, 6)]
    rss, masto, reddit, disc, app = servers
    sources: list[dict[str, Any]] = []
    n_rss, n_masto, n_reddit, n_disc = (int(total * f) for f in (0.2, 0.3, 0.2, 0.2))
    n_app = total - n_rss - n_masto - n_reddit - n_disc
    per_feed = n_rss // 5
    for f in range(5):
        body = make_rss(per_feed, offset=f * per_feed)
        rss.route(f"/feed{f}.xml", Reply(body=body, content_type=RSS, headers={"ETag": f'"feed{f}"'}))
        sources.append({"name": f"rss-{f}", "type": "rss", "url": rss.url(f"/feed{f}.xml")})
    # the 304 for the re-crawl: answered when If-None-Match matches
    for f in range(5):
        body = make_rss(per_feed, offset=f * per_feed)
        etag = f'"feed{f}"'

        def feed(seen: Any, body: bytes = body, etag: str = etag) -> Reply:
            if seen.headers.get("if-none-match") == etag:
                return Reply(status=304, body=b"", headers={"ETag": etag})
            return Reply(body=body, content_type=RSS, headers={"ETag": etag})

        rss.route(f"/feed{f}.xml", feed)
    for t in range(2):
        statuses = [make_status(100_000 * (t + 1) + i, host="127.0.0.2") for i in range(n_masto // 2)]
        masto.route(f"/api/v1/timelines/tag/tag{t}", mastodon_timeline(statuses))
        sources.append({"name": f"mastodon-{t}", "type": "mastodon", "url": masto.url(f"/api/v1/timelines/tag/tag{t}")})
    for r in range(2):
        children = [make_reddit_post(200_000 * (r + 1) + i) for i in range(n_reddit // 2)]
        reddit.route(f"/r/sub{r}/new.json", reddit_listing(children))
        sources.append({"name": f"reddit-{r}", "type": "reddit", "url": reddit.url(f"/r/sub{r}"), "comments": False})
    entries = []
    for k in range(n_disc // 20):
        entry, topic = make_topic(1000 + k, 20)
        entries.append(entry)
        disc.route(f"/t/{entry['slug']}/{entry['id']}.json", Reply(body=json.dumps(topic, ensure_ascii=False)))
    disc.route("/latest.json", discourse_latest(entries))
    sources.append({"name": "discourse", "type": "discourse", "url": disc.url("/")})
    for a in range(2):
        app_id = f"99900000{a}"
        reviews = [make_review(300_000 * (a + 1) + i, app_id) for i in range(n_app // 2)]
        responder = appstore_pages(reviews)
        for page in range(1, 12):
            app.route(f"/de/rss/customerreviews/page={page}/id={app_id}/sortBy=mostRecent/json", responder)
        sources.append({"name": f"appstore-{a}", "type": "appstore",
                        "url": app.url(f"/de/rss/customerreviews/id={app_id}/sortBy=mostRecent/json")})
    return servers, sources


def worker(spec_path: str) -> None:
    """Crawl in this process (crawl.subprocess: false) twice; print timings and peak RSS as JSON."""
    from sqlmodel import Session, func, select

    from config import load_settings
    from crawlers.runner import crawl_once
    from storage.db import init_db
    from storage.models import Post

    spec = json.loads(Path(spec_path).read_text())
    settings = load_settings(**spec["settings"])
    engine = init_db(settings)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    first = crawl_once(settings, engine)
    t1 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with Session(engine) as s:
        stored = int(s.exec(select(func.count()).select_from(Post)).one())
    t2 = time.perf_counter()
    second = crawl_once(settings, engine)  # in a child: this process's reactor has run
    t3 = time.perf_counter()
    print(json.dumps({
        "first_s": t1 - t0, "stored": stored, "peak_kb": peak, "rss_before_kb": rss_before,
        "first": [s.__dict__ for s in first], "recrawl_s": t3 - t2, "second": [s.__dict__ for s in second],
    }))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--posts", type=int, default=10_000)
    ap.add_argument("--database-url", default=None, help="default: a fresh SQLite file in a temporary directory")
    args = ap.parse_args()
    servers, sources = build_world(args.posts)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = args.database_url or f"sqlite:///{tmp}/bench.db"
            spec: dict[str, Any] = {"settings": {"data_dir": tmp, "database_url": db, "sources": sources,
                                 "crawl": {"subprocess": False, "max_pages": 100}}}
            spec_path = Path(tmp) / "spec.json"
            spec_path.write_text(json.dumps(spec))
            out = subprocess.run([sys.executable, __file__, "--worker", str(spec_path)], capture_output=True,
                                 text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
            if out.returncode != 0:
                sys.exit(f"worker failed:\n{out.stderr[-4000:]}")
            res = json.loads(out.stdout.strip().splitlines()[-1])

            from config import load_settings
            from crawlers.runner import crawl_once
            from storage.db import make_engine

            settings = load_settings(**{**spec["settings"], "crawl": {"max_pages": 100}})
            engine = make_engine(db)
            t0 = time.perf_counter()
            third = crawl_once(settings, engine)
            sched_s = time.perf_counter() - t0
            engine.dispose()
    finally:
        for s in servers:
            s.stop()

    failed = [s for s in res["first"] if s["status"] != "ok"]
    requests = sum(len(s.requests) for s in servers)
    print(f"\nbench_crawl: {args.posts} posts on 5 local hosts, {len(sources)} sources, "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"{'run':<34} {'posts stored':>12} {'new':>7} {'wall s':>8} {'posts/s':>9} {'peak RSS MB':>12}")
    new1 = sum(s["new"] for s in res["first"])
    print(f"{'first crawl (in-process worker)':<34} {res['stored']:>12} {new1:>7} {res['first_s']:>8.2f} "
          f"{res['stored'] / res['first_s']:>9.0f} {res['peak_kb'] / 1024:>12.0f}")
    new2 = sum(s["new"] for s in res["second"])
    print(f"{'re-crawl (crawl process)':<34} {'':>12} {new2:>7} {res['recrawl_s']:>8.2f} {'':>9} {'':>12}")
    new3 = sum(s.new for s in third)
    print(f"{'scheduler mode (crawl process)':<34} {'':>12} {new3:>7} {sched_s:>8.2f} {'':>9} {'':>12}")
    print(f"worker RSS before crawling: {res['rss_before_kb'] / 1024:.0f} MB; HTTP requests served: {requests}")
    if failed:
        print("sources not ok:", [(s["source"], s["status"], s["error"]) for s in failed])


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(sys.argv[2])
    else:
        main()
