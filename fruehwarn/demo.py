"""The embedded demo: a whole fruehwarn world on 127.0.0.1, no internet needed.

``fruehwarn demo`` starts the demo platforms (RSS, Mastodon, Discourse) and the sinks
(SMTP, webhook), points the real crawlers at them, and runs the real pipeline on the
scheduler: posts arrive, the NordNetz outage becomes an emerging issue, the team's
alert lands in the webhook and mail sinks, and the customer notice (auto-approved in
the demo, unless ``--manual-approval``) reaches the demo subscribers; later the
outage is fixed and the "behoben" follow-up goes out. The dashboard runs beside it.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import func, select

from config import Settings, load_settings
from fruehwarn.demo_story import build_story
from fruehwarn.demo_world import DemoWorld, SmtpSink
from storage.db import init_db, session_scope
from storage.models import Classification, Delivery, Issue, Notice, Post

log = logging.getLogger("fruehwarn.demo")

DEMO_USER = "demo"
DEMO_PASSWORD = "nordnetz-demo"

# how the demo tunes the pipeline for a story told in minutes instead of hours
DEMO_OVERRIDES: dict[str, Any] = {
    "scheduler": {"classify_interval": 3, "detect_interval": 5, "deliver_interval": 2},
    "emergence": {"window": "3m", "long_window": "6m", "min_volume": 8, "resolve_after": "1m",
                  "cooldown": "10m", "flap_suppression": "2m"},
    "crawl": {"autothrottle": False, "download_delay": None, "max_pages": 10},
}


@dataclass
class DemoRun:
    """The running demo world and what it has produced so far."""

    settings: Settings
    engine: Engine
    world: DemoWorld
    smtp: SmtpSink
    dashboard: subprocess.Popen[bytes] | None = None
    started: float = field(default_factory=time.monotonic)
    _seen: dict[int, tuple[str, int]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        with session_scope(self.engine) as s:
            def n(stmt: Any) -> int:
                return int(s.exec(stmt).one())

            return {
                "posts": n(select(func.count()).select_from(Post)),
                "classified": n(select(func.count()).select_from(Classification)),
                "issues": n(select(func.count()).select_from(Issue)),
                "notices": n(select(func.count()).select_from(Notice)),
                "sent": n(select(func.count()).select_from(Delivery).where(Delivery.status == "sent")),
                "mails": len(list(self.smtp.folder.glob("*.eml"))),
                "webhooks": len(self.world.hooks()),
            }

    def events(self) -> list[str]:
        """New issues and state changes since the last call, as lines for the console."""
        out = []
        with session_scope(self.engine) as s:
            for issue in s.exec(select(Issue)).all():
                state = (issue.status, issue.reopened_count)
                if self._seen.get(issue.id) != state:  # type: ignore[arg-type]
                    self._seen[issue.id] = state  # type: ignore[index]
                    out.append(f">>> Issue #{issue.id} [{issue.status}] {issue.title} "
                               f"(Schwere {issue.severity:.0f}): {issue.reasons}")
        return out

    def stop(self) -> None:
        if self.dashboard is not None and self.dashboard.poll() is None:
            self.dashboard.terminate()
            try:
                self.dashboard.wait(10)
            except subprocess.TimeoutExpired:
                self.dashboard.kill()
        self.smtp.stop()
        self.world.stop()
        self.engine.dispose()


def demo_settings(base: Settings, world: DemoWorld, smtp: SmtpSink, *, manual_approval: bool) -> Settings:
    """The demo's settings: its sources, sinks and an accelerated pipeline."""
    url = world.base_url
    data = base.model_dump(mode="python")
    demo_dir = base.data_dir / "demo"
    data["data_dir"] = base.data_dir
    data["database_url"] = f"sqlite:///{(demo_dir / 'fruehwarn-demo.db').resolve()}"
    data["sources"] = [
        {"name": "nordnetz-community", "type": "rss", "url": f"{url}/community/rss.xml", "interval": 5},
        {"name": "mastodon-nordnetz", "type": "mastodon", "url": f"{url}/api/v1/timelines/tag/nordnetz",
         "interval": 5},
        {"name": "nordnetz-forum", "type": "discourse", "url": f"{url}/forum", "interval": 5},
    ]
    for section, values in DEMO_OVERRIDES.items():
        data[section] = {**data[section], **values}
    alerting = data["alerting"]
    alerting.update({
        "smtp_host": "127.0.0.1", "smtp_port": smtp.port, "smtp_user": None, "smtp_password": None,
        **({"public_base_url": f"http://{base.ops.public_host}:{base.ops.public_port}"} if base.ops.public_port else {}),
        "auto_approve_min_severity": None if manual_approval else 0.0,
        "team_channels": [
            {"name": "Team-Webhook (Mattermost-kompatibel)", "url": f"json://127.0.0.1:{world.server.server_address[1]}/hooks/team"},  # type: ignore[union-attr]
            {"name": "Team-Postfach", "url": "mailto://social-care@nordnetz.example"},
        ],
    })
    return load_settings(**data)


def seed_demo(settings: Settings, engine: Engine, world: DemoWorld) -> None:
    """The demo's dashboard user and opted-in subscribers."""
    from alerting.subscribers import add_subscriber
    from storage.users import create_user, get_user

    hook = f"json://127.0.0.1:{world.server.server_address[1]}/hooks/kunden"  # type: ignore[union-attr]
    with session_scope(engine) as s:
        if get_user(s, DEMO_USER) is None:
            create_user(s, DEMO_USER, DEMO_PASSWORD, "admin", actor="demo")
        subscribers = [
            ("Jana Petersen", [("email", "jana.petersen@kunden.example"), ("sms", "+4915100000001")],
             ["Mobilfunk"], ["Hamburg"]),
            ("Mehmet Yıldız", [("webhook", hook), ("email", "mehmet.yildiz@kunden.example")],
             ["Mobilfunk", "Internet"], ["Hamburg"]),
            ("Sophie Wagner", [("email", "sophie.wagner@kunden.example")], ["Internet"], ["Hamburg"]),
            ("Lukas Brandt", [("email", "lukas.brandt@kunden.example")], ["Mobilfunk"], ["München"]),
        ]
        for name, channels, products, regions in subscribers:
            add_subscriber(s, name=name, channels=channels, products=products, regions=regions,
                           topics=["netz", "störung", "app"], confirmed=True)


def start_demo(base: Settings, *, fresh: bool = True, manual_approval: bool = False,
               dashboard: bool = True, dashboard_port: int | None = None, head_start: float = 0.0) -> DemoRun:
    """Start the world, the sinks, the database (and the dashboard); return the handle.

    ``head_start`` seconds of the story have already happened at start (tests use it to
    see the outage without waiting for it).
    """
    demo_dir = base.data_dir / "demo"
    if fresh and demo_dir.exists():
        shutil.rmtree(demo_dir)
    demo_dir.mkdir(parents=True, exist_ok=True)
    world = DemoWorld(build_story(), data_dir=demo_dir,
                      start=datetime.now(UTC) - timedelta(seconds=head_start)).start()
    smtp = SmtpSink(demo_dir / "mail").start()
    if dashboard_port is not None:
        base = base.model_copy(update={"dashboard": base.dashboard.model_copy(update={"port": dashboard_port})})
    settings = demo_settings(base, world, smtp, manual_approval=manual_approval)
    engine = init_db(settings)
    seed_demo(settings, engine, world)
    run = DemoRun(settings=settings, engine=engine, world=world, smtp=smtp)
    if dashboard:
        from fruehwarn.services import start_dashboard

        run.dashboard = start_dashboard(settings)
    return run


__all__ = ["DEMO_PASSWORD", "DEMO_USER", "DemoRun", "demo_settings", "seed_demo", "start_demo"]
