"""A local HTTP server on 127.0.0.1 (or another loopback address) for running spiders for real, and tests that need one.

Routes map a path (or a path with its exact query) to replies served in order, the last
one repeating; a reply may also be a function of the request. Replies can be slow
(``delay``), cut off (``truncate_to``: the full Content-Length is announced, fewer bytes
are sent), huge (``size``: streamed filler) or any status with any headers. Every
request is recorded (path, query, headers, time) for assertions. Unknown paths get 404,
so ``/robots.txt`` is absent unless routed.

    with LocalServer() as srv:
        srv.route("/feed.xml", Reply(body=fixture("rss/news_rss20.xml"), content_type=RSS))
        srv.url("/feed.xml")
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
JSON = "application/json; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"
HTML = "text/html; charset=utf-8"


def fixture(name: str) -> bytes:
    """The bytes of tests/fixtures/<name>."""
    return (FIXTURES / name).read_bytes()


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the answer starts (a slow server)
    truncate_to: int | None = None  # announce the whole body, send only this many bytes, close
    size: int | None = None  # stream this many filler bytes instead of body (a huge answer)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    at: float

    @property
    def target(self) -> str:
        return self.path


Responder = Reply | Callable[[Seen], Reply]


class LocalServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host  # any 127.x.y.z address works on Linux: distinct "hosts" for one test
        self._routes: dict[str, list[Responder]] = {}
        self._served: dict[str, int] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ setup
    def route(self, path: str, *replies: Responder) -> LocalServer:
        """Serve ``replies`` in order at ``path`` (``/p`` or ``/p?exact=query``); the last repeats."""
        with self._lock:
            self._routes[path] = list(replies)
            self._served[path] = 0
        return self

    def url(self, path: str = "") -> str:
        assert self._httpd is not None, "start the server first"
        return f"http://{self.host}:{self._httpd.server_address[1]}{path}"

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    def hits(self, path: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def start(self) -> LocalServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                server._handle(self)

        self._httpd = ThreadingHTTPServer((self.host, 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="local-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ serving
    def _pick(self, seen: Seen, raw_query: str) -> Reply:
        with self._lock:
            key = f"{seen.path}?{raw_query}" if raw_query and f"{seen.path}?{raw_query}" in self._routes else seen.path
            replies = self._routes.get(key)
            if not replies:
                return Reply(status=404, body=b"not found", content_type="text/plain")
            i = min(self._served[key], len(replies) - 1)
            self._served[key] += 1
        chosen = replies[i]
        return chosen(seen) if callable(chosen) else chosen

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        seen = Seen(method=h.command, path=parts.path, query=parse_qs(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in h.headers.items()}, at=time.monotonic())
        with self._lock:
            self.requests.append(seen)
        reply = self._pick(seen, parts.query)
        if reply.delay:
            time.sleep(reply.delay)
        body = reply.body.encode("utf-8") if isinstance(reply.body, str) else reply.body
        length = reply.size if reply.size is not None else len(body)
        try:
            h.send_response(reply.status)
            h.send_header("Content-Type", reply.content_type)
            h.send_header("Content-Length", str(length))
            for k, v in reply.headers.items():
                h.send_header(k, v)
            if reply.truncate_to is not None or reply.size is not None:
                h.send_header("Connection", "close")
                h.close_connection = True
            h.end_headers()
            if reply.status == 304 or h.command == "HEAD":
                return
            if reply.size is not None:
                chunk = b"x" * 65536
                left = reply.size
                while left > 0:
                    h.wfile.write(chunk[: min(left, len(chunk))])
                    left -= len(chunk)
            elif reply.truncate_to is not None:
                h.wfile.write(body[: reply.truncate_to])
                h.wfile.flush()
            else:
                h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True
