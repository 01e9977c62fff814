"""The embedded demo end to end: real crawlers against the demo platforms, the pipeline,
real SMTP and webhook sinks. The fake encoder keeps it fast; the story is started with a
head start so the outage has already been posted."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from sqlmodel import select

from config import load_settings
from fruehwarn.demo import start_demo
from fruehwarn.demo_story import INCIDENT
from fruehwarn.ops import configure_logging
from fruehwarn.scheduler import Pipeline, default_stages
from storage.db import session_scope
from storage.models import Issue, IssuePost, Notice, Post


@pytest.fixture
def demo(tmp_path: Path):  # noqa: ANN201
    base = load_settings(data_dir=tmp_path / "data", model={"encoder": "fake"})
    run = start_demo(base, dashboard=False, head_start=120)
    yield run
    run.stop()


def test_outage_becomes_issue_and_notices_land_in_sinks(demo, caplog) -> None:  # noqa: ANN001
    configure_logging(demo.settings)  # as every fruehwarn command does
    caplog.set_level(logging.DEBUG)
    pipeline = Pipeline(demo.settings, demo.engine, default_stages(demo.settings))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        pipeline.run_all_once()
        c = demo.counts()
        if c["issues"] and c["mails"] and any(h["hook"] == "kunden" for h in demo.world.hooks()):
            break
    failures = {n: st.last_error for n, st in pipeline.stats.items() if st.failures}
    assert not failures, failures

    with session_scope(demo.engine) as s:
        issues = s.exec(select(Issue)).all()
        assert issues, "the outage did not become an issue"
        # every issue is about the outage (its network or its app symptom), none about the chatter
        for issue in issues:
            texts = s.exec(select(Post.text).join(IssuePost, IssuePost.post_id == Post.id)
                           .where(IssuePost.issue_id == issue.id)).all()
            on_topic = sum(any(w in t for w in ("Netz", "Störung", "stürzt")) for t in texts)
            assert on_topic >= 0.8 * len(texts), (issue.title, texts)
        notices = s.exec(select(Notice)).all()
        assert notices and notices[0].status in {"approved", "queued", "done"}
        assert s.exec(select(Post).where(Post.label == INCIDENT)).first() is None  # labels never leak into crawls

    subjects = [m["subject"] for m in demo.smtp.messages()]
    assert any("Störung" in (sub or "") for sub in subjects), subjects
    hooks = demo.world.hooks()
    assert any(h["hook"] == "team" for h in hooks), "no team alert reached the webhook sink"
    customer = [h for h in hooks if h["hook"] == "kunden"]
    assert customer, "no customer notice reached the subscriber's webhook"
    assert len({h["idempotency_key"] for h in customer}) == len(customer), "a notice was delivered twice"

    # no personal data in the logs: no subscriber address, phone number or author handle
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records, "nothing was logged at all: the check below would prove nothing"
    secrets = ["jana.petersen@kunden.example", "sophie.wagner@kunden.example", "+4915100000001", "/hooks/kunden"]
    secrets += sorted({p.author for p in demo.world.story})
    leaked = [x for x in secrets if x in logged]
    assert not leaked, f"personal data in the logs: {leaked}"
