"""crawl_once as the scheduler uses it: again and again from one process, failures recorded."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from config import load_settings
from crawlers.runner import CrawlSummary, crawl_once
from crawlers.runs import fail_unfinished, select_sources, start_runs
from tests.crawlers.conftest import MakeSettings
from tests.crawlers.helpers import posts, runs, source_row
from tests.crawlers.server import RSS, LocalServer, Reply, fixture

ROOT = Path(__file__).resolve().parents[2]


def test_crawl_once_runs_again_and_again_in_one_process(srv: LocalServer, make_settings: MakeSettings,
                                                        live_engine: Engine) -> None:
    srv.route("/feed.xml", Reply(body=fixture("rss/news_rss20.xml"), content_type=RSS))
    settings = make_settings([{"name": "feed", "type": "rss", "url": srv.url("/feed.xml")}])
    results = [crawl_once(settings, live_engine) for _ in range(3)]
    assert [r[0].new for r in results] == [3, 0, 0]
    assert all(isinstance(r[0], CrawlSummary) and r[0].status == "ok" for r in results)
    assert len(runs(live_engine, "feed")) == 3
    row = source_row(live_engine, "feed")
    assert row.last_success_at is not None and row.last_new_post_at is not None


def test_source_selection() -> None:
    settings = load_settings(sources=[
        {"name": "a", "type": "rss", "url": "http://127.0.0.1:9/a"},
        {"name": "b", "type": "rss", "url": "http://127.0.0.1:9/b", "enabled": False},
    ])
    assert [s.name for s in select_sources(settings, None)] == ["a"]
    assert [s.name for s in select_sources(settings, ["a", "a"])] == ["a"]
    with pytest.raises(ValueError, match="unknown source"):
        select_sources(settings, ["c"])
    with pytest.raises(ValueError, match="disabled"):
        select_sources(settings, ["b"])


def test_no_sources_no_runs(live_engine: Engine) -> None:
    assert crawl_once(load_settings(), live_engine) == []


def test_runs_a_dead_crawl_process_left_open_are_closed_as_failed(make_settings: MakeSettings,
                                                                  live_engine: Engine) -> None:
    settings = make_settings([{"name": "a", "type": "rss", "url": "http://127.0.0.1:9/a"}])
    jobs = start_runs(live_engine, settings, settings.sources)
    assert runs(live_engine, "a")[-1].status == "running"
    fail_unfinished(live_engine, jobs, "crawl process exited with code -9", settings)
    run = runs(live_engine, "a")[-1]
    assert (run.status, run.error, run.error_count) == ("failed", "crawl process exited with code -9", 1)
    assert source_row(live_engine, "a").consecutive_failures == 1


def test_unreachable_host_fails_visibly(make_settings: MakeSettings, live_engine: Engine) -> None:
    settings = make_settings([{"name": "weg", "type": "rss", "url": "http://127.0.0.1:9/feed.xml"}],
                             obey_robots=False, retry_times=0)
    (got,) = crawl_once(settings, live_engine)
    assert got.status == "failed" and "cannot connect" in (got.error or "")


def test_in_process_mode_runs_once_then_falls_back_to_a_child(srv: LocalServer, tmp_path: Path) -> None:
    """crawl.subprocess: false crawls in the caller's process; the reactor cannot restart, so the
    second call in that process transparently uses a crawl process."""
    srv.route("/feed.xml", Reply(body=fixture("rss/news_rss20.xml"), content_type=RSS))
    script = textwrap.dedent(f"""
        from config import load_settings
        from crawlers.runner import crawl_once
        from storage.db import init_db

        def main():
            s = load_settings(data_dir={str(tmp_path)!r}, crawl={{"subprocess": False, "autothrottle": False}},
                              sources=[{{"name": "feed", "type": "rss", "url": {srv.url("/feed.xml")!r}}}])
            engine = init_db(s)
            for _ in range(2):
                (r,) = crawl_once(s, engine)
                print("RESULT", r.status, r.new, r.skipped)

        if __name__ == "__main__":
            main()
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert [line for line in out.stdout.splitlines() if line.startswith("RESULT")] == [
        "RESULT ok 3 0", "RESULT ok 0 3"]
    assert len(srv.hits("/feed.xml")) == 2


def test_posts_keep_their_source_language(srv: LocalServer, make_settings: MakeSettings, live_engine: Engine) -> None:
    srv.route("/feed.xml", Reply(body=fixture("rss/empty.xml").replace(b"<language>de</language>", b"")
                                 .replace(b"</channel>", b"<item><guid>1</guid><title>Hello</title></item></channel>"),
                                 content_type=RSS))
    crawl_once(make_settings([{"name": "f", "type": "rss", "url": srv.url("/feed.xml"), "language": "en"}]),
               live_engine)
    assert [p.lang for p in posts(live_engine)] == ["en"]


def test_source_flags_failing_and_silent() -> None:
    from datetime import datetime, timedelta

    from crawlers.runs import source_flags
    from storage.models import Source

    settings = load_settings(crawl={"failure_flag_after": 3, "silent_after": "6h"})
    now = datetime(2025, 5, 12, 12, 0)
    fresh = Source(name="a", type="rss", url="http://h/", created_at=now - timedelta(hours=1))
    assert source_flags(fresh, settings, now) == []
    quiet = Source(name="b", type="rss", url="http://h/", created_at=now - timedelta(days=3),
                   last_new_post_at=now - timedelta(hours=7))
    assert source_flags(quiet, settings, now) == ["silent"]
    never = Source(name="c", type="rss", url="http://h/", created_at=now - timedelta(hours=7),
                   consecutive_failures=3)
    assert source_flags(never, settings, now) == ["failing", "silent"]
