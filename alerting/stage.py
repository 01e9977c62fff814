"""The alerting stage: issues -> internal alerts and customer notices -> outbox.

``process`` is idempotent and crash-safe: what it handled per issue is a Checkpoint row
(``alerting.issue.<id>``) written in the same transaction as the alerts, notices and
outbox rows it created, so a crash before the commit leaves nothing half done and a
re-run after the commit finds nothing new. Chain per pass:

  issues -> dedup (checkpoint + Alert.dedup_key) -> cooldown -> silence -> group
         -> alert rows + team deliveries (routing) ; escalation of unacknowledged alerts
         -> incident notice drafts (auto-approved where the rule allows)
         -> approved notices -> deliveries to affected subscribers ; resolved follow-ups
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_
from sqlmodel import Session, col, select

from alerting.render import draft_body, notice_subject, render_alert
from alerting.routing import recipients_of, route_alert, route_notice
from alerting.rules import active_silence, auto_approve, dedup_key, escalation_due, in_cooldown, severity_rose
from alerting.subscribers import match_issue, scope_phrase
from config import Settings
from storage.db import audit, session_scope
from storage.models import Alert, Checkpoint, Issue, Notice, Silence, Subscriber, utcnow

log = logging.getLogger(__name__)

PREFIX = "alerting.issue."
LOOKBACK = timedelta(days=7)  # resolved issues and unacknowledged alerts older than this are left alone


@dataclass
class ProcessResult:
    alerts: int = 0  # internal alerts created (grouped), escalations included
    alerts_silenced: int = 0  # alerts recorded as silenced (no delivery)
    suppressed: int = 0  # issue events held back by cooldown or dedup
    escalations: int = 0
    notices_drafted: int = 0
    notices_auto_approved: int = 0
    notices_queued: int = 0
    notices_withdrawn: int = 0  # incident drafts dropped because the issue resolved first
    deliveries_enqueued: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _issue_dict(i: Issue) -> dict[str, Any]:
    return {"id": i.id, "title": i.title or ", ".join(i.keywords[:3]) or f"Thema {i.topic_id}",
            "severity": i.severity, "post_count": i.post_count, "negative_share": i.negative_share,
            "keywords": list(i.keywords), "reasons": i.reasons, "status": i.status}


def _title(i: Issue) -> str:
    return i.title or ", ".join(i.keywords[:3]) or f"Thema {i.topic_id}"


def _silenced(silences: list[Silence], issue: Issue, now: datetime) -> object | None:
    return active_silence(silences, now, topic_id=issue.topic_id, issue_id=issue.id)


class _Pass:
    def __init__(self, settings: Settings, session: Session, now: datetime) -> None:
        self.settings, self.s, self.now = settings, session, now
        self.a = settings.alerting
        self.res = ProcessResult()
        self.silences = list(session.exec(select(Silence).where(Silence.ends_at > now, Silence.starts_at <= now)))

    # ------------------------------------------------------------------ alerts
    def create_alert(self, kind: str, issues: list[Issue], *, silenced: bool = False, minutes: int = 0,
                     key_kind: str | None = None) -> Alert | None:
        """One alert for ``issues``; None if an alert with the same dedup key exists."""
        key = dedup_key(key_kind or (kind if not silenced else f"{kind}-silenced"),
                        [(i.id or 0, i.reopened_count) for i in issues])
        if self.s.exec(select(Alert.id).where(Alert.dedup_key == key)).first() is not None:
            self.res.suppressed += len(issues)
            return None
        subject, body = render_alert(kind=kind, issues=[_issue_dict(i) for i in issues],
                                     dashboard_url=self.a.public_base_url, minutes=minutes)
        alert = Alert(kind=kind, issue_ids=[i.id for i in issues if i.id is not None], dedup_key=key, title=subject[:300], body=body,
                      status="silenced" if silenced else "pending", created_at=self.now)
        self.s.add(alert)
        self.s.flush()
        assert alert.id is not None
        channels = [] if silenced else route_alert(self.s, self.settings, alert.id, kind, self.silences, self.now)
        self.res.deliveries_enqueued += len(channels)
        if silenced:
            self.res.alerts_silenced += 1
        else:
            self.res.alerts += 1
        audit(self.s, "alert.silenced" if silenced else "alert.created", "alert", alert.id, kind=kind,
              issue_ids=alert.issue_ids, channels=channels, dedup_key=key)
        return alert

    def escalate(self) -> None:
        cutoff = self.now - timedelta(seconds=self.a.escalate_after)
        cands = self.s.exec(select(Alert).where(
            col(Alert.kind).in_(("new", "update")), col(Alert.status).in_(("pending", "sent")),
            col(Alert.acknowledged_at).is_(None), col(Alert.escalated_at).is_(None),
            Alert.created_at <= cutoff, Alert.created_at >= self.now - LOOKBACK)).all()
        to_escalate: dict[int, Issue] = {}
        sources: list[int] = []
        for alert in cands:
            if not escalation_due(alert.created_at, self.now, self.a.escalate_after,
                                  acknowledged=alert.acknowledged_at is not None, escalated=alert.escalated_at is not None):
                continue
            issues = [x for x in (self.s.get(Issue, i) for i in alert.issue_ids) if x is not None]
            still_open = [i for i in issues if i.status == "open"
                          and not _silenced(self.silences, i, self.now)]
            if not still_open:
                continue
            alert.escalated_at = self.now
            self.s.add(alert)
            sources.append(alert.id or 0)
            for i in still_open:
                to_escalate[i.id] = i  # type: ignore[index]
        if to_escalate:
            issues = sorted(to_escalate.values(), key=lambda i: i.id or 0)
            if self.create_alert("escalation", issues, minutes=int(self.a.escalate_after // 60),
                                 key_kind="escalation@" + ".".join(map(str, sorted(sources)))) is not None:
                self.res.escalations += 1

    # ------------------------------------------------------------------ notices
    def draft_incident(self, issue: Issue) -> Notice:
        _subs, named = match_issue(self.s, issue)
        facts = {"title": _title(issue), "keywords": list(issue.keywords[:8]),
                 "since": (issue.first_post_at or issue.first_detected_at).isoformat(timespec="minutes"),
                 "severity": round(issue.severity, 1), "products": named["products"], "regions": named["regions"],
                 "scope": scope_phrase(named["products"], named["regions"]),
                 "round": issue.reopened_count, "affected_subscribers": len(_subs)}
        return self._draft(issue, "incident", facts, auto=auto_approve(issue.severity, self.a.auto_approve_min_severity))

    def _draft(self, issue: Issue, kind: str, facts: dict[str, Any], *, auto: bool) -> Notice:
        assert issue.id is not None
        notice = Notice(issue_id=issue.id, kind=kind, status="draft", subject=notice_subject(kind, facts)[:300],
                        facts=facts, body=draft_body(kind, facts), created_at=self.now)
        self.s.add(notice)
        self.s.flush()
        self.res.notices_drafted += 1
        audit(self.s, "notice.drafted", "notice", notice.id, issue_id=issue.id, kind=kind)
        if auto:
            notice.status, notice.approved_by, notice.approved_at = "approved", "auto", self.now
            self.res.notices_auto_approved += 1
            audit(self.s, "notice.approved", "notice", notice.id, actor="auto",
                  rule=f"severity {issue.severity:.1f} >= {self.a.auto_approve_min_severity}")
        return notice

    def on_resolved(self, issue: Issue, st: dict[str, Any]) -> None:
        inc = self.s.get(Notice, st["notice_id"]) if st.get("notice_id") else None
        if inc is None:
            return
        if inc.status in ("queued", "done"):
            facts = {**inc.facts, "resolved_at": (issue.resolved_at or self.now).isoformat(timespec="minutes"),
                     "incident_notice_id": inc.id}
            self._draft(issue, "resolved", facts, auto=inc.approved_by == "auto")
        elif inc.status in ("draft", "approved"):
            inc.status, inc.rejected_at = "rejected", self.now
            self.s.add(inc)
            self.res.notices_withdrawn += 1
            audit(self.s, "notice.withdrawn", "notice", inc.id, reason="issue resolved before the notice went out")

    def queue_approved(self) -> None:
        for notice in self.s.exec(select(Notice).where(Notice.status == "approved").order_by(col(Notice.id))).all():
            issue = self.s.get(Issue, notice.issue_id)
            preferred = None
            if notice.kind == "resolved" and notice.facts.get("incident_notice_id"):
                preferred = recipients_of(self.s, int(notice.facts["incident_notice_id"]))
                subs = [s for s in (self.s.get(Subscriber, i) for i in preferred)
                        if s is not None and s.unsubscribed_at is None]
            elif issue is not None:
                subs = match_issue(self.s, issue)[0]
            else:
                subs = []
            n = route_notice(self.s, notice.id, subs, self.now, preferred)  # type: ignore[arg-type]
            notice.status = "queued" if n else "done"
            self.s.add(notice)
            self.res.notices_queued += 1
            self.res.deliveries_enqueued += n
            audit(self.s, "notice.queued", "notice", notice.id, actor=notice.approved_by or "system",
                  recipients=n, approved_by=notice.approved_by, edited=notice.edited)

    # ------------------------------------------------------------------ issues
    def run(self) -> ProcessResult:
        s, now = self.s, self.now
        issues = s.exec(select(Issue).where(or_(
            col(Issue.status) != "resolved", col(Issue.resolved_at) >= now - LOOKBACK,
            col(Issue.updated_at) >= now - LOOKBACK)).order_by(col(Issue.id))).all()
        states = {cp.name: dict(cp.value) for cp in
                  s.exec(select(Checkpoint).where(col(Checkpoint.name).startswith(PREFIX))).all()}
        groups: dict[str, list[Issue]] = {"new": [], "update": [], "resolved": []}
        silenced: list[Issue] = []
        touched: dict[int, dict[str, Any]] = {}
        for issue in issues:
            assert issue.id is not None
            st = states.get(f"{PREFIX}{issue.id}", {})
            before = dict(st)
            rnd = issue.reopened_count
            last = datetime.fromisoformat(st["last_alert_at"]) if st.get("last_alert_at") else None
            if issue.status != "resolved":
                if st.get("opened") != rnd:
                    st["opened"] = rnd
                    if st.get("notice_round") != rnd:
                        st["notice_round"], st["notice_id"] = rnd, self.draft_incident(issue).id
                    if in_cooldown(last, now, self.a.issue_cooldown):
                        self.res.suppressed += 1
                        audit(s, "alert.suppressed", "issue", issue.id, reason="cooldown", last_alert_at=str(last))
                    elif _silenced(self.silences, issue, now):
                        silenced.append(issue)
                        st["silenced"] = rnd
                    else:
                        groups["new"].append(issue)
                elif (st.get("silenced") == rnd and st.get("alerted") != rnd
                      and not _silenced(self.silences, issue, now) and not in_cooldown(last, now, self.a.issue_cooldown)):
                    groups["new"].append(issue)  # the silence ran out while the issue is still open: tell the team now
                elif severity_rose(st.get("severity"), issue.severity, self.a.escalate_severity_delta):
                    if in_cooldown(last, now, self.a.issue_cooldown) or _silenced(self.silences, issue, now):
                        pass  # held back; re-checked next pass against the last alerted severity
                    else:
                        groups["update"].append(issue)
            else:
                if st.get("opened") == rnd and st.get("resolved") != rnd:
                    st["resolved"] = rnd
                    self.on_resolved(issue, st)
                    if st.get("alerted") == rnd and not _silenced(self.silences, issue, now):
                        groups["resolved"].append(issue)
                elif st.get("opened") != rnd:  # opened and resolved between two passes: nothing to tell
                    st["opened"] = st["resolved"] = rnd
            if st != before:
                touched[issue.id] = st
        for kind, members in groups.items():
            key_kind = "update@" + ".".join(f"{i.severity:.0f}" for i in members) if kind == "update" else None
            if members and self.create_alert(kind, members, key_kind=key_kind) is not None:
                for i in members:
                    st = touched.setdefault(i.id, states.get(f"{PREFIX}{i.id}", {}))  # type: ignore[arg-type]
                    st.update(alerted=i.reopened_count, last_alert_at=now.isoformat(), severity=i.severity)
        if silenced:
            self.create_alert("new", silenced, silenced=True)
        for iid, st in touched.items():
            name = f"{PREFIX}{iid}"
            row = s.get(Checkpoint, name)
            if row is None:
                s.add(Checkpoint(name=name, value=st, updated_at=now))
            else:
                row.value, row.updated_at = st, now
                s.add(row)
        self.escalate()
        s.flush()
        self.queue_approved()
        return self.res


def process(settings: Settings, engine: Any, now: datetime | None = None) -> ProcessResult:
    """One alerting pass over the Issue table (see the module docstring)."""
    now = now or utcnow()
    with session_scope(engine) as session:
        res = _Pass(settings, session, now).run()
    if any(res.as_dict().values()):
        log.info("alerting pass: %s", res.as_dict())
    return res
