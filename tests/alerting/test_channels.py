"""Channels against real receivers on 127.0.0.1: webhook (200/429/500/401/timeout) and SMTP."""

from __future__ import annotations

import pytest

from alerting.channels import AppriseChannel, EmailChannel, Message, WebhookChannel, channel_for_url
from alerting.channels.base import mask_url, parse_retry_after
from alerting.errors import ChannelConfigError, MissingSecretError, UnknownSchemeError
from config import load_settings
from tests.alerting.servers import Answer, SmtpSink, WebhookReceiver, free_port

MSG = Message(subject="Störung bei Mobilfunk", text="Grüße aus Köln: Überlastung behoben – äöüß€",
              idempotency_key="notice:1:sub:2:ch:3", data={"notice_id": 1})


def test_url_forms_pick_the_right_class() -> None:
    assert isinstance(channel_for_url("json://127.0.0.1:9/hook"), WebhookChannel)
    assert isinstance(channel_for_url("https://example.org/hook"), WebhookChannel)
    assert isinstance(channel_for_url("mailto://team@example.org"), EmailChannel)
    assert isinstance(channel_for_url("smtp://127.0.0.1:2525/?to=a@example.org,b@example.org"), EmailChannel)
    assert channel_for_url("smtp://127.0.0.1:2525/?to=a@example.org,b@example.org").recipients == [  # type: ignore[attr-defined]
        "a@example.org", "b@example.org"]
    assert isinstance(channel_for_url("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"), AppriseChannel)
    assert isinstance(channel_for_url("mmost://127.0.0.1:8065/abcdefghijklmnopqrstuvwx"), AppriseChannel)
    teams = "workflows://prod-01.westeurope.logic.azure.com/abcdef0123456789abcdef/SiGnAtUrE0123456789abcdefgh"
    assert isinstance(channel_for_url(teams), AppriseChannel)  # Microsoft Teams (Power Automate workflow)
    assert isinstance(channel_for_url("tgram://123456789:abcdefg_hijklmnop/12345"), AppriseChannel)
    json_hook = channel_for_url("json://127.0.0.1:9/hook")
    assert json_hook.target == "http://127.0.0.1:9/hook"  # type: ignore[attr-defined]


@pytest.mark.parametrize("url, error", [
    ("", ChannelConfigError), ("nonsense", UnknownSchemeError), ("foo://bar", UnknownSchemeError),
    ("mailto://", ChannelConfigError), ("mailto://not-an-address", ChannelConfigError),
    ("json:///nohost", ChannelConfigError), ("smtp://127.0.0.1:25/", ChannelConfigError),
    ("slack://", ChannelConfigError),
])
def test_bad_urls_fail_on_construction_with_a_reason(url: str, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        channel_for_url(url)
    assert info.value.reason  # type: ignore[attr-defined]


def test_secrets_are_masked_and_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "TIiajkdnlazkcOXrIdevi7FQ"
    ch = channel_for_url(f"slack://T1JJ3T3L2/A1BRTD4JD/{secret}")
    assert secret not in repr(ch) and secret not in ch.masked_url
    hook = channel_for_url("https://hooks.example.org/services/T0001/B0001/abcdef1234567890?token=s3cr3tvalue")
    assert "abcdef1234567890" not in hook.masked_url and "s3cr3tvalue" not in hook.masked_url
    assert "user:****@" in mask_url("smtp://user:pa55word@mail.example.org:587/?to=a@b.de")
    with pytest.raises(MissingSecretError):
        channel_for_url("json://127.0.0.1:9/${FW_TEST_HOOK_TOKEN}")
    monkeypatch.setenv("FW_TEST_HOOK_TOKEN", "tok3n-from-env")
    ch2 = channel_for_url("json://127.0.0.1:9/${FW_TEST_HOOK_TOKEN}")
    assert ch2.target.endswith("/tok3n-from-env")  # type: ignore[attr-defined]
    mail = channel_for_url("mailto://a@example.org", load_settings(alerting={"smtp_user": "u", "smtp_password": "hunter22"}))
    assert "hunter22" not in repr(mail) and "u:****@" in mail.masked_url


def test_webhook_200_sends_json_and_idempotency_key(webhook: WebhookReceiver) -> None:
    res = channel_for_url(webhook.url("/hook")).send(MSG)
    assert res.ok and res.status_code == 200
    req = webhook.requests[0]
    assert req["key"] == "notice:1:sub:2:ch:3"
    assert req["body"]["text"] == MSG.text and req["body"]["title"] == MSG.subject  # umlauts intact
    assert req["body"]["message"] == MSG.text and req["body"]["data"] == {"notice_id": 1}


def test_webhook_429_is_retryable_with_retry_after(webhook: WebhookReceiver) -> None:
    webhook.plan["/hook"] = [Answer(429, {"Retry-After": "7"})]
    res = channel_for_url(webhook.url()).send(MSG)
    assert not res.ok and res.retryable and res.reason == "rate_limited" and res.retry_after == 7.0


def test_webhook_500_retryable_401_and_404_permanent(webhook: WebhookReceiver) -> None:
    webhook.plan["/hook"] = [Answer(500), Answer(401), Answer(404)]
    ch = channel_for_url(webhook.url())
    r500, r401, r404 = ch.send(MSG), ch.send(MSG), ch.send(MSG)
    assert (r500.retryable, r500.reason, r500.status_code) == (True, "server_error", 500)
    assert (r401.retryable, r401.reason) == (False, "auth")
    assert (r404.retryable, r404.reason) == (False, "rejected")


def test_webhook_timeout_and_refused_connection_are_retryable(webhook: WebhookReceiver) -> None:
    webhook.plan["/hook"] = [Answer(200, stall=1.5)]
    res = WebhookChannel(webhook.url(), timeout=0.3).send(MSG)
    assert not res.ok and res.retryable and res.reason == "timeout"
    refused = WebhookChannel(f"json://127.0.0.1:{free_port()}/hook", timeout=1).send(MSG)
    assert not refused.ok and refused.retryable and refused.reason == "connect"


def test_retry_after_http_date() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert parse_retry_after("soon") is None and parse_retry_after("120") == 120.0


def _smtp_settings(sink: SmtpSink):  # type: ignore[no-untyped-def]
    return load_settings(alerting={"smtp_host": "127.0.0.1", "smtp_port": sink.port, "smtp_timeout": 5,
                                   "mail_from": "Früwarn Service <service@example.org>"})


def test_smtp_delivers_umlauts_and_long_text_with_html(smtp: SmtpSink) -> None:
    long_text = ("Sehr geehrte Kundin, sehr geehrter Kunde, die Störung im Großraum Köln/Düsseldorf ist "
                 "uns bekannt. ") * 400 + "Ende äöüßÄÖÜ€"
    msg = Message(subject="Störung: Überlastung in Köln – wir arbeiten daran", text=long_text,
                  html="<p>Grüße – <b>Überlastung</b></p>", idempotency_key="notice:9:sub:1:ch:1",
                  headers={"List-Unsubscribe": "<http://127.0.0.1:8501/unsubscribe?token=abc>"})
    res = channel_for_url("mailto://kunde.müller@example.org".replace("ü", "ue"), _smtp_settings(smtp)).send(msg)
    assert res.ok, res
    assert len(smtp.messages) == 1
    got = smtp.messages[0]
    assert got["Subject"] == msg.subject
    assert got["List-Unsubscribe"] == "<http://127.0.0.1:8501/unsubscribe?token=abc>"
    assert got["Message-ID"].startswith("<notice:9:sub:1:ch:1@") or "notice.9.sub.1.ch.1" in got["Message-ID"]
    text = got.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = got.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert text.strip() == long_text and len(text.strip()) > 30_000
    assert "Überlastung" in html
    assert smtp.envelopes[0][1] == ["kunde.mueller@example.org"]


def test_smtp_refused_recipient_is_permanent_and_451_retryable(smtp: SmtpSink) -> None:
    smtp.refuse.add("gone@example.org")
    res = channel_for_url("mailto://gone@example.org", _smtp_settings(smtp)).send(MSG)
    assert (res.ok, res.retryable, res.reason, res.status_code) == (False, False, "bad_address", 550)
    smtp.temp_fail = 1
    res2 = channel_for_url(f"smtp://127.0.0.1:{smtp.port}/?to=ok@example.org").send(MSG)
    assert (res2.ok, res2.retryable, res2.status_code) == (False, True, 451)
    res3 = channel_for_url(f"smtp://127.0.0.1:{smtp.port}/?to=ok@example.org").send(MSG)
    assert res3.ok and len(smtp.messages) == 1


def test_smtp_server_down_is_retryable() -> None:
    res = channel_for_url(f"smtp://127.0.0.1:{free_port()}/?to=a@example.org").send(MSG)
    assert not res.ok and res.retryable and res.reason == "connect"


def test_non_ascii_key_and_multiline_subject_still_send(webhook: WebhookReceiver, smtp: SmtpSink) -> None:
    msg = Message(subject="Zeile eins\nZeile zwei", text="Text", idempotency_key="alert:1:team:Störungs-Team (Köln)")
    first, again = channel_for_url(webhook.url()).send(msg), channel_for_url(webhook.url()).send(msg)
    assert first.ok and again.ok
    assert webhook.requests[0]["key"] == webhook.requests[1]["key"] == "alert:1:team:St%C3%B6rungs-Team%20(K%C3%B6ln)"
    res = channel_for_url(f"smtp://127.0.0.1:{smtp.port}/?to=a@example.org").send(msg)
    assert res.ok and smtp.messages[0]["Subject"] == "Zeile eins Zeile zwei"
