"""Fake platform endpoints for the LocalServer, answering like the documented APIs.

Each function returns a responder (``Seen -> Reply``) that pages a list of recorded or
generated objects the way the platform does: Mastodon by ``max_id``/``since_id``/
``limit`` with a ``Link`` header, Reddit by ``after``/``limit`` with ``data.after``,
Discourse by ``page`` with ``more_topics_url``, the App Store by ``/page=<n>/`` in the
path. Generators build German posts in the same shapes for the benchmark.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.crawlers.server import JSON, Reply, Seen

Responder = Callable[[Seen], Reply]

_WORDS = ("Störung", "Netz", "Rechnung", "Hotline", "App", "Router", "Glasfaser", "Tarif", "Vertrag",
          "Empfang", "Techniker", "Kündigung", "Datenvolumen", "Ausfall", "Kundenservice", "Warteschleife")
_PLACES = ("Hamburg", "Kiel", "Lübeck", "Bremen", "Altona", "Eimsbüttel", "Harburg", "Flensburg")


def _self_url(seen: Seen) -> str:
    return f"http://{seen.headers.get('host', '127.0.0.1')}{seen.path}"


def _id_key(i: str) -> tuple[int, str]:
    return (len(i), i)


def mastodon_timeline(statuses: list[dict[str, Any]]) -> Responder:
    """``GET /api/v1/timelines/tag/:tag`` semantics over ``statuses`` (newest first, 20 default, 40 max)."""
    ordered = sorted(statuses, key=lambda s: _id_key(s["id"]), reverse=True)

    def respond(seen: Seen) -> Reply:
        q = {k: v[0] for k, v in seen.query.items()}
        limit = min(int(q.get("limit", 20)), 40)
        items = ordered
        if "max_id" in q:
            items = [s for s in items if _id_key(s["id"]) < _id_key(q["max_id"])]
        if "since_id" in q:
            items = [s for s in items if _id_key(s["id"]) > _id_key(q["since_id"])]
        page = items[:limit]
        headers = {}
        if page:  # like Mastodon's pagination_params: limit kept, max_id / min_id set
            base = f"{_self_url(seen)}?limit={limit}&"
            headers["Link"] = (f'<{base}max_id={page[-1]["id"]}>; rel="next", '
                               f'<{base}min_id={page[0]["id"]}>; rel="prev"')
        return Reply(body=json.dumps(page, ensure_ascii=False), headers=headers)

    return respond


def reddit_listing(children: list[dict[str, Any]]) -> Responder:
    """``/r/<sub>/new.json`` semantics: ``after`` names the last post of the previous page."""

    def respond(seen: Seen) -> Reply:
        q = {k: v[0] for k, v in seen.query.items()}
        limit = min(int(q.get("limit", 25)), 100)
        start = 0
        if "after" in q:
            names = [c["data"]["name"] for c in children]
            start = names.index(q["after"]) + 1 if q["after"] in names else len(children)
        page = children[start:start + limit]
        after = page[-1]["data"]["name"] if page and start + limit < len(children) else None
        body = {"kind": "Listing", "data": {"after": after, "dist": len(page), "modhash": "", "geo_filter": "",
                                            "children": page, "before": None}}
        return Reply(body=json.dumps(body, ensure_ascii=False))

    return respond


def discourse_latest(topics: list[dict[str, Any]], per_page: int = 30) -> Responder:
    """``/latest.json?page=N`` semantics with ``more_topics_url`` while more remain."""

    def respond(seen: Seen) -> Reply:
        page_no = int(seen.query.get("page", ["0"])[0])
        page = topics[page_no * per_page:(page_no + 1) * per_page]
        tl: dict[str, Any] = {"can_create_topic": False, "per_page": per_page, "top_tags": [], "topics": page}
        if (page_no + 1) * per_page < len(topics):
            tl["more_topics_url"] = f"/latest?no_definitions=true&page={page_no + 1}"
        return Reply(body=json.dumps({"users": [], "primary_groups": [], "flair_groups": [], "topic_list": tl},
                                     ensure_ascii=False))

    return respond


def json_reply(data: Any, **kw: Any) -> Reply:
    return Reply(body=json.dumps(data, ensure_ascii=False), content_type=JSON, **kw)


# ------------------------------------------------------------------ generated German posts
def sentence(i: int) -> str:
    w = _WORDS
    return (f"{w[i % len(w)]} in {_PLACES[i % len(_PLACES)]}: seit {i % 24}:{i % 60:02d} Uhr Probleme mit "
            f"{w[(i * 7) % len(w)]} und {w[(i * 3) % len(w)]}, Meldung Nr. {i}.")


def when(i: int, base: datetime = datetime(2025, 5, 12, 12, 0, tzinfo=UTC)) -> datetime:
    return base - timedelta(minutes=i)


def make_status(i: int, host: str = "social.example") -> dict[str, Any]:
    sid = str(113_000_000_000_000_000 + i)
    return {"id": sid, "created_at": when(i).isoformat().replace("+00:00", "Z"), "in_reply_to_id": None,
            "spoiler_text": "", "visibility": "public", "language": "de",
            "uri": f"https://{host}/users/u{i % 500}/statuses/{sid}", "url": f"https://{host}/@u{i % 500}/{sid}",
            "content": f"<p>{sentence(i)} <a href=\"https://{host}/tags/nordnetz\" class=\"mention hashtag\" "
                       f"rel=\"tag\">#<span>nordnetz</span></a></p>",
            "reblog": None, "edited_at": None,
            "account": {"id": str(i % 500), "username": f"u{i % 500}", "acct": f"u{i % 500}",
                        "display_name": f"Nutzer {i % 500}"},
            "media_attachments": [], "mentions": [], "tags": [{"name": "nordnetz"}], "emojis": []}


def make_reddit_post(i: int) -> dict[str, Any]:
    return {"kind": "t3", "data": {
        "name": f"t3_b{i:06d}", "id": f"b{i:06d}", "title": f"Frage {i}: {_WORDS[i % len(_WORDS)]} kaputt?",
        "selftext": sentence(i), "author": f"user{i % 700}", "created_utc": when(i).timestamp(),
        "permalink": f"/r/nordnetz/comments/b{i:06d}/frage_{i}/", "num_comments": 0, "subreddit": "nordnetz"}}


def make_rss(n: int, offset: int = 0) -> bytes:
    items = []
    for i in range(offset, offset + n):
        items.append(
            f"<item><title>Meldung {i}</title><link>https://news.example/{i}</link>"
            f"<guid isPermaLink=\"false\">news-{i}</guid>"
            f"<pubDate>{when(i).strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
            f"<description>&lt;p&gt;{sentence(i)}&lt;/p&gt;</description></item>")
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><rss version=\"2.0\"><channel><title>News</title>"
            "<link>https://news.example/</link><description>Meldungen</description><language>de</language>"
            + "".join(items) + "</channel></rss>").encode("utf-8")


def make_topic(topic_id: int, n_posts: int, host: str = "forum.example") -> tuple[dict[str, Any], dict[str, Any]]:
    """(latest.json topic entry, /t/<slug>/<id>.json answer with every post in one chunk)."""
    slug = f"thema-{topic_id}"
    posts = [{"id": topic_id * 1000 + n, "username": f"f{(topic_id + n) % 300}", "post_number": n, "post_type": 1,
              "created_at": when(topic_id * 10 + n).isoformat().replace("+00:00", "Z"),
              "cooked": f"<p>{sentence(topic_id * 100 + n)}</p>", "reply_to_post_number": None,
              "topic_id": topic_id, "topic_slug": slug}
             for n in range(1, n_posts + 1)]
    last = posts[-1]["created_at"]
    entry = {"id": topic_id, "title": f"Thema {topic_id}: {_WORDS[topic_id % len(_WORDS)]}", "slug": slug,
             "posts_count": n_posts, "highest_post_number": n_posts, "last_posted_at": last, "bumped_at": last}
    topic = {"id": topic_id, "title": entry["title"], "slug": slug, "posts_count": n_posts,
             "post_stream": {"posts": posts, "stream": [p["id"] for p in posts]}}
    return entry, topic


def make_review(i: int, app_id: str = "1234567890") -> dict[str, Any]:
    lab = lambda v: {"label": v}  # noqa: E731 - Apple wraps every value like this
    return {"author": {"uri": lab(f"https://itunes.apple.com/de/reviews/id{900000 + i % 800}"),
                       "name": lab(f"Kunde{i % 800}"), "label": ""},
            "updated": lab((when(i) - timedelta(hours=7)).strftime("%Y-%m-%dT%H:%M:%S-07:00")),
            "im:rating": lab(str(1 + i % 5)), "im:version": lab("5.2.0"), "id": lab(str(11_000_000_000 + i)),
            "title": lab(f"Bewertung {i}"), "content": {"label": sentence(i), "attributes": {"type": "text"}},
            "link": {"attributes": {"rel": "related", "href": f"https://itunes.apple.com/de/review?id={app_id}"}},
            "im:voteSum": lab("0"), "im:voteCount": lab("0")}


def appstore_pages(reviews: list[dict[str, Any]], per_page: int = 50) -> Responder:
    """``/<cc>/rss/customerreviews/page=<n>/id=<app>/sortBy=mostRecent/json``: 50 a page, at most 10 pages."""

    def respond(seen: Seen) -> Reply:
        import re

        m = re.search(r"/page=(\d+)/", seen.path)
        n = int(m.group(1)) if m else 1
        page = reviews[(n - 1) * per_page:n * per_page] if n <= 10 else []
        feed: dict[str, Any] = {"author": {"name": {"label": "iTunes Store"}}, "link": [], "id": {"label": seen.path}}
        if page:
            feed["entry"] = page
        return Reply(body=json.dumps({"feed": feed}, ensure_ascii=False))

    return respond
