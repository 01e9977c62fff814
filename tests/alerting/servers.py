"""Real receivers on 127.0.0.1 for the alerting tests and the delivery benchmark.

``WebhookReceiver``: a threaded HTTP/1.1 server that records every POST, dedups by the
``Idempotency-Key`` header (as a well-behaved receiver does) and answers from a plan:
200, 429 with Retry-After, 500, 401, or a stall longer than the client's timeout.
``SmtpSink``: aiosmtpd on a free port keeping every message it receives.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    stall: float = 0.0  # seconds to wait before answering (timeouts)


class WebhookReceiver:
    def __init__(self, *, fail_rate: float = 0.0, seed: int = 1, stall_on: int | None = None,
                 stall_seconds: float = 0.0, keep_bodies: bool = True, port: int = 0) -> None:
        self.lock = threading.Lock()
        self.plan: dict[str, list[Answer]] = defaultdict(list)  # path -> answers to give first, in order
        self.requests: list[dict[str, Any]] = []  # every request, duplicates included
        self.accepted: dict[str, dict[str, Any]] = {}  # key -> first accepted body (2xx given)
        self.accept_count: Counter[str] = Counter()  # key -> number of 2xx answers (duplicates show here)
        self.fail_rate = fail_rate
        self.rng = random.Random(seed)
        self.injected = 0
        self.stall_on = stall_on  # the n-th request (1-based) stalls: a worker can be killed mid-send
        self.stall_seconds = stall_seconds
        self.stalled = threading.Event()
        self.keep_bodies = keep_bodies
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - /_stats: what was received (for a receiver in another process)
                with receiver.lock:
                    stats = {"requests": len(receiver.requests), "injected": receiver.injected,
                             "accepted": sorted(receiver.accepted), "duplicates": receiver.duplicates()}
                body = json.dumps(stats).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                answer = receiver._answer(self.path, self.headers.get("Idempotency-Key"), raw)
                if answer.stall:
                    time.sleep(answer.stall)
                body = b'{"ok": true}' if answer.status < 300 else b'{"error": "nope"}'
                try:
                    self.send_response(answer.status)
                    for k, v in answer.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def _answer(self, path: str, key: str | None, raw: bytes) -> Answer:
        with self.lock:
            n = len(self.requests) + 1
            try:
                body = json.loads(raw.decode("utf-8"))
            except ValueError:
                body = {"_raw": raw.decode("utf-8", "replace")}
            self.requests.append({"path": path, "key": key, "body": body if self.keep_bodies else None,
                                  "at": time.monotonic()})
            base = path.split("?", 1)[0]
            if self.plan.get(base):
                answer = self.plan[base].pop(0)
            elif self.stall_on is not None and n == self.stall_on:
                self.stalled.set()
                answer = Answer(200, stall=self.stall_seconds)
            elif self.fail_rate and key not in self.accepted and self.rng.random() < self.fail_rate:
                self.injected += 1
                answer = Answer(429, {"Retry-After": "0"}) if self.rng.random() < 0.5 else Answer(503)
            else:
                answer = Answer(200)
            if answer.status < 300 and key is not None:
                self.accept_count[key] += 1
                self.accepted.setdefault(key, body if self.keep_bodies else {})
            return answer

    def url(self, path: str = "/hook", scheme: str = "json") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def duplicates(self) -> dict[str, int]:
        """Keys answered 2xx more than once (a receiver that honours the key drops the extras)."""
        return {k: c for k, c in self.accept_count.items() if c > 1}

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpSink:
    """aiosmtpd on 127.0.0.1 keeping parsed messages; ``refuse`` makes RCPT answer 550."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse: set[str] = set()
        self.temp_fail = 0  # answer 451 to the next N DATA commands
        sink = self

        class Handler:
            async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                                  rcpt_options: Any) -> str:
                if address in sink.refuse:
                    return "550 5.1.1 no such user"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                if sink.temp_fail > 0:
                    sink.temp_fail -= 1
                    return "451 4.3.0 try again later"
                msg = message_from_bytes(envelope.content, policy=policy.default)
                sink.messages.append(msg)  # type: ignore[arg-type]
                sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def serve_forever(port: int, fail_rate: float, seed: int = 1) -> None:
    """Run a receiver in this process until killed (the benchmark's receiver process)."""
    with WebhookReceiver(fail_rate=fail_rate, seed=seed, keep_bodies=False, port=port) as receiver:
        receiver.thread.join()


def seed_mobilfunk_issues(session: Any, url_of: Callable[[int], str], n_subs: int, n_issues: int) -> None:
    """``n_subs`` confirmed Mobilfunk customers on webhooks (``url_of(i)``) and ``n_issues`` open
    Mobilfunk issues, each with its topic: every issue has a notice for every customer."""
    from alerting.subscribers import add_subscriber
    from storage.models import Issue, Topic, utcnow

    for i in range(n_subs):
        add_subscriber(session, name=f"Kunde {i}", channels=[("webhook", url_of(i))], products=["Mobilfunk"],
                       confirmed=True)
    for k in range(n_issues):
        topic = Topic(label=f"Mobilfunk {k}", keywords=["mobilfunk", f"stoerung{k}"])
        session.add(topic)
        session.flush()
        session.add(Issue(topic_id=topic.id, title=f"Mobilfunk Störung {k}", keywords=list(topic.keywords),
                          severity=70, first_detected_at=utcnow()))
