"""The demo world's servers, all on 127.0.0.1: the platforms and the sinks.

``DemoWorld`` serves the storyline (fruehwarn/demo_story.py) over plain HTTP in each
platform's documented format, releasing posts as the demo clock passes their offset:
  - an RSS 2.0 community board feed   GET /community/rss.xml
  - a Mastodon hashtag timeline (v1)  GET /api/v1/timelines/tag/nordnetz?max_id&since_id&min_id&limit
  - a Discourse forum                 GET /forum/latest.json, GET /forum/t/<slug>/<id>.json
  - robots.txt allowing everything
and it catches webhooks (POST /hooks/<name>, stored as JSON lines). ``SmtpSink`` is a
real SMTP server (aiosmtpd) that stores every message it receives as an .eml file.
"""

from __future__ import annotations

import html
import json
import threading
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from fruehwarn.demo_story import StoryPost

TAG = "nordnetz"


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _slug(title: str) -> str:
    table = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
    out = "".join(c if c.isalnum() else "-" for c in title.lower().translate(table))
    return "-".join(p for p in out.split("-") if p) or "thema"


class DemoWorld:
    """The platforms of the demo, releasing the story over time."""

    def __init__(self, story: list[StoryPost], *, data_dir: Path, start: datetime | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.story = story
        self.clock = clock
        self.t0 = clock() if start is None else start.timestamp()
        self.hooks_file = data_dir / "webhooks.jsonl"
        self.hooks_file.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self.requests = 0

    # ---------------------------------------------------------------- the story so far
    def when(self, p: StoryPost) -> datetime:
        return datetime.fromtimestamp(self.t0 + p.offset, UTC)

    def released(self, platform: str) -> list[StoryPost]:
        now = self.clock() - self.t0
        return [p for p in self.story if p.platform == platform and p.offset <= now]

    @property
    def base_url(self) -> str:
        assert self.server is not None, "start() first"
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    # ---------------------------------------------------------------- renderers
    def rss(self) -> bytes:
        items = sorted(self.released("rss"), key=lambda p: p.offset, reverse=True)[:100]
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">',
            "<channel><title>NordNetz Community - Neueste Beiträge</title>",
            f"<link>{self.base_url}/community</link><description>Board-Feed der NordNetz Community</description>",
            "<language>de-DE</language>",
        ]
        for p in items:
            link = f"{self.base_url}/community/t/{p.key}"
            parts.append(
                "<item>"
                f"<title>{html.escape(p.title or 'Beitrag')}</title>"
                f"<link>{link}</link>"
                f'<guid isPermaLink="false">nordnetz-community-{p.key}</guid>'
                f"<pubDate>{format_datetime(self.when(p))}</pubDate>"
                f"<dc:creator>{html.escape(p.author)}</dc:creator>"
                f"<description>{html.escape('<p>' + html.escape(p.text) + '</p>')}</description>"
                "</item>"
            )
        parts.append("</channel></rss>")
        return "\n".join(parts).encode("utf-8")

    def status(self, p: StoryPost) -> dict[str, Any]:
        sid = str(110_000_000_000_000_000 + p.key)
        return {
            "id": sid,
            "created_at": _iso(self.when(p)),
            "in_reply_to_id": None,
            "in_reply_to_account_id": None,
            "sensitive": False,
            "spoiler_text": "",
            "visibility": "public",
            "language": "de",
            "uri": f"{self.base_url}/users/{p.author}/statuses/{sid}",
            "url": f"{self.base_url}/@{p.author}/{sid}",
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "edited_at": None,
            "content": f"<p>{html.escape(p.text)} <a href=\"{self.base_url}/tags/{TAG}\" class=\"mention hashtag\" "
                       f"rel=\"tag\">#<span>{TAG}</span></a></p>",
            "reblog": None,
            "account": {
                "id": str(zlib.crc32(p.author.encode())),
                "username": p.author,
                "acct": p.author,
                "display_name": p.author.split("_")[0].title(),
                "url": f"{self.base_url}/@{p.author}",
            },
            "media_attachments": [],
            "mentions": [],
            "tags": [{"name": TAG, "url": f"{self.base_url}/tags/{TAG}"}],
            "emojis": [],
            "card": None,
            "poll": None,
        }

    def mastodon(self, query: dict[str, list[str]]) -> tuple[list[dict[str, Any]], str]:
        def arg(name: str) -> int | None:
            v = query.get(name, [None])[0]
            return int(v) if v and v.isdigit() else None

        limit = min(arg("limit") or 20, 40)
        statuses = sorted((self.status(p) for p in self.released("mastodon")), key=lambda s: int(s["id"]),
                          reverse=True)
        max_id, since_id, min_id = arg("max_id"), arg("since_id"), arg("min_id")
        if max_id is not None:
            statuses = [s for s in statuses if int(s["id"]) < max_id]
        if since_id is not None:
            statuses = [s for s in statuses if int(s["id"]) > since_id]
        if min_id is not None:  # the page right after min_id, oldest first, returned newest first
            statuses = sorted([s for s in statuses if int(s["id"]) > min_id], key=lambda s: int(s["id"]))[:limit]
            statuses.reverse()
        page = statuses[:limit]
        links = []
        url = f"{self.base_url}/api/v1/timelines/tag/{TAG}"
        if page:
            links.append(f'<{url}?{urlencode({"max_id": page[-1]["id"], "limit": limit})}>; rel="next"')
            links.append(f'<{url}?{urlencode({"min_id": page[0]["id"], "limit": limit})}>; rel="prev"')
        return page, ", ".join(links)

    def _threads(self) -> dict[int, list[StoryPost]]:
        threads: dict[int, list[StoryPost]] = {}
        for p in self.released("discourse"):
            threads.setdefault(p.topic or 0, []).append(p)
        return threads

    def discourse_latest(self) -> dict[str, Any]:
        topics = []
        users: dict[str, dict[str, Any]] = {}
        for tid, posts in self._threads().items():
            posts.sort(key=lambda p: p.offset)
            title = posts[0].title or "Allgemein"
            for p in posts:
                users.setdefault(p.author, {"id": len(users) + 1, "username": p.author, "name": p.author,
                                            "avatar_template": "/letter_avatar/{size}.png"})
            topics.append({
                "id": tid, "title": title, "fancy_title": html.escape(title), "slug": _slug(title),
                "posts_count": len(posts), "reply_count": len(posts) - 1, "highest_post_number": len(posts),
                "created_at": _iso(self.when(posts[0])), "last_posted_at": _iso(self.when(posts[-1])),
                "bumped": True, "bumped_at": _iso(self.when(posts[-1])), "archetype": "regular",
                "unseen": False, "pinned": False, "visible": True, "closed": False, "archived": False,
                "views": 10 * len(posts), "like_count": 0, "has_summary": False, "category_id": 5,
                "last_poster_username": posts[-1].author,
                "posters": [{"extras": None, "description": "Original Poster", "user_id": users[posts[0].author]["id"]}],
            })
        topics.sort(key=lambda t: t["bumped_at"], reverse=True)
        return {"users": list(users.values()), "primary_groups": [], "topic_list": {
            "can_create_topic": False, "per_page": 30, "topics": topics[:30],
            **({"more_topics_url": "/forum/latest?page=1"} if len(topics) > 30 else {})}}

    def discourse_topic(self, tid: int) -> dict[str, Any] | None:
        posts = sorted(self._threads().get(tid, []), key=lambda p: p.offset)
        if not posts:
            return None
        title = posts[0].title or "Allgemein"
        stream = []
        for n, p in enumerate(posts, start=1):
            stream.append({
                "id": tid * 1000 + n, "name": p.author.split("_")[0].title(), "username": p.author,
                "avatar_template": "/letter_avatar/{size}.png", "created_at": _iso(self.when(p)),
                "cooked": f"<p>{html.escape(p.text)}</p>", "post_number": n, "post_type": 1,
                "updated_at": _iso(self.when(p)), "reply_count": 0,
                "reply_to_post_number": None if n == 1 else 1, "quote_count": 0, "incoming_link_count": 0,
                "reads": 3, "score": 0, "yours": False, "topic_id": tid, "topic_slug": _slug(title),
                "version": 1, "can_edit": False, "user_id": n, "hidden": False, "trust_level": 1,
                "deleted_at": None, "user_deleted": False, "wiki": False,
            })
        return {"post_stream": {"posts": stream, "stream": [s["id"] for s in stream]},
                "id": tid, "title": title, "fancy_title": html.escape(title), "slug": _slug(title),
                "posts_count": len(posts), "created_at": stream[0]["created_at"],
                "last_posted_at": stream[-1]["created_at"], "archetype": "regular", "category_id": 5,
                "visible": True, "closed": False, "archived": False, "tags": []}

    def record_hook(self, name: str, body: bytes, headers: dict[str, str]) -> None:
        try:
            payload: Any = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            payload = body.decode("utf-8", "replace")
        line = {"hook": name, "at": _iso(datetime.now(UTC)), "idempotency_key": headers.get("idempotency-key"),
                "payload": payload}
        with self._lock, self.hooks_file.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")

    def hooks(self) -> list[dict[str, Any]]:
        if not self.hooks_file.exists():
            return []
        return [json.loads(line) for line in self.hooks_file.read_text(encoding="utf-8").splitlines() if line]

    # ---------------------------------------------------------------- server
    def start(self, host: str = "127.0.0.1", port: int = 0) -> DemoWorld:
        world = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "fruehwarn-demo/1"

            def log_message(self, *_args: Any) -> None:
                pass

            def _send(self, code: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _json(self, obj: Any, extra: dict[str, str] | None = None) -> None:
                self._send(200, json.dumps(obj, ensure_ascii=False).encode("utf-8"),
                           "application/json; charset=utf-8", extra)

            def do_GET(self) -> None:  # noqa: N802
                world.requests += 1
                url = urlparse(self.path)
                q = parse_qs(url.query)
                parts = [p for p in url.path.split("/") if p]
                if url.path == "/robots.txt":
                    self._send(200, b"User-agent: *\nAllow: /\n", "text/plain")
                elif url.path == "/community/rss.xml":
                    self._send(200, world.rss(), "application/rss+xml; charset=utf-8")
                elif url.path == f"/api/v1/timelines/tag/{TAG}":
                    page, link = world.mastodon(q)
                    self._json(page, {"Link": link} if link else None)
                elif url.path in ("/forum/latest.json", "/forum/latest"):
                    self._json(world.discourse_latest())
                elif len(parts) >= 3 and parts[:2] == ["forum", "t"] and parts[-1].endswith(".json"):
                    tid = parts[-1].removesuffix(".json")
                    topic = world.discourse_topic(int(tid)) if tid.isdigit() else None
                    if topic is None:
                        self._send(404, b'{"errors":["not found"]}', "application/json")
                    else:
                        self._json(topic)
                elif url.path == "/health":
                    self._send(200, b"ok", "text/plain")
                else:
                    self._send(404, b"not found", "text/plain")

            def do_POST(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, 1_000_000))
                if url.path.startswith("/hooks/"):
                    world.record_hook(url.path.removeprefix("/hooks/"), body,
                                      {k.lower(): v for k, v in self.headers.items()})
                    self._send(200, b'{"ok":true}', "application/json")
                else:
                    self._send(404, b"not found", "text/plain")

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="demo-world", daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class SmtpSink:
    """A real SMTP server on 127.0.0.1 that stores each message as an .eml file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.controller: Any = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> SmtpSink:
        from aiosmtpd.controller import Controller

        sink = self

        class Handler:
            async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
                name = f"{time.time_ns()}.eml"
                (sink.folder / name).write_bytes(envelope.original_content or envelope.content)
                return "250 Message accepted for delivery"

        if port == 0:
            import socket

            with socket.socket() as s:
                s.bind((host, 0))
                port = s.getsockname()[1]
        self.controller = Controller(Handler(), hostname=host, port=port)
        self.controller.start()
        return self

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def messages(self) -> list[Any]:
        return [message_from_bytes(p.read_bytes(), policy=policy.default)
                for p in sorted(self.folder.glob("*.eml"))]

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def wait_until(pred: Callable[[], bool], timeout: float, step: float = 0.2) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


__all__ = ["DemoWorld", "SmtpSink", "wait_until"]
