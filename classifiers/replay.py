"""``fruehwarn replay``: the live detection path on a simulated clock, with scoring.

Posts from a JSON-lines file (``{"id", "source", "text", "published_at"}``, optional
``"author"`` and ``"label"``) are validated first (a bad line stops the replay before
anything runs, naming file, line and problem), then released into a throw-away SQLite
database in the order they were published. Every ``tick`` of simulated time the stages
run exactly as the scheduler runs them live: classification, :func:`group_pending`,
:func:`detect` with ``now=`` the simulated time. Nothing is sent: alerting is not part
of a replay.

The report lists every issue raised: ``{"issue_id", "label", "keywords",
"first_detected_at", "post_ids", "severity"}`` (label: the most common incident label of
its linked posts, null when unlabelled posts are the most common; severity: the highest
reached). The summary scores labelled incidents: detection delay after an incident's
first and tenth post, missed incidents and false alarms (issues whose label is null).
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from classifiers.base import Classifier
from classifiers.detect import detect, group_pending
from config import Settings
from storage.db import init_db, session_scope
from storage.models import Classification, Issue, IssuePost, Post, Source

log = logging.getLogger(__name__)

REQUIRED = ("id", "source", "text", "published_at")


class ReplayInputError(ValueError):
    """A line of the input file is not a valid post; the message names file and line."""


@dataclass(frozen=True)
class ReplayPost:
    id: str
    source: str
    text: str
    published_at: datetime  # naive UTC
    author: str | None = None
    label: str | None = None


@dataclass
class IncidentScore:
    label: str
    posts: int
    first_post_at: datetime
    tenth_post_at: datetime | None
    detected_at: datetime | None
    issue_ids: list[int] = field(default_factory=list)

    @property
    def delay_first_s(self) -> float | None:
        return (self.detected_at - self.first_post_at).total_seconds() if self.detected_at else None

    @property
    def delay_tenth_s(self) -> float | None:
        if self.detected_at is None or self.tenth_post_at is None:
            return None
        return (self.detected_at - self.tenth_post_at).total_seconds()


@dataclass
class ReplaySummary:
    posts: int
    ticks: int
    issues: list[dict[str, Any]]
    incidents: dict[str, IncidentScore]
    missed: list[str]
    false_alarms: list[int]
    seconds: dict[str, float]  # wall time per stage: insert, classify, group, detect

    @property
    def grouping_detection_posts_per_s(self) -> float:
        spent = self.seconds.get("group", 0.0) + self.seconds.get("detect", 0.0)
        return self.posts / spent if spent > 0 else float("inf")

    def lines(self) -> list[str]:
        """The summary as printed by the CLI."""
        n = len(self.issues)
        out = [f"{self.posts} posts, {self.ticks} ticks, {n} {'issue' if n == 1 else 'issues'} raised"]
        for issue in self.issues:
            out.append(f"  issue #{issue['issue_id']}: {issue['label'] or '(no label)'}; "
                       f"{', '.join(issue['keywords'][:5])}; severity {issue['severity']:.0f}; "
                       f"detected {issue['first_detected_at']}; {len(issue['post_ids'])} posts")
        for inc in self.incidents.values():
            if inc.detected_at is None:
                out.append(f"  incident {inc.label}: MISSED ({inc.posts} posts)")
            else:
                tenth = f"{inc.delay_tenth_s / 60:.1f} min" if inc.delay_tenth_s is not None else "-"
                out.append(f"  incident {inc.label}: detected {inc.delay_first_s / 60:.1f} min after its 1st "
                           f"and {tenth} after its 10th post")
        out.append(f"missed incidents: {len(self.missed)}"
                   + (f" ({', '.join(self.missed)})" if self.missed else ""))
        out.append(f"false alarms: {len(self.false_alarms)}"
                   + (f" (issues {', '.join(map(str, self.false_alarms))})" if self.false_alarms else ""))
        out.append(f"grouping + detection: {self.grouping_detection_posts_per_s:,.0f} posts/s "
                   f"(classification {self.seconds.get('classify', 0):.1f} s on top)")
        return out


# --------------------------------------------------------------------------- input


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("published_at must be an ISO 8601 string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def read_posts(path: Path) -> list[ReplayPost]:
    """Every post of ``path``; raise ReplayInputError naming the first bad line."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise ReplayInputError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    posts: list[ReplayPost] = []
    seen: set[str] = set()
    with handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ReplayInputError(f"{where}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise ReplayInputError(f"{where}: expected a JSON object per line")
            missing = [k for k in REQUIRED if k not in obj]
            if missing:
                raise ReplayInputError(f"{where}: missing {', '.join(missing)} (required: {', '.join(REQUIRED)})")
            for key in ("source", "text"):
                if not isinstance(obj[key], str) or not obj[key].strip():
                    raise ReplayInputError(f"{where}: {key} must be a non-empty string")
            for key in ("author", "label"):
                if obj.get(key) is not None and not isinstance(obj[key], str):
                    raise ReplayInputError(f"{where}: {key} must be a string or null")
            if not isinstance(obj["id"], str | int) or isinstance(obj["id"], bool):
                raise ReplayInputError(f"{where}: id must be a string or a number")
            try:
                published = _parse_time(obj["published_at"])
            except ValueError as exc:
                raise ReplayInputError(f"{where}: published_at {obj['published_at']!r} is not ISO 8601 ({exc})") from None
            pid = str(obj["id"])
            if pid in seen:
                raise ReplayInputError(f"{where}: id {pid!r} occurs twice")
            seen.add(pid)
            posts.append(ReplayPost(pid, obj["source"].strip(), obj["text"], published,
                                    obj.get("author"), obj.get("label") or None))
    if not posts:
        raise ReplayInputError(f"{path}: no posts in the file")
    return posts


# --------------------------------------------------------------------------- replay


def replay(posts_path: Path | str, report_path: Path | str, settings: Settings, classifier: Classifier, *,
           tick: float | None = None, progress: Callable[[int], None] | None = None,
           workdir: Path | None = None) -> ReplaySummary:
    """Replay ``posts_path`` through classification, grouping and detection; write the report.

    ``tick``: simulated seconds between stage runs (default ``scheduler.detect_interval``).
    ``progress`` is called with the number of posts released at each tick. ``workdir``
    keeps the replay database there (default: a temporary directory, removed afterwards).
    """
    posts = sorted(read_posts(Path(posts_path)), key=lambda p: p.published_at)
    tick_s = float(tick or settings.scheduler.detect_interval)
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        return _run(posts, Path(report_path), settings, classifier, tick_s, progress, Path(workdir))
    with tempfile.TemporaryDirectory(prefix="fruehwarn-replay-") as tmp:
        return _run(posts, Path(report_path), settings, classifier, tick_s, progress, Path(tmp))


def _run(posts: list[ReplayPost], report_path: Path, settings: Settings, classifier: Classifier, tick_s: float,
         progress: Callable[[int], None] | None, tmp: Path) -> ReplaySummary:
    db = tmp / "replay.db"
    db.unlink(missing_ok=True)
    rs = settings.model_copy(update={"database_url": f"sqlite:///{db}", "data_dir": tmp})
    engine = init_db(rs)
    try:
        source_ids = create_sources(engine, {p.source for p in posts})
        seconds = {"insert": 0.0, "classify": 0.0, "group": 0.0, "detect": 0.0}
        max_severity: dict[int, float] = {}
        cfg = rs.emergence
        t0 = posts[0].published_at
        now = t0
        i = ticks = 0
        active = False
        tail_end = posts[-1].published_at + timedelta(seconds=cfg.resolve_after + cfg.window + 2 * tick_s)
        while i < len(posts) or (active and now <= tail_end):
            if not active and i < len(posts) and posts[i].published_at > now:
                # nothing is open and nothing arrives before the next post: jump to its tick
                steps = int((posts[i].published_at - now).total_seconds() // tick_s)
                now += timedelta(seconds=steps * tick_s)
                if posts[i].published_at > now:
                    now += timedelta(seconds=tick_s)
            j = i
            while j < len(posts) and posts[j].published_at <= now:
                j += 1
            batch = posts[i:j]
            i = j
            if batch:
                t = time.perf_counter()
                store_posts(engine, batch, source_ids)
                seconds["insert"] += time.perf_counter() - t
                t = time.perf_counter()
                classify_new(rs, engine, classifier)
                seconds["classify"] += time.perf_counter() - t
                t = time.perf_counter()
                group_pending(rs, engine, limit=10**9)
                seconds["group"] += time.perf_counter() - t
            t = time.perf_counter()
            res = detect(rs, engine, now=now)
            seconds["detect"] += time.perf_counter() - t
            ticks += 1
            changed = res.opened + res.reopened + res.updated
            if changed:
                with session_scope(engine) as s:
                    for iid, sev in s.execute(select(Issue.id, Issue.severity).where(Issue.id.in_(changed))).all():
                        max_severity[iid] = max(max_severity.get(iid, 0.0), sev)
            if res.opened or res.reopened:
                active = True
            elif res.resolved:
                active = _any_active(engine)
            if progress and batch:
                progress(len(batch))
            now += timedelta(seconds=tick_s)
        issues = _report(engine, max_severity)
    finally:
        engine.dispose()
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(issues, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    incidents = _score(posts, issues)
    return ReplaySummary(
        posts=len(posts), ticks=ticks, issues=issues, incidents=incidents,
        missed=[k for k, v in incidents.items() if v.detected_at is None],
        false_alarms=[i["issue_id"] for i in issues if i["label"] is None], seconds=seconds)


def create_sources(engine: Engine, names: set[str]) -> dict[str, int]:
    with session_scope(engine) as s:
        rows = {n: Source(name=n[:100], type="replay", url=f"replay://{n}"[:2000]) for n in sorted(names)}
        s.add_all(rows.values())
        s.flush()
        return {n: int(r.id) for n, r in rows.items()}  # type: ignore[arg-type]


def store_posts(engine: Engine, batch: list[ReplayPost], source_ids: dict[str, int]) -> None:
    with session_scope(engine) as s:
        s.add_all(Post(
            source_id=source_ids[p.source], external_id=p.id, text=p.text, published_at=p.published_at,
            fetched_at=p.published_at, author_hash=_author_key(p.author), label=p.label, lang=None,
            content_hash=hashlib.sha256(p.text.encode()).hexdigest()) for p in batch)


def _author_key(author: str | None) -> str | None:
    return hashlib.sha256(author.encode()).hexdigest()[:32] if author else None


def classify_new(settings: Settings, engine: Engine, classifier: Classifier) -> None:
    """The classification stage: the live one when it exists, else a minimal equivalent."""
    try:
        from classifiers.pipeline import classify_pending
    except ImportError:
        classify_pending = None
    if classify_pending is not None:
        while classify_pending(settings, engine, classifier, limit=5000) == 5000:
            pass
        return
    with session_scope(engine) as s:
        rows = s.execute(select(Post.id, Post.text).outerjoin(Classification, Classification.post_id == Post.id)
                         .where(Classification.post_id.is_(None)).order_by(Post.id)).all()
        if not rows:
            return
        preds = classifier.classify([text for _, text in rows])
        s.add_all(Classification(
            post_id=pid, lang=p.lang, is_german=p.is_german, sentiment=p.sentiment,
            score_negative=p.scores.get("negative", 0.0), score_neutral=p.scores.get("neutral", 0.0),
            score_positive=p.scores.get("positive", 0.0), model_version=classifier.version,
            embedding=None if p.embedding is None else np.asarray(p.embedding, dtype=np.float16).tobytes())
            for (pid, _), p in zip(rows, preds, strict=True))


def _any_active(engine: Engine) -> bool:
    with session_scope(engine) as s:
        return bool(s.execute(select(func.count()).select_from(Issue)
                              .where(Issue.status.in_(("open", "acknowledged")))).scalar_one())


def _report(engine: Engine, max_severity: dict[int, float]) -> list[dict[str, Any]]:
    out = []
    with session_scope(engine) as s:
        for issue in s.execute(select(Issue).order_by(Issue.first_detected_at, Issue.id)).scalars():
            linked = s.execute(select(Post.external_id, Post.label, Post.published_at)
                               .join(IssuePost, IssuePost.post_id == Post.id)
                               .where(IssuePost.issue_id == issue.id).order_by(Post.published_at, Post.id)).all()
            if issue.resolved_by == "merge" and not linked:
                continue
            labels = Counter(label for _, label, _ in linked)
            label = labels.most_common(1)[0][0] if labels else None
            out.append({
                "issue_id": issue.id, "label": label, "keywords": list(issue.keywords),
                "first_detected_at": issue.first_detected_at.isoformat(),
                "post_ids": [ext for ext, _, _ in linked],
                "severity": max(max_severity.get(issue.id, 0.0), issue.severity),
                "title": issue.title, "reasons": issue.reasons, "status": issue.status,
                "reopened_count": issue.reopened_count,
                "first_post_at": issue.first_post_at.isoformat() if issue.first_post_at else None,
                "resolved_at": issue.resolved_at.isoformat() if issue.resolved_at else None,
            })
    return out


def _score(posts: list[ReplayPost], issues: list[dict[str, Any]]) -> dict[str, IncidentScore]:
    by_label: dict[str, list[ReplayPost]] = {}
    for p in posts:
        if p.label:
            by_label.setdefault(p.label, []).append(p)
    out = {}
    for label, items in sorted(by_label.items()):
        hits = [i for i in issues if i["label"] == label]
        detected = min((datetime.fromisoformat(i["first_detected_at"]) for i in hits), default=None)
        out[label] = IncidentScore(
            label=label, posts=len(items), first_post_at=items[0].published_at,
            tenth_post_at=items[9].published_at if len(items) >= 10 else None,
            detected_at=detected, issue_ids=[i["issue_id"] for i in hits])
    return out
