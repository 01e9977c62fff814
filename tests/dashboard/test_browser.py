"""End to end: the real dashboard on 127.0.0.1 in Debian's headless Chromium.

Starts ``dashboard.launch.command(settings)`` against the seeded database, logs in,
finds the emerging issue, approves its notice and saves a screenshot of each page
(to $DASHBOARD_SCREENSHOTS if set, else the test's tmp dir). Skips only where
/usr/bin/chromium is missing and CI is not "true"; in CI a missing browser fails.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from config import Settings
from dashboard.launch import command, environment
from storage.db import session_scope
from storage.models import AuditLog, Notice
from tests.browser_support import ARGS, CHROMIUM, PAGE_TIMEOUT_MS, free_port, require_chromium
from tests.dashboard.seed import MD_TRICK, PASSWORD, XSS_TEXT

pytestmark = pytest.mark.browser


@pytest.fixture
def server(settings: Settings, world: dict[str, Any], tmp_path: Path) -> Iterator[str]:
    require_chromium()
    settings.dashboard.host, settings.dashboard.port = "127.0.0.1", free_port()
    log = (tmp_path / "streamlit.log").open("wb")
    proc = subprocess.Popen(command(settings), env=environment(settings), stdout=log, stderr=subprocess.STDOUT,
                            cwd=tmp_path)
    base = f"http://127.0.0.1:{settings.dashboard.port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                    if r.read().decode().strip() == "ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("dashboard did not start:\n" + (tmp_path / "streamlit.log").read_text())
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_dashboard_in_chromium(server: str, engine: Engine, world: dict[str, Any], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = Path(os.environ.get("DASHBOARD_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 2400})
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.set_default_timeout(PAGE_TIMEOUT_MS)

            # no page and no data without login, whatever the URL
            page.goto(f"{server}/themen")
            page.wait_for_selector("text=Frühwarn – Anmeldung")
            assert "app login" not in page.inner_text("body")
            page.screenshot(path=str(shots / "0_anmeldung.png"), full_page=True)

            page.get_by_label("Benutzername").fill("chef")
            page.get_by_label("Passwort").fill(PASSWORD)
            page.get_by_role("button", name="Anmelden").click()

            page.wait_for_selector("h1:has-text('Themen')")  # lands on the page it asked for

            # Lage: the emerging issue, its reasons and posts shown literally
            page.get_by_role("link", name="Lage").click()
            page.wait_for_selector("h1:has-text('Lage')")
            issue = page.locator(f".st-key-issue_{world['issue']}")
            expect(issue.get_by_text("Störung Internet Berlin (offen)")).to_be_visible()
            expect(issue.get_by_text(XSS_TEXT, exact=True)).to_be_visible()
            expect(issue.get_by_text(MD_TRICK, exact=True)).to_be_visible()
            assert page.locator("a[href^='javascript:']").count() == 0
            page.wait_for_timeout(2000)  # let charts paint
            page.screenshot(path=str(shots / "1_lage.png"), full_page=True)

            issue.get_by_role("button", name="Freigeben").click()
            page.wait_for_selector(f"text=Hinweis {world['draft']} freigegeben")
            expect(issue.get_by_text("freigegeben", exact=False).first).to_be_visible()
            page.wait_for_timeout(800)
            page.screenshot(path=str(shots / "2_lage_freigegeben.png"), full_page=True)

            for name, marker in (("Themen", "Steigende Themen"), ("Benachrichtigungen", "Unzustellbar"),
                                 ("Quellen", "Letzte Fehler"), ("Benutzer", "Benutzer anlegen")):
                page.get_by_role("link", name=name).click()
                page.wait_for_selector(f"h1:has-text('{name}')")
                page.wait_for_selector(f"text={marker}")
                page.wait_for_timeout(1500)  # let charts and tables paint
                page.screenshot(path=str(shots / f"3_{name.lower()}.png"), full_page=True)
        finally:
            browser.close()
    assert dialogs == []  # the <script> in a post never ran
    with session_scope(engine) as s:
        notice = s.get(Notice, world["draft"])
        assert notice is not None and (notice.status, notice.approved_by) == ("approved", "chef")
        assert s.query(AuditLog).filter_by(action="notice.approve", actor="chef").count() == 1
    assert sorted(f.name for f in shots.glob("*.png")) == [
        "0_anmeldung.png", "1_lage.png", "2_lage_freigegeben.png", "3_benachrichtigungen.png", "3_benutzer.png",
        "3_quellen.png", "3_themen.png"]
