"""A worker killed with SIGKILL mid-delivery and restarted neither loses nor duplicates
a notice (as seen by a receiver that honours the Idempotency-Key)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import select

from alerting.stage import process
from alerting.subscribers import add_subscriber
from config import Settings
from storage.db import session_scope
from storage.models import Delivery, Notice
from tests.alerting.conftest import make_issue
from tests.alerting.servers import WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]
N = 60


def _worker(settings: Settings, worker_id: str) -> subprocess.Popen[str]:
    cfg = {"data_dir": str(settings.data_dir), "database_url": settings.db_url,
           "alerting": {"lease": 1.5, "concurrency": 4, "backoff_base": 0.1, "backoff_max": 0.5,
                        "channel_rates": {"webhook": 1000}, "webhook_timeout": 30}}
    return subprocess.Popen([sys.executable, "-m", "tests.alerting.worker_proc", json.dumps(cfg), worker_id, "10"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def _approved_notice_queued(settings: Settings, engine: Engine, receiver: WebhookReceiver) -> None:
    """N webhook subscribers, an issue, its notice approved by a person and queued."""
    with session_scope(engine) as s:
        for i in range(N):
            add_subscriber(s, name=f"Kunde {i}", channels=[("webhook", receiver.url(f"/k{i}"))],
                           products=["Mobilfunk"], confirmed=True)
    make_issue(engine)
    process(settings, engine)
    with session_scope(engine) as s:
        n = s.exec(select(Notice)).one()
        n.status, n.approved_by = "approved", "agentin"
        s.add(n)
    process(settings, engine)


def test_sigkill_mid_delivery_loses_and_duplicates_nothing(settings: Settings, engine: Engine) -> None:
    with WebhookReceiver(stall_on=25, stall_seconds=5) as receiver:
        _approved_notice_queued(settings, engine, receiver)
        with session_scope(engine) as s:
            keys = {d.idempotency_key for d in s.exec(select(Delivery).where(Delivery.notice_id.is_not(None))).all()}  # type: ignore[union-attr]
        assert len(keys) == N

        first = _worker(settings, "worker-a")
        assert receiver.stalled.wait(60), "worker never reached the stalled request"
        time.sleep(0.3)  # others of its batch are in flight or answered but not yet recorded
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        assert first.returncode == -signal.SIGKILL
        with session_scope(engine) as s:
            at_kill = {d.idempotency_key: d.status for d in s.exec(select(Delivery)).all()}
        in_flight = {k for k, v in at_kill.items() if v == "sending"}
        assert in_flight, "the kill did not happen mid-delivery"
        assert 0 < sum(v == "sent" for v in at_kill.values()) < N

        second = _worker(settings, "worker-b")
        out, _ = second.communicate(timeout=120)
        assert second.returncode == 0, out
        summary = json.loads(out.rsplit("SUMMARY ", 1)[1])
        assert summary["reclaimed"] == len(in_flight) and summary["dead"] == 0

    with session_scope(engine) as s:
        rows = s.exec(select(Delivery).where(Delivery.notice_id.is_not(None))).all()  # type: ignore[union-attr]
        assert {r.status for r in rows} == {"sent"}
    assert set(receiver.accepted) == keys  # 0 losses
    dup = receiver.duplicates()
    assert dup, "the stalled request (answered by the receiver, unknown to the dead worker) must be re-sent"
    assert set(dup) <= in_flight  # only messages whose outcome was unknown at the kill were re-sent...
    assert all(c == 2 for c in dup.values())  # ...once, with the same key: the receiver keeps one (0 duplicates)
    for k in keys - in_flight:
        assert receiver.accept_count[k] == 1  # everything recorded before the kill went exactly once


def test_two_workers_at_once_send_each_notice_once(settings: Settings, engine: Engine) -> None:
    import threading

    from alerting.delivery import DeliveryStats, deliver_due

    with WebhookReceiver() as receiver:
        _approved_notice_queued(settings, engine, receiver)
        totals = [DeliveryStats(), DeliveryStats()]
        start = threading.Barrier(2)

        def run(k: int) -> None:
            start.wait()
            while True:
                st = deliver_due(settings, engine, f"w{k}", limit=7)
                totals[k].add(st)
                if st.claimed == 0:
                    return

        threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert totals[0].sent > 0 and totals[1].sent > 0  # both took part
    assert totals[0].sent + totals[1].sent == N
    assert len(receiver.requests) == N and not receiver.duplicates()  # not even a raw duplicate
