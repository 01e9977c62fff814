"""The public pages a customer reaches from a notice: one-click unsubscribe and opt-in confirmation.

They need no login (the token in the link is the credential) and live apart from the
dashboard, which requires one. A GET shows a German page with one button; the change
happens on POST, so that link scanners in mail gateways cannot unsubscribe anyone.
RFC 8058 one-click (``List-Unsubscribe-Post: List-Unsubscribe=One-Click``) posts to the
same URL and works as well.
"""

from __future__ import annotations

import html
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from sqlalchemy.engine import Engine

from config import Settings
from storage.db import session_scope

log = logging.getLogger("fruehwarn.public")

_PAGE = """<!doctype html><html lang="de"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1f2937}}
button{{font-size:1rem;padding:.6rem 1.2rem;border-radius:.4rem;border:1px solid #1f2937;background:#fff;cursor:pointer}}</style>
</head><body><h1>{title}</h1><p>{text}</p>{form}</body></html>"""

_ACTIONS = {
    "/unsubscribe": ("Servicehinweise abbestellen",
                     "Möchten Sie keine Servicehinweise mehr von uns erhalten?", "Abbestellen",
                     "Sie erhalten keine Servicehinweise mehr. Sie können sich jederzeit wieder anmelden."),
    "/confirm": ("Anmeldung bestätigen",
                 "Bitte bestätigen Sie, dass Sie Servicehinweise bei Störungen erhalten möchten.", "Bestätigen",
                 "Vielen Dank, Ihre Anmeldung ist bestätigt."),
}


def _apply(engine: Engine, path: str, token: str) -> bool:
    from alerting.errors import TokenError
    from alerting.subscribers import confirm_opt_in, unsubscribe

    try:
        with session_scope(engine) as s:
            (unsubscribe if path == "/unsubscribe" else confirm_opt_in)(s, token)
        return True
    except TokenError:
        return False


def make_server(settings: Settings, engine: Engine, host: str | None = None, port: int | None = None
                ) -> ThreadingHTTPServer:
    """The public pages' HTTP server (not started)."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "fruehwarn"

        def log_message(self, fmt: str, *args: Any) -> None:  # no tokens or addresses in logs
            log.debug("public page %s", self.command)

        def _page(self, code: int, title: str, text: str, form: str = "") -> None:
            body = _PAGE.format(title=html.escape(title), text=html.escape(text), form=form).encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Referrer-Policy", "no-referrer")
            self.end_headers()
            self.wfile.write(body)

        def _target(self) -> tuple[str, str] | None:
            url = urlparse(self.path)
            token = (parse_qs(url.query).get("token") or [""])[0]
            if url.path not in _ACTIONS:
                self._page(404, "Seite nicht gefunden", "Diese Seite gibt es nicht.")
                return None
            return url.path, token

        def do_GET(self) -> None:  # noqa: N802
            target = self._target()
            if target is None:
                return
            path, token = target
            title, text, button, _done = _ACTIONS[path]
            form = (f'<form method="post" action="{html.escape(path)}?token={html.escape(token, quote=True)}">'
                    f"<button type=\"submit\">{html.escape(button)}</button></form>")
            self._page(200, title, text, form)

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(min(length, 10_000))
            target = self._target()
            if target is None:
                return
            path, token = target
            title, _text, _button, done = _ACTIONS[path]
            if _apply(engine, path, token):
                self._page(200, title, done)
            else:
                self._page(404, title, "Dieser Link ist ungültig oder abgelaufen.")

    return ThreadingHTTPServer((host or settings.ops.public_host, settings.ops.public_port if port is None else port),
                               Handler)


def start_public_pages(settings: Settings, engine: Engine) -> ThreadingHTTPServer | None:
    """Serve the public pages in a background thread (None when ops.public_port is 0)."""
    if not settings.ops.public_port:
        return None
    server = make_server(settings, engine)
    threading.Thread(target=server.serve_forever, name="public-pages", daemon=True).start()
    return server
