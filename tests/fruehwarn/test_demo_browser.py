"""The demo as a newcomer meets it, in Debian's headless Chromium: start the demo world with
its dashboard, let the pipeline raise the outage, log in with the demo account, find the
issue on the triage page, approve its customer notice, and see the notice delivered.
Screenshots of each page go to $DASHBOARD_SCREENSHOTS (else the test's tmp dir)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sqlmodel import select

from config import load_settings
from fruehwarn.demo import DEMO_PASSWORD, DEMO_USER, start_demo
from fruehwarn.scheduler import Pipeline, default_stages
from storage.db import session_scope
from storage.models import Delivery, Issue, Notice
from tests.browser_support import ARGS, CHROMIUM, PAGE_TIMEOUT_MS, free_port, require_chromium

pytestmark = pytest.mark.browser


def test_demo_issue_found_and_notice_approved_in_chromium(tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    base = load_settings(data_dir=tmp_path / "data", model={"encoder": "fake"})
    demo = start_demo(base, manual_approval=True, head_start=120, dashboard_port=free_port())
    shots = Path(os.environ.get("DASHBOARD_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    try:
        pipeline = Pipeline(demo.settings, demo.engine, default_stages(demo.settings))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            pipeline.run_all_once()
            with session_scope(demo.engine) as s:
                draft = s.exec(select(Notice).where(Notice.status == "draft")).first()
            if draft is not None:
                break
        assert draft is not None, "the demo outage produced no draft notice"
        with session_scope(demo.engine) as s:
            issue = s.get(Issue, draft.issue_id)
            assert issue is not None
            issue_id, title = issue.id, issue.title
        assert demo.counts()["sent"] > 0  # the team alert went out at once, before any approval
        with session_scope(demo.engine) as s:  # nothing reaches a customer before a person approves
            assert s.exec(select(Delivery).where(Delivery.notice_id == draft.id)).first() is None

        url = f"http://127.0.0.1:{demo.settings.dashboard.port}"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 2200})
                page.set_default_timeout(PAGE_TIMEOUT_MS)
                page.goto(url)
                page.get_by_label("Benutzername").fill(DEMO_USER)
                page.get_by_label("Passwort").fill(DEMO_PASSWORD)
                page.get_by_role("button", name="Anmelden").click()
                page.get_by_role("link", name="Lage").click()
                page.wait_for_selector("h1:has-text('Lage')")
                card = page.locator(f".st-key-issue_{issue_id}")
                expect(card.get_by_text(title, exact=False).first).to_be_visible()
                page.wait_for_timeout(1500)
                page.screenshot(path=str(shots / "demo_1_lage.png"), full_page=True)
                card.get_by_role("button", name="Freigeben").click()
                page.wait_for_selector(f"text=Hinweis {draft.id} freigegeben")
                page.screenshot(path=str(shots / "demo_2_freigegeben.png"), full_page=True)
                for name in ("Themen", "Benachrichtigungen", "Quellen"):
                    page.get_by_role("link", name=name).click()
                    page.wait_for_selector(f"h1:has-text('{name}')")
                    page.wait_for_timeout(1500)
                    page.screenshot(path=str(shots / f"demo_3_{name.lower()}.png"), full_page=True)
            finally:
                browser.close()

        with session_scope(demo.engine) as s:
            assert s.get(Notice, draft.id).approved_by == DEMO_USER  # type: ignore[union-attr]
        # the approved notice now reaches the subscribers through the outbox
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(h["hook"] == "kunden" for h in demo.world.hooks()):
            pipeline.alert()
        assert any(h["hook"] == "kunden" for h in demo.world.hooks()), "approved notice was not delivered"
        assert any("Störung" in (m["subject"] or "") for m in demo.smtp.messages())
    finally:
        demo.stop()
    assert len(list(shots.glob("demo_*.png"))) == 5
