"""Every other service through Apprise: Slack, Microsoft Teams, Mattermost, Telegram,
Matrix, Discord, ntfy, Pushover, SMS gateways, ... (``slack://``, ``msteams://``,
``mmost://``, ``tgram://``, ``ntfy://`` and the rest of Apprise's schemes).

Apprise answers a bool per send and hides the HTTP status, so a failure here is reported
as retryable (reason ``apprise_failed``) and the retry stage's attempt cap bounds it.
Apprise's own retries are switched off where the plugin has them (one retry layer).
"""

from __future__ import annotations

import logging
from typing import ClassVar

import apprise

from alerting.channels.base import Channel, Message, SendResult
from alerting.errors import ChannelConfigError

log = logging.getLogger(__name__)


class AppriseChannel(Channel):
    name: ClassVar[str] = "apprise"
    schemes: ClassVar[tuple[str, ...]] = ()  # whatever Apprise supports (checked on construction)
    rate_limit: ClassVar[float] = 2.0

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._apprise = apprise.Apprise()
        if not self._apprise.add(url):
            raise ChannelConfigError(f"not a valid Apprise URL: {self.masked_url}")
        self._plugin = self._apprise[0]
        if hasattr(self._plugin, "retry"):  # one retry layer: ours
            try:
                self._plugin.retry = 0
            except Exception:  # noqa: BLE001 - optional knob
                pass

    @property
    def masked_url(self) -> str:
        plugin = getattr(self, "_plugin", None)
        if plugin is not None:
            return str(plugin.url(privacy=True)).split("?", 1)[0]
        scheme = self.url.split("://", 1)[0]
        return f"{scheme}://****"

    def send(self, message: Message) -> SendResult:
        try:
            ok = self._apprise.notify(body=message.text, title=message.subject)
        except Exception as exc:  # noqa: BLE001 - a plugin bug must not kill the worker
            return SendResult.retry("apprise_error", f"{type(exc).__name__}: {str(exc)[:200]}")
        if ok:
            return SendResult.success()
        return SendResult.retry("apprise_failed", f"Apprise could not deliver to {self.masked_url}")
