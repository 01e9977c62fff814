"""How fast the triage page ("Lage") renders on a large database.

Fills a fresh SQLite database (and a PostgreSQL database when FRUEHWARN_BENCH_POSTGRES_URL
names a server, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/postgres; a new database
is created there) with N posts (default 1,000,000) spread over 90 days in id order (as crawled
posts arrive) plus a burst in the last hours, generated inside the database, each classified and grouped into topics, five open issues with 500 posts each,
draft notices and an agent user. Then it times

* every query of the triage page on its own (uncached, median of 5), and
* the whole page rendered with streamlit.testing.v1.AppTest: the first render in a fresh
  process (engine + migration check), renders with the query cache cleared ("cold"), and
  renders served from the TTL cache ("warm"); median of 3 each.

Target: the triage page renders in under 2 s with 1,000,000 posts, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/bench_dashboard.py [--posts 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from storage.db import create_scratch_database, make_engine, session_scope, upgrade  # noqa: E402
from storage.models import Issue, Notice, Source, Topic, utcnow  # noqa: E402
from storage.users import create_user  # noqa: E402

APP = ROOT / "dashboard" / "app.py"
N_SOURCES, N_TOPICS, N_ISSUES, ISSUE_POSTS = 12, 60, 5, 500
SENTIMENTS = ("negative", "neutral", "positive")
WORDS = ("Störung Internet Berlin Rechnung App Login Hotline Vertrag Router WLAN langsam Abbuchung doppelt "
         "Kundenservice Warteschleife Techniker Termin Glasfaser Tarif Kündigung Mobilfunk Netz").split()


def _fill_meta(engine: Engine, now: datetime) -> None:
    """Sources, topics, issues, draft notices and the agent user, through the ORM (few rows)."""
    with session_scope(engine) as s:
        s.add_all([Source(id=k, name=f"quelle-{k}", type="rss", url=f"https://example.org/{k}", last_attempt_at=now,
                          last_success_at=now, last_new_post_at=now) for k in range(1, N_SOURCES + 1)])
        s.add_all([Topic(id=k, label=f"thema {k}", keywords=["thema", f"w{k}"]) for k in range(1, N_TOPICS + 1)])
        s.flush()
        s.add_all([Issue(id=k, topic_id=k, status="open", title=f"Vorfall {k}", keywords=["störung"],
                         severity=90 - k, reasons="Volumen 5x über normal", post_count=ISSUE_POSTS,
                         negative_share=0.9, source_count=4, author_count=40) for k in range(1, N_ISSUES + 1)])
        s.flush()
        s.add_all([Notice(issue_id=k, subject="Störung", body="Wir arbeiten daran.") for k in range(1, N_ISSUES + 1)])
        create_user(s, "bench", "bench-passwort", "agent")


def _link_issues(engine: Engine, n: int) -> None:
    with engine.begin() as conn:
        rnd = random.Random(7)
        rows = [{"issue": k, "post": pid} for k in range(1, N_ISSUES + 1)
                for pid in rnd.sample(range(max(1, n - 20_000), n + 1), ISSUE_POSTS)]
        conn.execute(text("INSERT INTO issuepost (issue_id, post_id) VALUES (:issue, :post) ON CONFLICT DO NOTHING"),
                     rows)


def _rand(dialect: str, n: int) -> str:
    """SQL for a random integer in [0, n)."""
    return f"(abs(random()) % {n})" if dialect == "sqlite" else f"floor(random() * {n})::int"


def _ago(dialect: str, seconds: str) -> str:
    """SQL for the naive UTC timestamp ``seconds`` (an SQL integer expression) ago, as SQLAlchemy stores it."""
    if dialect == "sqlite":
        return f"strftime('%Y-%m-%d %H:%M:%S', 'now', '-' || ({seconds}) || ' seconds') || '.000000'"
    return f"(now() at time zone 'utc') - ({seconds}) * interval '1 second'"


def fill(url: str, n: int) -> float:
    """Fill the database at ``url`` with n posts, generated inside the database (fast, no Python loop)."""
    engine = make_engine(url)
    upgrade(engine)
    d = engine.dialect.name
    t0 = time.perf_counter()
    _fill_meta(engine, utcnow())
    burst = max(n // 500, 50)  # the emerging issue: the newest posts, all in the last 3 hours
    r = lambda k: _rand(d, k)  # noqa: E731
    seq = ("WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < :n) SELECT i FROM seq"
           if d == "sqlite" else "SELECT i FROM generate_series(1, :n) AS i")
    # ids grow with time as in production (crawled posts arrive roughly in order), an hour of jitter
    published = (f"CASE WHEN i > :n - {burst} THEN {_ago(d, r(3 * 3600))} "
                 f"ELSE {_ago(d, f'CAST((:n - i) * {90 * 86400 / n!r} AS INTEGER) + {r(3600)}')} END")
    words = " || ' ' || ".join(f"(CASE {r(len(WORDS))} " + " ".join(
        f"WHEN {k} THEN '{w}'" for k, w in enumerate(WORDS)) + " END)" for _ in range(6))
    with engine.begin() as conn:
        if d == "sqlite":
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
        conn.execute(text(
            "INSERT INTO post (id, source_id, external_id, url, text, author_hash, published_at, fetched_at, lang, "
            f"content_hash) SELECT i, 1 + {r(N_SOURCES)}, 'e' || i, 'https://example.org/p/' || i, "
            f"{words} || ' #' || i, 'a' || {r(5000)}, pub, pub, CASE WHEN {r(100)} < 93 THEN 'de' ELSE 'en' END, "
            f"'h' || i FROM (SELECT i, {published} AS pub FROM ({seq}) AS s) AS g"), {"n": n})
        conn.execute(text(
            "INSERT INTO classification (post_id, lang, is_german, sentiment, score_negative, score_neutral, "
            "score_positive, model_version, classified_at, topic_id, grouped) "
            f"SELECT id, lang, lang = 'de', CASE WHEN id > :n - {burst} THEN 'negative' ELSE "
            f"(CASE {r(3)} WHEN 0 THEN 'negative' WHEN 1 THEN 'neutral' ELSE 'positive' END) END, "
            f"0.1, 0.1, 0.1, 'bench', fetched_at, CASE WHEN id > :n - {burst} THEN 1 ELSE 1 + {r(N_TOPICS)} END, "
            f"{'1' if d == 'sqlite' else 'true'} FROM post"), {"n": n})
    _link_issues(engine, n)
    if d == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SELECT setval('post_id_seq', (SELECT max(id) FROM post))"))
            conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return time.perf_counter() - t0


def _median(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_queries(url: str) -> list[tuple[str, float]]:
    from dashboard import data

    engine = make_engine(url)
    out = [
        ("open_issues", _median(lambda: data.open_issues.uncached(engine), 5)),  # type: ignore[attr-defined]
        ("volume_by_hour(24)", _median(lambda: data.volume_by_hour.uncached(engine, 24), 5)),  # type: ignore[attr-defined]
        ("posts_in_window(1)", _median(lambda: data.posts_in_window.uncached(engine, 1), 5)),  # type: ignore[attr-defined]
        ("issue_volume x5", _median(lambda: [data.issue_volume.uncached(engine, k, 24)  # type: ignore[attr-defined]
                                             for k in range(1, N_ISSUES + 1)], 5)),
        ("sample_posts x5", _median(lambda: [data.sample_posts.uncached(engine, k, 5)  # type: ignore[attr-defined]
                                             for k in range(1, N_ISSUES + 1)], 5)),
        ("notices_for_issue x5", _median(lambda: [data.notices_for_issue.uncached(engine, k)  # type: ignore[attr-defined]
                                                  for k in range(1, N_ISSUES + 1)], 5)),
    ]
    engine.dispose()
    return out


def time_render(url: str, data_dir: str) -> tuple[float, float, float]:
    """(first render in a fresh process, median cold render, median warm render) of the triage page."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from dashboard.auth import CurrentUser

    os.environ["FRUEHWARN_DATABASE_URL"] = url
    os.environ["FRUEHWARN_DATA_DIR"] = data_dir

    # A server discovers custom components once at start-up; AppTest does it per instance (~2 s here),
    # so one discovery is shared by every render below and kept out of the timings.
    from streamlit.components.v2.component_manager import BidiComponentManager

    components = BidiComponentManager()
    components.discover_and_register_components(start_file_watching=False)

    def render() -> float:
        at = AppTest.from_file(str(APP), default_timeout=120)
        at._bidi_component_manager = components  # noqa: SLF001 - see above
        at.session_state["fw_user"] = CurrentUser("bench", "agent")
        t0 = time.perf_counter()
        at.run()
        elapsed = time.perf_counter() - t0
        if at.exception or not at.title or at.title[0].value != "Lage" or len(at.subheader) != N_ISSUES:
            raise RuntimeError(f"triage page did not render: {at.exception}")
        return elapsed

    st.cache_data.clear()
    first = render()
    cold = []
    for _ in range(3):
        st.cache_data.clear()
        cold.append(render())
    warm = [render() for _ in range(3)]
    return first, statistics.median(cold), statistics.median(warm)


def _db_size(url: str) -> str:
    if url.startswith("sqlite"):
        return f"{Path(url.split(':///', 1)[1]).stat().st_size / 2**20:.0f} MiB"
    engine = make_engine(url)
    with engine.connect() as conn:
        size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    engine.dispose()
    return f"{size / 2**20:.0f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1_000_000, help="posts to insert (default 1,000,000)")
    parser.add_argument("--keep", type=Path, help="directory for the SQLite file (default: a temp dir, removed)")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    folder = args.keep or Path(tmp.name)
    folder.mkdir(parents=True, exist_ok=True)
    backends = [("SQLite", f"sqlite:///{folder / 'bench.db'}")]
    pg = os.environ.get("FRUEHWARN_BENCH_POSTGRES_URL")
    if pg:
        backends.append(("PostgreSQL", create_scratch_database(pg, "fw_bench_")))
    else:
        print("(PostgreSQL skipped: set FRUEHWARN_BENCH_POSTGRES_URL to include it)")
    results = []
    for name, url in backends:
        (folder / "bench.db").unlink(missing_ok=True) if name == "SQLite" else None
        print(f"{name}: filling {args.posts:,} posts ...", flush=True)
        filled = fill(url, args.posts)
        print(f"{name}: filled in {filled:.0f} s ({_db_size(url)}); timing ...", flush=True)
        queries = time_queries(url)
        render = time_render(url, str(folder))
        results.append((name, filled, queries, render))

    print(f"\nTriage page ('Lage') with {args.posts:,} posts; target: render < 2 s\n")
    names = [q for q, _ in results[0][2]]
    header = f"{'':<34}" + "".join(f"{name:>14}" for name, *_ in results)
    print(header)
    print("-" * len(header))
    print(f"{'bulk fill (s)':<34}" + "".join(f"{r[1]:>14.1f}" for r in results))
    for i, q in enumerate(names):
        print(f"{'query ' + q + ' (ms)':<34}" + "".join(f"{r[2][i][1] * 1000:>14.1f}" for r in results))
    labels = ("render, first in process (s)", "render, cache cleared (s)", "render, cached (s)")
    for i, label in enumerate(labels):
        print(f"{label:<34}" + "".join(f"{r[3][i]:>14.2f}" for r in results))
    verdict = all(r[3][1] < 2.0 and r[3][0] < 2.0 for r in results)
    print(f"\ntarget met (first and cold render < 2 s on every backend): {'yes' if verdict else 'NO'}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
