"""The sandbox chat page in a real headless browser, against a real uvicorn server."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import create_app
from bot.bootstrap import build_services
from storage.accounts import add_user, ensure_default_org
from tests.browser import browser_page, serve
from tests.conftest import make_settings

pytestmark = pytest.mark.browser


def test_sandbox_page_sends_aide_and_shows_the_help(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, sandbox=True)
    services = build_services(settings)
    with services.db.write() as session:
        org = ensure_default_org(session, "Atelier Test")
        user = add_user(session, org, name="Awa Kouassi", phone="+2250707000001", admin=True)
        user_id = user.id
    with serve(create_app(settings, services)) as base, browser_page() as page:
        page.goto(f"{base}/sandbox?user={user_id}")
        page.get_by_test_id("composer").fill("aide")
        page.get_by_test_id("send").click()
        reply = page.get_by_test_id("msg-out").filter(has_text="Ce que je sais faire")
        reply.wait_for()
        assert "statut" in reply.inner_text()
        page.get_by_test_id("composer").fill("langue en")
        page.keyboard.press("Enter")
        page.get_by_test_id("msg-out").filter(has_text="I'll answer in English").wait_for()
        page.screenshot(path=str(tmp_path / "sandbox.png"))
    services.db.dispose()
