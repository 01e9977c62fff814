"""Crawl bookkeeping: a CrawlRun row per source and crawl, Source health, flags.

The parent process opens the runs (:func:`start_runs`), each spider closes its own
(:func:`finish_run`) as soon as it ends, and the parent closes whatever a crashed or
killed child left open (:func:`fail_unfinished`). So every crawl leaves a row with a
status, counts and an error, never nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from config import Settings, SourceConfig
from storage.db import audit, session_scope, sync_sources
from storage.models import CrawlRun, Source, utcnow

log = logging.getLogger("fruehwarn.crawl")

STATUSES = ("ok", "partial", "failed")


@dataclass
class CrawlJob:
    """One source to crawl once: what a spider needs besides the settings."""

    source: SourceConfig
    source_id: int
    run_id: int
    cursor: dict[str, Any] = field(default_factory=dict)


@dataclass
class SourceResult:
    """How one source's crawl ended (written to its CrawlRun row)."""

    status: str  # ok | partial | failed
    new: int = 0
    updated: int = 0
    skipped: int = 0
    errors: int = 0
    error: str | None = None
    cursor: dict[str, Any] | None = None  # None: keep the old cursor (a request failed)
    stats: dict[str, Any] = field(default_factory=dict)


def select_sources(settings: Settings, names: list[str] | None) -> list[SourceConfig]:
    """The sources to crawl: every enabled one, or the named ones (which must exist and be enabled)."""
    if names is None:
        return [s for s in settings.sources if s.enabled]
    by_name = {s.name: s for s in settings.sources}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        known = ", ".join(sorted(by_name)) or "none configured"
        raise ValueError(f"unknown source(s): {', '.join(unknown)} (known: {known})")
    disabled = [n for n in names if not by_name[n].enabled]
    if disabled:
        raise ValueError(f"source(s) disabled in the config: {', '.join(disabled)}")
    return [by_name[n] for n in dict.fromkeys(names)]


def start_runs(engine: Engine, settings: Settings, sources: list[SourceConfig]) -> list[CrawlJob]:
    """Sync Source rows from the config and open a 'running' CrawlRun for each source."""
    for attempt in (1, 2):
        try:
            with session_scope(engine) as s:
                rows = sync_sources(s, settings)
                now = utcnow()
                jobs: list[CrawlJob] = []
                for cfg in sources:
                    row = rows[cfg.name]
                    run = CrawlRun(source_id=row.id, started_at=now, status="running")  # type: ignore[arg-type]
                    row.last_attempt_at = now
                    s.add(run)
                    s.add(row)
                    s.flush()
                    assert row.id is not None and run.id is not None
                    jobs.append(CrawlJob(source=cfg, source_id=row.id, run_id=run.id, cursor=dict(row.cursor or {})))
            return jobs
        except IntegrityError:
            # two crawls (scheduler threads) created the same new Source row at once: the retry sees it
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def finish_run(engine: Engine, job: CrawlJob, result: SourceResult, settings: Settings) -> None:
    """Close a run: counts, status, error; the source's cursor, health counters and flags."""
    with session_scope(engine) as s:
        run = s.get(CrawlRun, job.run_id)
        src = s.get(Source, job.source_id)
        if run is None or src is None or run.status != "running":
            return  # closed already (idempotent)
        now = utcnow()
        run.status = result.status
        run.finished_at = now
        run.new_count, run.updated_count = result.new, result.updated
        run.skipped_count, run.error_count = result.skipped, result.errors
        run.error = result.error
        if result.status == "failed":
            src.consecutive_failures += 1
        else:
            src.consecutive_failures = 0
            src.last_success_at = now
        if result.cursor is not None and result.status != "failed":
            src.cursor = dict(result.cursor)
        if result.new:
            src.last_new_post_at = now
        flags = source_flags(src, settings, now)
        run.stats = {**result.stats, "flags": flags}
        _note_flag_changes(s, src, run, flags)
        s.add(run)
        s.add(src)
    level = logging.WARNING if result.status != "ok" else logging.INFO
    log.log(level, "crawl %s: %s (new %d, updated %d, skipped %d, errors %d)%s", job.source.name,
            result.status, result.new, result.updated, result.skipped, result.errors,
            f": {result.error}" if result.error else "")


def fail_unfinished(engine: Engine, jobs: list[CrawlJob], message: str, settings: Settings) -> None:
    """Mark runs a child process left 'running' as failed, with ``message``."""
    with session_scope(engine) as s:
        open_ids = set(s.exec(select(CrawlRun.id).where(
            col(CrawlRun.id).in_([j.run_id for j in jobs]), CrawlRun.status == "running")).all())
    for job in jobs:
        if job.run_id in open_ids:
            finish_run(engine, job, SourceResult(status="failed", errors=1, error=message,
                                                 stats={"fruehwarn/errors/crawler_process": 1}), settings)


def source_flags(src: Source, settings: Settings, now: datetime) -> list[str]:
    """Why a source needs a look: 'failing' (repeated failed crawls), 'silent' (no new post for long)."""
    flags: list[str] = []
    if src.consecutive_failures >= settings.crawl.failure_flag_after:
        flags.append("failing")
    since = src.last_new_post_at or src.created_at
    if since is not None and now - since > timedelta(seconds=settings.crawl.silent_after):
        flags.append("silent")
    return flags


def _note_flag_changes(s: Session, src: Source, run: CrawlRun, flags: list[str]) -> None:
    prev = s.exec(select(CrawlRun).where(CrawlRun.source_id == src.id, CrawlRun.id != run.id,
                                         CrawlRun.status != "running")
                  .order_by(col(CrawlRun.id).desc()).limit(1)).first()
    before = set((prev.stats or {}).get("flags", [])) if prev is not None else set()
    for flag in flags:
        if flag not in before:
            detail = (f"{src.consecutive_failures} failed crawls in a row" if flag == "failing"
                      else f"no new post since {src.last_new_post_at or 'the start'}")
            log.warning("source %s flagged %s: %s", src.name, flag, detail)
            audit(s, "source_flagged", "source", src.id, flag=flag, detail=detail, run_id=run.id)
    for flag in before - set(flags):
        audit(s, "source_recovered", "source", src.id, flag=flag, run_id=run.id)
