"""A small, complete world for the dashboard tests: sources, crawls, posts, topics, issues, notices, deliveries."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine

from storage.db import audit, session_scope
from storage.models import (
    Alert,
    Classification,
    CrawlRun,
    Delivery,
    Issue,
    IssuePost,
    Notice,
    Post,
    Source,
    Topic,
    utcnow,
)
from storage.users import create_user

PASSWORD = "geheim-123"
XSS_TEXT = "Seit heute früh kein Internet <script>alert('xss')</script> in Berlin!"
MD_TRICK = "Störung? [Hier Entschädigung holen](javascript:alert(1)) **jetzt** # Internet weg"
NOTICE_SUBJECT = "Störung: Internet in Berlin"
NOTICE_BODY = "Liebe Kundin, lieber Kunde, wir wissen von einer Störung des Internets in Berlin und arbeiten daran."


def seed(engine: Engine) -> dict[str, Any]:
    now = utcnow()
    ids: dict[str, Any] = {}
    with session_scope(engine) as s:
        for name, role in (("anna", "agent"), ("mia", "marketing"), ("chef", "admin")):
            create_user(s, name, PASSWORD, role)
        forum = Source(name="kundenforum", type="forum", url="https://forum.example.de/", last_attempt_at=now,
                       last_success_at=now - timedelta(minutes=5), last_new_post_at=now - timedelta(minutes=10))
        masto = Source(name="mastodon-de", type="mastodon", url="https://social.example.de/tags/x",
                       last_attempt_at=now, last_success_at=now, last_new_post_at=now - timedelta(minutes=3))
        reddit = Source(name="reddit-de", type="reddit", url="https://www.reddit.com/r/de_telko", last_attempt_at=now,
                        last_success_at=now - timedelta(days=1), consecutive_failures=5,
                        last_new_post_at=now - timedelta(hours=2))
        store = Source(name="appstore", type="appstore", url="https://apps.example.com/app/1",
                       last_attempt_at=now, last_success_at=now, last_new_post_at=now - timedelta(days=3),
                       created_at=now - timedelta(days=30))
        s.add_all([forum, masto, reddit, store])
        s.flush()
        ids["sources"] = {x.name: x.id for x in (forum, masto, reddit, store)}
        s.add(CrawlRun(source_id=forum.id, started_at=now - timedelta(minutes=5), finished_at=now, status="ok",
                       new_count=4))
        for k in range(3):
            s.add(CrawlRun(source_id=reddit.id, started_at=now - timedelta(minutes=10 * k + 1), status="failed",
                           error_count=1, error="HTTP 503 Service Unavailable von www.reddit.com"))
        t1 = Topic(label="störung internet berlin", keywords=["störung", "internet", "berlin"])
        t2 = Topic(label="rechnung doppelt abgebucht", keywords=["rechnung", "abbuchung", "doppelt"])
        t3 = Topic(label="app login", keywords=["app", "login", "passwort"])
        s.add_all([t1, t2, t3])
        s.flush()
        ids["topics"] = {"stoerung": t1.id, "rechnung": t2.id, "app": t3.id}

        n = 0

        def post(src: Source, text: str, at: Any, topic: Topic, sentiment: str, lang: str = "de") -> Post:
            nonlocal n
            n += 1
            p = Post(source_id=src.id, external_id=f"p{n}", url=f"https://forum.example.de/t/{n}", text=text,
                     author_hash=f"a{n % 7}", published_at=at, lang=lang,
                     content_hash=hashlib.sha256(text.encode()).hexdigest())
            s.add(p)
            s.flush()
            s.add(Classification(post_id=p.id, lang=lang, sentiment=sentiment, topic_id=topic.id, grouped=True,
                                 score_negative=1.0 if sentiment == "negative" else 0.0))
            return p

        burst = []
        for k in range(18):
            src = forum if k % 2 else masto
            burst.append(post(src, f"Internet in Berlin ist schon wieder weg, Störung Nummer {k}",
                              now - timedelta(minutes=5 + 8 * k), t1, "negative"))
        burst.append(post(forum, XSS_TEXT, now - timedelta(minutes=2), t1, "negative"))
        burst.append(post(masto, MD_TRICK, now - timedelta(minutes=1), t1, "negative"))
        ids["xss_post"] = burst[-2].id
        for day in range(30):
            for k in range(1 if day < 15 else 3):  # falling topic: fewer posts in the recent half
                post(forum, f"Rechnung doppelt abgebucht, Tag {day} Nr {k}", now - timedelta(days=day, hours=k + 1),
                     t2, "negative" if k else "neutral")
            for k in range(4 if day < 15 else 1):  # rising topic: more posts recently
                post(store, f"App Login klappt nicht, Tag {day} Nr {k}", now - timedelta(days=day, hours=k + 2),
                     t3, "negative" if k % 2 else "positive", lang="de" if k % 3 else "en")
        t1.size, t2.size, t3.size = 20, 24, 30

        issue = Issue(topic_id=t1.id, status="open", title="Störung Internet Berlin",
                      keywords=["störung", "internet", "berlin"], severity=82.0,
                      reasons="20 Beiträge in 30 Minuten (Grundrauschen 1); 100 % negativ; 2 Quellen; 7 Autor:innen",
                      post_count=20, negative_share=1.0, source_count=2, author_count=7,
                      first_post_at=now - timedelta(hours=3), first_detected_at=now - timedelta(minutes=30),
                      last_seen_at=now)
        issue2 = Issue(topic_id=t2.id, status="acknowledged", title="Rechnung doppelt abgebucht",
                       keywords=["rechnung", "doppelt"], severity=45.0, reasons="Volumen 3x über normal",
                       post_count=8, negative_share=0.7, source_count=1, author_count=4,
                       acknowledged_by="anna", acknowledged_at=now - timedelta(hours=1))
        resolved = Issue(topic_id=t3.id, status="resolved", title="Alter Vorfall App", severity=30.0)
        s.add_all([issue, issue2, resolved])
        s.flush()
        ids["issue"], ids["issue2"], ids["resolved_issue"] = issue.id, issue2.id, resolved.id
        for p in burst:
            s.add(IssuePost(issue_id=issue.id, post_id=p.id))
        draft = Notice(issue_id=issue.id, kind="incident", status="draft", subject=NOTICE_SUBJECT, body=NOTICE_BODY,
                       facts={"region": "Berlin"})
        sent = Notice(issue_id=issue2.id, kind="incident", status="queued", subject="Doppelte Abbuchung",
                      body="Wir erstatten doppelte Abbuchungen automatisch.", approved_by="anna",
                      approved_at=now - timedelta(minutes=50))
        s.add_all([draft, sent])
        s.flush()
        ids["draft"], ids["sent_notice"] = draft.id, sent.id
        alert = Alert(kind="new", issue_ids=[issue.id], dedup_key=f"issue-{issue.id}", title="Neuer Vorfall",
                      body="Störung Internet Berlin", status="sent")
        s.add(alert)
        s.flush()
        ids["alert"] = alert.id
        dead = Delivery(idempotency_key="n2-s2-sms", notice_id=sent.id, channel="sms", address="+4915112345678",
                        status="dead", attempts=6, last_status_code=400, last_error="Ungültige Nummer")
        s.add_all([
            Delivery(idempotency_key="n2-s1-email", notice_id=sent.id, subscriber_id=None, channel="email",
                     address="kunde@example.de", status="sent", attempts=1, sent_at=now),
            dead,
            Delivery(idempotency_key="n2-s3-webhook", notice_id=sent.id, channel="webhook",
                     address="https://hooks.example.de/abc", status="failed", attempts=3, last_status_code=503,
                     last_error="503 Service Unavailable"),
            Delivery(idempotency_key=f"a{alert.id}-team", alert_id=alert.id, channel="email",
                     address="team@example.de", status="sent", attempts=1, sent_at=now),
        ])
        s.flush()
        ids["dead_delivery"] = dead.id
        audit(s, "alert.sent", "alert", alert.id, channel="email")
        audit(s, "notice.approve", "notice", sent.id, actor="anna")
        audit(s, "delivery.dead", "delivery", ids["dead_delivery"], reason="400 Ungültige Nummer")
    return ids
