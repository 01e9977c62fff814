"""Channel registry: a channel URL (or a subscriber's channel kind + address) -> a channel.

Channels, one class a file: :class:`WebhookChannel` (``json://``, ``jsons://``,
``http(s)://``), :class:`EmailChannel` (``mailto://``, ``smtp(s)://``), and
:class:`AppriseChannel` for every scheme Apprise knows (``slack://``, ``msteams://``,
``mmost://``, ``tgram://``, ...). ``${VAR}`` in a URL is read from the environment.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from alerting.channels.apprise_channel import AppriseChannel
from alerting.channels.base import Channel, Message, RateLimiter, SendResult, expand_env, mask_url
from alerting.channels.email import EmailChannel, valid_address
from alerting.channels.webhook import WebhookChannel
from alerting.errors import ChannelConfigError, SubscriberError, UnknownSchemeError

if TYPE_CHECKING:
    from config import Settings

CHANNEL_CLASSES: tuple[type[Channel], ...] = (WebhookChannel, EmailChannel, AppriseChannel)
SUBSCRIBER_KINDS = ("email", "sms", "telegram", "webhook", "push", "apprise")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 /-]{5,20}$")

__all__ = [
    "CHANNEL_CLASSES", "SUBSCRIBER_KINDS", "AppriseChannel", "Channel", "EmailChannel", "Message",
    "RateLimiter", "SendResult", "WebhookChannel", "channel_for_subscriber", "channel_for_url",
    "mask_url", "validate_address",
]


def channel_for_url(url: str, settings: Settings | None = None) -> Channel:
    """Build the channel for ``url``; raise ChannelConfigError (with a masked URL) if wrong."""
    if not isinstance(url, str) or not url.strip():
        raise ChannelConfigError("empty channel URL")
    url = expand_env(url.strip())
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    a = settings.alerting if settings is not None else None
    if scheme in WebhookChannel.schemes:
        return WebhookChannel(url, timeout=a.webhook_timeout if a else 10.0)
    if scheme in EmailChannel.schemes:
        if a is None:
            return EmailChannel(url)
        return EmailChannel(
            url, host=a.smtp_host, port=a.smtp_port, user=a.smtp_user,
            password=a.smtp_password.get_secret_value() if a.smtp_password else None,
            starttls=a.smtp_starttls, mail_from=a.mail_from, timeout=a.smtp_timeout,
        )
    if "://" not in url:
        raise UnknownSchemeError(f"not a channel URL (expected scheme://...): {mask_url(url)}")
    if scheme not in apprise_schemes():
        raise UnknownSchemeError(f"no channel handles {mask_url(url)} (not a webhook, e-mail or Apprise URL)")
    return AppriseChannel(url)


@lru_cache(maxsize=1)
def apprise_schemes() -> frozenset[str]:
    """Every URL scheme the installed Apprise handles."""
    import apprise

    out: set[str] = set()
    for s in apprise.Apprise().details()["schemas"]:
        out.update(s["protocols"] or ())
        out.update(s["secure_protocols"] or ())
    return frozenset(out)


def subscriber_url(kind: str, address: str, settings: Settings) -> str:
    """The channel URL for one of a subscriber's channels."""
    a = settings.alerting
    if kind == "email":
        return address if address.startswith(("mailto:", "smtp://", "smtps://")) else f"mailto://{address}"
    if kind == "sms":
        if a.sms_gateway_url is None:
            raise ChannelConfigError("SMS needs settings.alerting.sms_gateway_url (e.g. json://gw/sms?to={to})")
        return a.sms_gateway_url.get_secret_value().replace("{to}", re.sub(r"[ /-]", "", address))
    if kind == "telegram":
        if a.telegram_bot_token is None:
            raise ChannelConfigError("Telegram needs FRUEHWARN_ALERTING__TELEGRAM_BOT_TOKEN")
        return f"tgram://{a.telegram_bot_token.get_secret_value()}/{address}"
    if kind in ("webhook", "push", "apprise"):
        return address
    raise SubscriberError(f"unknown channel kind {kind!r}; expected one of {', '.join(SUBSCRIBER_KINDS)}")


def channel_for_subscriber(kind: str, address: str, settings: Settings) -> Channel:
    return channel_for_url(subscriber_url(kind, address, settings), settings)


def validate_address(kind: str, address: str) -> str:
    """Check a subscriber address for its kind; return it normalised or raise SubscriberError."""
    address = (address or "").strip()
    if kind not in SUBSCRIBER_KINDS:
        raise SubscriberError(f"unknown channel kind {kind!r}; expected one of {', '.join(SUBSCRIBER_KINDS)}")
    if not address:
        raise SubscriberError(f"empty address for channel {kind}")
    if kind == "email" and not valid_address(address.removeprefix("mailto:").removeprefix("//")):
        raise SubscriberError(f"not a valid e-mail address: {address!r}")
    if kind == "sms" and not PHONE_RE.match(address):
        raise SubscriberError(f"not a phone number: {address!r} (expected e.g. +49 151 2345678)")
    if kind == "telegram" and not re.match(r"^-?\d+$|^@\w{4,}$", address):
        raise SubscriberError(f"not a Telegram chat id: {address!r}")
    if kind == "webhook" and not re.match(r"^(https?|jsons?)://[^/\s]+", address):
        raise SubscriberError(f"not a webhook URL: {mask_url(address)}")
    if kind in ("push", "apprise"):
        channel_for_url(address).close()  # raises ChannelConfigError if Apprise cannot parse it
    return address
