import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from config import Settings, load_settings
from fruehwarn.cli import app
from fruehwarn.ops import doctor, metrics_registry, start_metrics_server
from storage.models import (
    AuditLog,
    Classification,
    Delivery,
    Post,
    Source,
    Subscriber,
    SubscriberChannel,
    utcnow,
)

runner = CliRunner()


def _seed(engine: Engine) -> int:
    with Session(engine) as s:
        src = Source(name="forum", type="discourse", url="http://127.0.0.1/forum",
                     last_success_at=utcnow() - timedelta(seconds=90), consecutive_failures=2)
        s.add(src)
        s.flush()
        for i in range(3):
            s.add(Post(source_id=src.id, external_id=str(i), text="Kein Netz", published_at=utcnow(),
                       content_hash=str(i)))
        s.flush()
        s.add(Classification(post_id=1, lang="de"))
        sub = Subscriber(name="Jana Petersen", opt_in_confirmed_at=utcnow(), unsubscribe_token="t")
        s.add(sub)
        s.flush()
        s.add(SubscriberChannel(subscriber_id=sub.id, channel="email", address="jana@kunden.example"))
        s.add(Delivery(idempotency_key="n1:1:email", subscriber_id=sub.id, channel="email",
                       address="jana@kunden.example", status="dead"))
        s.add(Delivery(idempotency_key="a1:team", channel="webhook", address="json://x", status="pending"))
        s.commit()
        return int(sub.id)  # type: ignore[arg-type]


def test_metrics_read_the_database(engine: Engine) -> None:
    _seed(engine)
    reg = metrics_registry(engine)
    val = reg.get_sample_value
    assert 85 < val("fruehwarn_source_crawl_lag_seconds", {"source": "forum"}) < 200
    assert val("fruehwarn_source_consecutive_failures", {"source": "forum"}) == 2
    assert val("fruehwarn_queue_size", {"stage": "classify"}) == 2
    assert val("fruehwarn_queue_size", {"stage": "group"}) == 1
    assert val("fruehwarn_delivery_failures_total") == 1
    assert val("fruehwarn_deliveries", {"status": "pending"}) == 1


def test_metrics_endpoint_serves_prometheus_text(settings: Settings, engine: Engine) -> None:
    import socket

    _seed(engine)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    s = settings.model_copy(update={"ops": settings.ops.model_copy(update={"metrics_port": port})})
    server = start_metrics_server(s, engine)
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        server.shutdown()
    assert 'fruehwarn_source_consecutive_failures{source="forum"} 2.0' in body
    assert "jana@kunden.example" not in body


def test_doctor_names_each_problem_in_one_line(tmp_path: Path) -> None:
    s = load_settings(data_dir=tmp_path, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none",
                      model={"encoder": "fake"},
                      alerting={"team_channels": [{"name": "kaputt", "url": "nosuchscheme://x"}]})
    checks = {c.name: c for c in doctor(s)}
    assert not checks["secret"].ok
    assert not checks["database"].ok and "127.0.0.1" in checks["database"].message
    assert not checks["channel kaputt"].ok
    assert all("\n" not in c.message for c in checks.values())


def test_subscriber_export_and_forget(settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch,
                                      tmp_path: Path) -> None:
    sid = _seed(engine)
    monkeypatch.setenv("FRUEHWARN_DATABASE_URL", settings.db_url)
    monkeypatch.setenv("FRUEHWARN_DATA_DIR", str(settings.data_dir))
    out = tmp_path / "export.json"
    r = runner.invoke(app, ["subscriber", "export", str(sid), "--out", str(out)])
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["subscriber"]["name"] == "Jana Petersen"
    assert data["channels"][0]["address"] == "jana@kunden.example"
    assert data["deliveries"][0]["status"] == "dead"

    r = runner.invoke(app, ["subscriber", "forget", str(sid)])
    assert r.exit_code == 0, r.output
    with Session(engine) as s:
        assert s.get(Subscriber, sid) is None
        assert not s.exec(select(SubscriberChannel)).all()
        assert all("jana" not in d.address for d in s.exec(select(Delivery)).all())
        assert s.exec(select(AuditLog).where(AuditLog.action == "subscriber.forget")).one().entity_id == sid
    r = runner.invoke(app, ["subscriber", "forget", str(sid)])
    assert r.exit_code == 2
