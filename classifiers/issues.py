"""The issue lifecycle of the detect stage (:mod:`classifiers.detect`): open, update, re-open, resolve.

``open`` -> ``acknowledged`` (a person, in the dashboard) -> ``resolved`` (automatically,
``resolved_by`` None, once volume stayed at baseline for ``resolve_after``, never sooner
than ``flap_suppression`` after opening) -> ``open`` again (same row, ``reopened_count``
+ 1) when the topic flares within ``cooldown``. When two topics merge, their issues follow
into the survivor (:func:`merge_issues`).

``states`` is the value of the ``emergence`` checkpoint: per open issue (by id, as a
string) when it last changed state and since when its volume is back at baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlmodel import Session

from classifiers.emergence import Assessment
from config import Settings
from storage.db import audit
from storage.models import Issue, IssuePost, Topic, utcnow

ACTIVE = ("open", "acknowledged")

# (database url, issue id) -> post ids linked (filled from the database on first use)
_LINKED: dict[tuple[str, int], set[int]] = {}


@dataclass
class DetectResult:
    """What one detection pass changed (issue ids)."""

    now: datetime
    opened: list[int] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)


def forget_links() -> None:
    """Drop the cache of linked posts (after a failed transaction, or when issues moved)."""
    _LINKED.clear()


def merge_issues(s: Session, absorbed: int, survivor: int) -> None:
    """Issues follow their topic into the survivor (one active issue per topic)."""
    forget_links()
    for issue in s.execute(select(Issue).where(Issue.topic_id == absorbed)).scalars():
        target = s.execute(select(Issue).where(Issue.topic_id == survivor, Issue.status.in_(ACTIVE))).scalars().first()
        if issue.status in ACTIVE and target is not None and target.id != issue.id:
            linked = set(s.execute(select(IssuePost.post_id).where(IssuePost.issue_id == target.id)).scalars())
            for pid in s.execute(select(IssuePost.post_id).where(IssuePost.issue_id == issue.id)).scalars().all():
                if pid not in linked:
                    s.add(IssuePost(issue_id=target.id, post_id=pid))
            issue.status, issue.resolved_at, issue.resolved_by = "resolved", utcnow(), "merge"
            issue.reasons = f"zusammengeführt mit Meldung #{target.id}"
            audit(s, "issue_merged", "issue", issue.id, into=target.id)
        issue.topic_id = survivor
        s.add(issue)


def link(s: Session, issue: Issue, post_ids: list[int]) -> int:
    """Link posts to an issue unless linked already; returns how many were new."""
    if not post_ids:
        return 0
    key = (s.get_bind().engine.url.render_as_string(hide_password=True), int(issue.id))  # type: ignore[arg-type]
    have = _LINKED.get(key)
    if have is None:
        have = _LINKED[key] = set(s.execute(select(IssuePost.post_id).where(IssuePost.issue_id == issue.id)).scalars())
    new = [pid for pid in post_ids if pid not in have]
    if new:
        s.add_all(IssuePost(issue_id=issue.id, post_id=pid) for pid in new)
        s.flush()
        have.update(new)
    return len(new)


def apply(issue: Issue, topic: Topic | None, a: Assessment, now: datetime) -> None:
    """Copy an assessment's figures (and the topic's label and keywords) onto the issue."""
    st = a.stats
    issue.severity = a.severity
    issue.reasons = a.reasons
    issue.negative_share = round(st.negative_share, 3)
    issue.source_count = st.sources
    issue.author_count = st.authors
    if topic is not None:
        issue.title = topic.label or issue.title
        issue.keywords = list(topic.keywords)
    if st.first_post_at and (issue.first_post_at is None or st.first_post_at < issue.first_post_at):
        issue.first_post_at = st.first_post_at
    issue.updated_at = now


def raise_issue(s: Session, settings: Settings, tid: int, a: Assessment, states: dict[str, dict[str, Any]],
                now: datetime, result: DetectResult) -> None:
    """An emerging topic without an active issue: open one, or re-open its recent one."""
    cfg = settings.emergence
    topic = s.get(Topic, tid)
    recent = s.execute(
        select(Issue).where(Issue.topic_id == tid, Issue.status == "resolved",
                            or_(Issue.resolved_by.is_(None), Issue.resolved_by != "merge"),
                            Issue.resolved_at >= now - timedelta(seconds=cfg.cooldown))
        .order_by(Issue.resolved_at.desc())
    ).scalars().first()
    if recent is not None and a.stats.window_s > cfg.window:
        # only the long window still fires: that is the resolved wave itself, not a new flare
        # (re-opening on it would flap: resolved on the short window, re-opened on the long one)
        return
    if recent is not None:
        issue = recent
        issue.status, issue.resolved_at, issue.resolved_by = "open", None, None
        issue.acknowledged_at, issue.acknowledged_by = None, None
        issue.reopened_count += 1
        action = "issue_reopened"
    else:
        issue = Issue(topic_id=tid, status="open", first_detected_at=now)
        action = "issue_opened"
    apply(issue, topic, a, now)
    s.add(issue)
    s.flush()
    issue.post_count += link(s, issue, a.stats.post_ids)
    issue.last_seen_at = a.stats.last_post_at
    (result.reopened if recent is not None else result.opened).append(issue.id)  # type: ignore[arg-type]
    states[str(issue.id)] = {"changed_at": now.isoformat(), "quiet_since": None}
    audit(s, action, "issue", issue.id, topic_id=tid, severity=issue.severity, reasons=issue.reasons)


def follow(s: Session, settings: Settings, issue: Issue, a: Assessment | None,
           states: dict[str, dict[str, Any]], now: datetime, result: DetectResult) -> None:
    """An active issue: link new posts, refresh its figures, resolve it when quiet long enough."""
    cfg = settings.emergence
    st = states.setdefault(str(issue.id), {"changed_at": issue.first_detected_at.isoformat(), "quiet_since": None})
    quiet = a is None or a.quiet
    if a is not None:
        new = link(s, issue, a.stats.post_ids)
        if new or a.emerging:
            if a.emerging or a.severity > issue.severity:
                apply(issue, s.get(Topic, issue.topic_id), a, now)
            issue.post_count += new
            if a.stats.last_post_at and (issue.last_seen_at is None or a.stats.last_post_at > issue.last_seen_at):
                issue.last_seen_at = a.stats.last_post_at
            s.add(issue)
            result.updated.append(issue.id)  # type: ignore[arg-type]
    if not quiet:
        st["quiet_since"] = None
        return
    if st.get("quiet_since") is None:
        st["quiet_since"] = now.isoformat()
    quiet_for = (now - datetime.fromisoformat(st["quiet_since"])).total_seconds()
    since_change = (now - datetime.fromisoformat(st["changed_at"])).total_seconds()
    if quiet_for >= cfg.resolve_after and since_change >= cfg.flap_suppression:
        issue.status, issue.resolved_at, issue.resolved_by = "resolved", now, None
        issue.updated_at = now
        s.add(issue)
        result.resolved.append(issue.id)  # type: ignore[arg-type]
        st["changed_at"] = now.isoformat()
        audit(s, "issue_resolved", "issue", issue.id, reason="volume back at baseline")
