"""Subscribers: validation that loses nothing, double opt-in, one-click unsubscribe, matching."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from alerting.errors import SubscriberError, TokenError
from alerting.subscribers import (
    active_subscribers,
    add_subscriber,
    affected_subscribers,
    confirm_opt_in,
    unsubscribe,
)
from storage.db import session_scope
from storage.models import AuditLog, Issue, Subscriber, SubscriberChannel
from tests.alerting.conftest import make_issue


@pytest.mark.parametrize("channels, error", [
    ([], "at least one channel"),
    ([("email", "not-an-address")], "not a valid e-mail"),
    ([("sms", "call me")], "not a phone number"),
    ([("pigeon", "x")], "unknown channel kind"),
    ([("webhook", "ftp://x")], "not a webhook URL"),
    ([("push", "nonsense://abc")], "no channel handles"),
])
def test_bad_input_is_refused_and_nothing_written(engine: Engine, channels: list[tuple[str, str]], error: str) -> None:
    with pytest.raises(Exception) as info, session_scope(engine) as s:
        add_subscriber(s, name="X", channels=channels, products=["Mobilfunk"])
    assert error in str(info.value)
    with session_scope(engine) as s:
        assert s.exec(select(Subscriber)).all() == [] and s.exec(select(SubscriberChannel)).all() == []


def test_needs_an_interest_and_valid_quiet_hours(engine: Engine) -> None:
    with session_scope(engine) as s:
        with pytest.raises(SubscriberError, match="product, region or topic"):
            add_subscriber(s, name="X", channels=[("email", "a@example.org")])
        with pytest.raises(SubscriberError, match="quiet hours"):
            add_subscriber(s, name="X", channels=[("email", "a@example.org")], topics=["netz"], quiet_hours=(22, 25))
        with pytest.raises(SubscriberError, match="list of strings"):
            add_subscriber(s, name="X", channels=[("email", "a@example.org")], products="Mobilfunk")  # type: ignore[arg-type]


def test_double_opt_in_and_unsubscribe(engine: Engine) -> None:
    with session_scope(engine) as s:
        sub = add_subscriber(s, name="Jana", channels=[("email", "jana@example.org"), ("sms", "+49 151 2345678")],
                             products=["Mobilfunk"], regions=["Hamburg"])
        token, unsub = sub.opt_in_token, sub.unsubscribe_token
        assert token and unsub and sub.opt_in_confirmed_at is None
        assert active_subscribers(s) == []
        chans = s.exec(select(SubscriberChannel).order_by(SubscriberChannel.priority)).all()
        assert [(c.priority, c.channel) for c in chans] == [(0, "email"), (1, "sms")]
    with session_scope(engine) as s, pytest.raises(TokenError):
        confirm_opt_in(s, "wrong-token")
    with session_scope(engine) as s:
        assert confirm_opt_in(s, token).opt_in_confirmed_at is not None  # type: ignore[arg-type]
    with session_scope(engine) as s:
        assert [x.name for x in active_subscribers(s)] == ["Jana"]
        with pytest.raises(TokenError):
            confirm_opt_in(s, token)  # type: ignore[arg-type]  # used once
    with session_scope(engine) as s:
        first = unsubscribe(s, unsub).unsubscribed_at
    with session_scope(engine) as s:
        assert unsubscribe(s, unsub).unsubscribed_at == first  # idempotent
        assert active_subscribers(s) == []
        actions = [a.action for a in s.exec(select(AuditLog).order_by(AuditLog.id)).all()]
        assert actions == ["subscriber.added", "subscriber.confirmed", "subscriber.unsubscribed"]
    with session_scope(engine) as s, pytest.raises(TokenError):
        unsubscribe(s, "")


def test_affected_subscribers_by_products_regions_topics(engine: Engine) -> None:
    iid = make_issue(engine, title="Mobilfunk gestört in Hamburg", keywords=["mobilfunk", "hamburg", "lte", "netz"])
    with session_scope(engine) as s:
        for name, products, regions, topics in [
            ("hh-mobil", ["Mobilfunk"], ["Hamburg"], []),
            ("muc-mobil", ["Mobilfunk"], ["München"], []),
            ("hh-internet", ["Internet"], ["Hamburg"], []),
            ("lte-fan", [], [], ["LTE"]),
        ]:
            add_subscriber(s, name=name, channels=[("email", f"{name}@example.org")], products=products,
                           regions=regions, topics=topics, confirmed=True)
        add_subscriber(s, name="unconfirmed", channels=[("email", "u@example.org")], products=["Mobilfunk"])
    with session_scope(engine) as s:
        issue = s.get(Issue, iid)
        assert issue is not None
        assert sorted(x.name for x in affected_subscribers(s, issue)) == ["hh-mobil", "lte-fan"]  # type: ignore[type-var]


def test_tokens_never_look_like_command_line_options(monkeypatch: pytest.MonkeyPatch) -> None:
    from alerting import subscribers

    drawn = iter(["-starts-with-a-dash", "_ok-token"])
    monkeypatch.setattr(subscribers.secrets, "token_urlsafe", lambda n: next(drawn))
    assert subscribers.new_token() == "_ok-token"  # a token starting with "-" is drawn again
    monkeypatch.undo()
    assert not any(subscribers.new_token().startswith("-") for _ in range(2000))
