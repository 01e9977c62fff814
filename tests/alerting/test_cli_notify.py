"""`fruehwarn notify ...`: the test command against real receivers, and the subscriber commands."""

from __future__ import annotations

import json

from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from config import Settings
from fruehwarn.cli import app
from tests.alerting.servers import Answer, SmtpSink, WebhookReceiver, free_port


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    return {"FRUEHWARN_DATABASE_URL": settings.db_url, "FRUEHWARN_DATA_DIR": str(settings.data_dir), **extra}


def test_notify_test_webhook_ok_and_failures(settings: Settings, webhook: WebhookReceiver) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["notify", "test", webhook.url("/team")], env=_env(settings))
    assert res.exit_code == 0, res.output
    assert f"ok: sent to json://127.0.0.1:{webhook.port}/team via webhook (HTTP 200)" in res.output
    assert webhook.requests[0]["body"]["title"] == "fruehwarn: Testnachricht"
    assert webhook.requests[0]["key"].startswith("test:")
    webhook.plan["/team"] = [Answer(429, {"Retry-After": "30"}), Answer(403)]
    res = runner.invoke(app, ["notify", "test", webhook.url("/team")], env=_env(settings))
    assert res.exit_code == 1
    assert "retryable failure, rate_limited (HTTP 429), retry after 30s" in res.output
    res = runner.invoke(app, ["notify", "test", webhook.url("/team")], env=_env(settings))
    assert res.exit_code == 1 and "permanent failure, auth (HTTP 403)" in res.output
    res = runner.invoke(app, ["notify", "test", f"json://127.0.0.1:{free_port()}/x"], env=_env(settings))
    assert res.exit_code == 1 and "connect" in res.output


def test_notify_test_mail_and_bad_url(settings: Settings, smtp: SmtpSink) -> None:
    runner = CliRunner()
    env = _env(settings, FRUEHWARN_ALERTING__SMTP_PORT=str(smtp.port))
    res = runner.invoke(app, ["notify", "test", "mailto://team@example.org", "--message", "Grüße, Ärger, Öl"], env=env)
    assert res.exit_code == 0, res.output
    assert smtp.messages[0].get_body(("plain",)).get_content().strip() == "Grüße, Ärger, Öl"  # type: ignore[union-attr]
    res = runner.invoke(app, ["notify", "test", "foo://bar"], env=env)
    assert res.exit_code == 2 and "bad channel URL" in res.output
    secret = "abcdefghijklmnopqrstuvwxyz"  # Mattermost through Apprise, to a closed port on 127.0.0.1
    res = runner.invoke(app, ["notify", "test", f"mmost://127.0.0.1:{free_port()}/{secret}"], env=env)
    assert res.exit_code == 1 and "via apprise" in res.output and secret not in res.output


def test_subscribe_confirm_unsubscribe_process_deliver(settings: Settings, engine: Engine) -> None:
    runner = CliRunner()
    env = _env(settings)
    res = runner.invoke(app, ["notify", "subscribe", "Jana", "-c", "email:jana@example.org", "-p", "Mobilfunk"], env=env)
    assert res.exit_code == 0, res.output
    tokens = json.loads(res.stdout)
    res = runner.invoke(app, ["notify", "subscribe", "X", "-c", "email:kaputt", "-p", "Mobilfunk"], env=env)
    assert res.exit_code == 2 and "not a valid e-mail address" in res.output
    assert runner.invoke(app, ["notify", "confirm", tokens["opt_in_token"]], env=env).exit_code == 0
    assert runner.invoke(app, ["notify", "confirm", tokens["opt_in_token"]], env=env).exit_code == 2
    res = runner.invoke(app, ["notify", "unsubscribe", tokens["unsubscribe_token"]], env=env)
    assert res.exit_code == 0 and "unsubscribed" in res.output
    res = runner.invoke(app, ["notify", "process"], env=env)
    assert res.exit_code == 0 and json.loads(res.stdout)["alerts"] == 0
    res = runner.invoke(app, ["notify", "deliver", "--drain"], env=env)
    out = json.loads(res.stdout)  # the queued opt-in request is not sent: the subscriber left already
    assert res.exit_code == 0 and (out["claimed"], out["skipped"], out["sent"]) == (1, 1, 0)
