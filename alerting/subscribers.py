"""Subscribers: add (double opt-in), confirm, unsubscribe by token, match for an issue.

Only subscribers whose opt-in is confirmed and who have not unsubscribed get notices.
Tokens are random (``secrets.token_urlsafe``, never starting with "-", which a command line
would read as an option); an unknown token raises TokenError and changes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from alerting.channels import validate_address
from alerting.errors import SubscriberError, TokenError
from alerting.outbox import enqueue
from alerting.rules import issue_text, norm, subscriber_matches, term_in
from storage.db import audit
from storage.models import Issue, Subscriber, SubscriberChannel, utcnow


def new_token() -> str:
    """A random URL-safe token (32 characters) that does not start with "-" (``fruehwarn notify confirm TOKEN``)."""
    while (token := secrets.token_urlsafe(24)).startswith("-"):
        pass
    return token


def _clean_terms(values: Sequence[str], what: str) -> list[str]:
    if isinstance(values, str):
        raise SubscriberError(f"{what} must be a list of strings, got the string {values!r}")
    out = []
    for v in values:
        if not isinstance(v, str) or not v.strip():
            raise SubscriberError(f"{what}: empty or non-text entry {v!r}")
        out.append(v.strip())
    return out


def add_subscriber(
    session: Session,
    *,
    name: str | None,
    channels: list[tuple[str, str]],
    products: Sequence[str] = (),
    regions: Sequence[str] = (),
    topics: Sequence[str] = (),
    language: str = "de",
    confirmed: bool = False,
    quiet_hours: tuple[int, int] | None = None,
    timezone: str = "Europe/Berlin",
    external_ref: str | None = None,
    actor: str = "system",
    send_confirmation: bool = True,
    now: datetime | None = None,
) -> Subscriber:
    """Add a subscriber with channels in order of preference; validate everything first.

    ``confirmed=True`` records an opt-in confirmed elsewhere (e.g. imported from a CRM
    that did the double opt-in); otherwise ``opt_in_token`` must be confirmed: with
    ``send_confirmation`` the request with its link (``<public_base_url>/confirm?token=``)
    is queued in the outbox, in this transaction, to the first channel.
    """
    if not channels:
        raise SubscriberError("a subscriber needs at least one channel")
    checked = [(kind, validate_address(kind, addr)) for kind, addr in channels]
    prods, regs, tops = (_clean_terms(products, "products"), _clean_terms(regions, "regions"),
                         _clean_terms(topics, "topics"))
    if not (prods or regs or tops):
        raise SubscriberError("a subscriber needs at least one product, region or topic")
    if quiet_hours is not None:
        start, end = quiet_hours
        if not (0 <= start <= 23 and 0 <= end <= 23):
            raise SubscriberError(f"quiet hours must be hours 0-23, got {quiet_hours}")
    now = now or utcnow()  # a simulated clock (replay, tests) passes its own
    sub = Subscriber(
        name=name, external_ref=external_ref, language=language, products=prods, regions=regs, topics=tops,
        quiet_hours_start=quiet_hours[0] if quiet_hours else None,
        quiet_hours_end=quiet_hours[1] if quiet_hours else None,
        timezone=timezone, opt_in_requested_at=now,
        opt_in_confirmed_at=now if confirmed else None,
        opt_in_token=None if confirmed else new_token(),
        unsubscribe_token=new_token(),
    )
    session.add(sub)
    session.flush()
    assert sub.id is not None
    for prio, (kind, addr) in enumerate(checked):
        session.add(SubscriberChannel(subscriber_id=sub.id, priority=prio, channel=kind, address=addr))
    audit(session, "subscriber.added", "subscriber", sub.id, actor=actor,
          channels=[k for k, _ in checked], confirmed=confirmed)
    session.flush()
    if not confirmed and send_confirmation:
        first = session.exec(select(SubscriberChannel).where(SubscriberChannel.subscriber_id == sub.id,
                                                             SubscriberChannel.priority == 0)).one()
        enqueue(session, key=f"optin:{sub.id}:ch:{first.id}", channel=first.channel, address=first.address,
                subscriber_id=sub.id, now=now)
    return sub


def confirm_opt_in(session: Session, token: str) -> Subscriber:
    """Second step of the double opt-in."""
    sub = session.exec(select(Subscriber).where(Subscriber.opt_in_token == token)).first() if token else None
    if sub is None:
        raise TokenError("unknown or already used opt-in token")
    sub.opt_in_confirmed_at = utcnow()
    sub.opt_in_token = None
    session.add(sub)
    audit(session, "subscriber.confirmed", "subscriber", sub.id, actor="subscriber")
    return sub


def unsubscribe(session: Session, token: str) -> Subscriber:
    """One-click unsubscribe; idempotent (a second click keeps the first time)."""
    sub = session.exec(select(Subscriber).where(Subscriber.unsubscribe_token == token)).first() if token else None
    if sub is None:
        raise TokenError("unknown unsubscribe token")
    if sub.unsubscribed_at is None:
        sub.unsubscribed_at = utcnow()
        session.add(sub)
        audit(session, "subscriber.unsubscribed", "subscriber", sub.id, actor="subscriber")
    return sub


def active_subscribers(session: Session) -> list[Subscriber]:
    return list(session.exec(select(Subscriber).where(
        col(Subscriber.opt_in_confirmed_at).is_not(None), col(Subscriber.unsubscribed_at).is_(None))).all())


def channels_of(session: Session, subscriber_ids: Sequence[int]) -> dict[int, list[SubscriberChannel]]:
    out: dict[int, list[SubscriberChannel]] = {}
    if not subscriber_ids:
        return out
    ids = list(subscriber_ids)
    for i in range(0, len(ids), 500):
        rows = session.exec(select(SubscriberChannel).where(col(SubscriberChannel.subscriber_id).in_(ids[i:i + 500]))
                            .order_by(col(SubscriberChannel.subscriber_id), col(SubscriberChannel.priority))).all()
        for r in rows:
            out.setdefault(r.subscriber_id, []).append(r)
    return out


def issue_facts_terms(issue: Issue) -> tuple[str, set[str]]:
    return issue_text(issue.title, issue.keywords)


def match_issue(session: Session, issue: Issue) -> tuple[list[Subscriber], dict[str, Any]]:
    """Affected active subscribers of an issue, and the products/regions it names."""
    subs = active_subscribers(session)
    text, words = issue_facts_terms(issue)

    regions = {norm(r): r for s in subs for r in reversed(s.regions)}  # casefolded -> a subscriber's spelling
    products = {norm(p): p for s in subs for p in reversed(s.products)}
    issue_regions = {r for r in regions if term_in(r, text, words)}
    issue_products = {p for p in products if term_in(p, text, words)}
    hits = [s for s in subs if subscriber_matches(text, words, products=s.products, regions=s.regions,
                                                   topics=s.topics, issue_regions=issue_regions)]
    return hits, {"products": sorted(products[p] for p in issue_products),
                  "regions": sorted(regions[r] for r in issue_regions)}


def scope_phrase(products: Sequence[str], regions: Sequence[str]) -> str:
    """German phrase for what is affected: "bei Mobilfunk und Internet in Hamburg", "in Köln", ""."""
    def join(xs: Sequence[str]) -> str:
        xs = list(xs)
        return xs[0] if len(xs) == 1 else ", ".join(xs[:-1]) + " und " + xs[-1]

    parts = []
    if products:
        parts.append("bei " + join(products))
    if regions:
        parts.append("in " + join(regions))
    return " ".join(parts)


def affected_subscribers(session: Session, issue: Issue) -> list[Subscriber]:
    return match_issue(session, issue)[0]
