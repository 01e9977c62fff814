"""Errors of the alerting package; each carries a short ``reason`` that feeds counters.

Exception tree::

    AlertingError                      (reason: "error")
     +-- ChannelConfigError            a channel URL or its settings are wrong (reason: "bad_config")
     |    +-- UnknownSchemeError       no channel handles this URL scheme (reason: "unknown_scheme")
     |    +-- MissingSecretError       a ${VAR} in a URL names an unset environment variable
     +-- TemplateError                 a notice template failed to render (reason: "template")
     +-- SubscriberError               bad subscriber input: address, channel kind, token
          +-- TokenError               unknown or used opt-in / unsubscribe token (reason: "bad_token")

Sending does not raise: a channel returns a :class:`alerting.channels.base.SendResult`
that says ``ok``, ``retryable`` (HTTP 429/5xx, timeouts, refused connections) or
permanent (401/403/404, bad address), with a reason such as ``rate_limited``,
``server_error``, ``timeout``, ``connect``, ``rejected``, ``auth``, ``bad_address``.
"""

from __future__ import annotations


class AlertingError(Exception):
    """Base of every alerting error."""

    reason = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class ChannelConfigError(AlertingError):
    """A channel URL or the settings a channel needs are wrong."""

    reason = "bad_config"


class UnknownSchemeError(ChannelConfigError):
    """No channel handles the URL's scheme."""

    reason = "unknown_scheme"


class MissingSecretError(ChannelConfigError):
    """A ``${VAR}`` placeholder names an environment variable that is not set."""

    reason = "missing_secret"


class TemplateError(AlertingError):
    """A template failed to render (syntax error, unsafe access in the sandbox)."""

    reason = "template"


class SubscriberError(AlertingError):
    """Bad subscriber input (unknown channel kind, malformed address)."""

    reason = "bad_subscriber"


class TokenError(SubscriberError):
    """An opt-in or unsubscribe token that matches no subscriber."""

    reason = "bad_token"
