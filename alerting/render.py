"""One notice -> every channel, from one template set (Jinja2 in a sandbox).

The facts (``Notice.facts``) and the editable German text (``Notice.body``) are data,
never template source: an edited text cannot run template code. E-mail gets text and
HTML (auto-escaped), SMS a length-limited plain text, webhooks and chat the text plus
the facts as JSON. Every customer message carries its one-click unsubscribe link.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from alerting.errors import TemplateError

TEMPLATE_DIR = Path(__file__).parent / "templates"


def de_datetime(value: Any) -> str:
    """``2026-11-23T07:30:00`` -> ``23.11.2026, 07:30 Uhr`` (UTC, as stored)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.strftime("%d.%m.%Y, %H:%M Uhr")
    return str(value)


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        trim_blocks=False,
    )
    env.filters["de_datetime"] = de_datetime
    return env


def render(template: str, **context: Any) -> str:
    try:
        return environment().get_template(template).render(**context).strip()
    except jinja2.TemplateError as exc:
        raise TemplateError(f"template {template}: {type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True)
class RenderedNotice:
    subject: str
    text: str
    html: str
    sms: str


def unsubscribe_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/unsubscribe?token={token}"


def confirm_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/confirm?token={token}"


def render_opt_in(*, name: str | None, topics: list[str], confirm: str, sms_max_chars: int = 320) -> RenderedNotice:
    """The double opt-in request (German): text, HTML-free, and a short SMS."""
    subject = "Bitte bestätigen Sie Ihre Anmeldung für Servicehinweise"
    text = render("notice/optin.txt.j2", name=name, topics=topics, confirm_url=confirm)
    sms = shorten(f"Bitte bestätigen Sie Ihre Anmeldung für Servicehinweise: {confirm}", sms_max_chars)
    return RenderedNotice(subject=subject, text=text, html="", sms=sms)


def draft_body(kind: str, facts: dict[str, Any]) -> str:
    """The German draft text a person approves or edits."""
    name = "notice/draft_resolved.txt.j2" if kind == "resolved" else "notice/draft_incident.txt.j2"
    return render(name, facts=facts)


def notice_subject(kind: str, facts: dict[str, Any]) -> str:
    return render("notice/subject.txt.j2", kind=kind, facts=facts)


def shorten(text: str, limit: int) -> str:
    """Collapse whitespace and cut at a word boundary with an ellipsis."""
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - 1)]
    if " " in cut[limit // 2:]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,.;:") + "…"


def render_notice(*, kind: str, subject: str, body: str, facts: dict[str, Any], name: str | None,
                  unsubscribe: str, sms_max_chars: int = 320,
                  formats: tuple[str, ...] = ("text", "html", "sms")) -> RenderedNotice:
    """Render one notice for one subscriber in every format asked for (others stay empty)."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", body.strip()) if p.strip()]
    ctx = dict(kind=kind, subject=subject, body=body.strip(), facts=facts, name=name,
               unsubscribe_url=unsubscribe, paragraphs=paragraphs)
    text = render("notice/text.txt.j2", **ctx) if "text" in formats else ""
    html = render("notice/html.html.j2", **ctx) if "html" in formats else ""
    if "sms" not in formats:
        return RenderedNotice(subject=subject, text=text, html=html, sms="")
    tail = f" Abmelden: {unsubscribe}"
    sms_core = render("notice/sms.txt.j2", **ctx)
    sms = shorten(sms_core, sms_max_chars - len(tail)) + tail
    if len(sms) > sms_max_chars:  # a very long unsubscribe URL: the link wins over the text
        sms = shorten(sms_core, max(20, sms_max_chars - len(tail))) + tail
    return RenderedNotice(subject=subject, text=text, html=html, sms=sms)


def render_alert(*, kind: str, issues: list[dict[str, Any]], dashboard_url: str, minutes: int = 0) -> tuple[str, str]:
    """Subject and text of an internal alert (one or several issues)."""
    ctx = dict(kind=kind, issues=issues, dashboard_url=dashboard_url, minutes=minutes)
    return render("alert/subject.txt.j2", **ctx), render("alert/text.txt.j2", **ctx)
