"""E-mail over SMTP (smtplib), HTML and text in one multipart message.

URL forms:
  ``mailto://user@example.org``            to that address, via ``settings.alerting.smtp_*``
  ``mailto:user@example.org`` or a bare address (subscriber channels)
  ``smtp://host:port/?to=a@x.de,b@y.de``   to those addresses via that server (``smtps://``: TLS)
Login and password come from ``settings.alerting.smtp_user`` / ``smtp_password`` (env only).

Outcome: 250 ok; 4xx replies, refused connections and timeouts retryable; 5xx permanent
(``bad_address`` when every recipient was refused, ``auth`` on a failed login).
"""

from __future__ import annotations

import re
import smtplib
import ssl
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

from alerting.channels.base import Channel, Message, SendResult, require

_POLICY = policy.SMTP.clone(max_line_length=998)  # no folding of long unsubscribe links
ADDRESS_RE = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")


def valid_address(addr: str) -> bool:
    return bool(ADDRESS_RE.match(addr.strip()))


class EmailChannel(Channel):
    name: ClassVar[str] = "email"
    schemes: ClassVar[tuple[str, ...]] = ("mailto", "smtp", "smtps")
    rate_limit: ClassVar[float] = 10.0

    def __init__(self, url: str, *, host: str = "127.0.0.1", port: int = 25, user: str | None = None,
                 password: str | None = None, starttls: bool = False, mail_from: str = "fruehwarn <noreply@fruehwarn.local>",
                 timeout: float = 15.0) -> None:
        super().__init__(url)
        self.use_ssl = False
        if "://" not in url and url.startswith("mailto:"):
            url = "mailto://" + url[len("mailto:"):]
        if "://" not in url:  # a bare address
            self.recipients = [url.strip()]
        else:
            parts = urlsplit(url)
            if parts.scheme == "mailto":
                addr = unquote(parts.netloc + parts.path.rstrip("/"))
                self.recipients = [a.strip() for a in addr.split(",") if a.strip()]
            else:
                require(parts.scheme in ("smtp", "smtps"), f"not an e-mail URL: {self.masked_url}")
                require(bool(parts.hostname), f"smtp URL has no host: {self.masked_url}")
                host = parts.hostname or host
                self.use_ssl = parts.scheme == "smtps"
                port = parts.port or (465 if self.use_ssl else 25)
                if parts.username:
                    user, password = unquote(parts.username), unquote(parts.password or "") or password
                to = parse_qs(parts.query).get("to", [])
                self.recipients = [a.strip() for v in to for a in v.split(",") if a.strip()]
                if parse_qs(parts.query).get("from"):
                    mail_from = parse_qs(parts.query)["from"][0]
        require(bool(self.recipients), f"e-mail channel needs a recipient (mailto://user@host or ?to=): {self.masked_url}")
        for r in self.recipients:
            require(valid_address(r), f"not a valid e-mail address: {r!r}")
        self.host, self.port, self.user, self.password = host, port, user, password
        self.starttls, self.mail_from, self.timeout = starttls, mail_from, timeout

    @property
    def masked_url(self) -> str:
        login = f"{self.user}:****@" if getattr(self, "user", None) else ""
        to = ",".join(getattr(self, "recipients", []))
        return f"smtp{'s' if getattr(self, 'use_ssl', False) else ''}://{login}{getattr(self, 'host', '?')}:{getattr(self, 'port', '?')}/?to={to}"

    def build(self, message: Message) -> EmailMessage:
        msg = EmailMessage(policy=_POLICY)
        msg["Subject"] = " ".join(message.subject.split())  # an edited subject may hold line breaks
        msg["From"] = self.mail_from
        msg["To"] = ", ".join(self.recipients)
        msg["Date"] = formatdate(localtime=False)
        domain = self.mail_from.rsplit("@", 1)[-1].strip(">") or "fruehwarn.local"
        key = re.sub(r"[^A-Za-z0-9._-]", ".", message.idempotency_key) if message.idempotency_key else None
        msg["Message-ID"] = f"<{key}@{domain}>" if key else make_msgid(domain=domain)
        if message.idempotency_key:
            msg["X-Idempotency-Key"] = message.idempotency_key
        for k, v in message.headers.items():
            msg[k] = v
        msg.set_content(message.text, charset="utf-8")
        if message.html:
            msg.add_alternative(message.html, subtype="html", charset="utf-8")
        return msg

    def send(self, message: Message) -> SendResult:
        msg = self.build(message)
        try:
            cls: Any = smtplib.SMTP_SSL if self.use_ssl else smtplib.SMTP
            with cls(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls and not self.use_ssl:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password or "")
                refused = smtp.send_message(msg)
        except smtplib.SMTPAuthenticationError as exc:
            return SendResult.permanent("auth", f"SMTP login refused: {exc.smtp_code}", exc.smtp_code)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [c for c, _m in exc.recipients.values()]
            code = codes[0] if codes else None
            if code is not None and 400 <= code < 500:
                return SendResult.retry("server_error", f"recipients deferred: {code}", code)
            return SendResult.permanent("bad_address", f"all recipients refused: {code}", code)
        except smtplib.SMTPResponseException as exc:
            code = exc.smtp_code
            detail = f"SMTP {code}: {exc.smtp_error[:200]!r}"
            if 400 <= code < 500:
                return SendResult.retry("server_error", detail, code)
            return SendResult.permanent("rejected", detail, code)
        except TimeoutError as exc:
            return SendResult.retry("timeout", f"SMTP timeout: {exc}")
        except (OSError, smtplib.SMTPException) as exc:
            return SendResult.retry("connect", f"{type(exc).__name__}: {str(exc)[:200]}")
        if refused:
            return SendResult.success(250, f"some recipients refused: {sorted(refused)}")
        return SendResult.success(250)

