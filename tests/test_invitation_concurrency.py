"""Twenty simultaneous submissions of one signup link, through a real uvicorn server: exactly one account."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from bot.app import create_app
from bot.bootstrap import build_services
from handlers.invitations.service import InvitationService
from storage import invitations as repo
from storage.accounts import add_user, ensure_default_org
from storage.invitations import ClientAccount, ClientSession, Invitation
from tests.browser import serve
from tests.conftest import make_settings
from tests.fakes import FakeClock, FakeWhatsApp
from tests.invitation_helpers import CHEAP_ARGON2, STRONG, csrf_of, signup_path

pytestmark = pytest.mark.postgres

RACERS = 20


def test_twenty_simultaneous_submissions_create_exactly_one_account(db_url: str, clock: FakeClock) -> None:
    settings = make_settings(db_url, **CHEAP_ARGON2)
    whatsapp = FakeWhatsApp()
    services = build_services(settings, clock=clock, whatsapp=whatsapp)
    with services.db.write() as session:
        org = ensure_default_org(session, "Test Org")
        add_user(session, org, name="Awa Kouassi", phone="+2250707000001", admin=True)
        invitation = services.get(InvitationService).create(session, org, email="jean@exemple.fr", language="fr",
                                                            via="api")
        token = repo.issue_token(session, invitation, "email", clock.now())
        invitation_id = invitation.id
    path = signup_path(token)
    results: list[Any] = [None] * RACERS
    try:
        with serve(create_app(settings, services)) as url:
            with httpx.Client(base_url=url) as browser:
                page = browser.get(path)
                assert page.status_code == 200
                csrf, cookie = csrf_of(page.text), browser.cookies["courrier_csrf"]
            barrier = threading.Barrier(RACERS)

            def race(i: int) -> None:
                with httpx.Client(base_url=url, cookies={"courrier_csrf": cookie}, timeout=120,
                                  headers={"User-Agent": f"racer-{i}"}) as client:
                    barrier.wait()
                    response = client.post(path, data={"csrf": csrf, "name": f"Racer {i}", "password": STRONG,
                                                       "password_confirm": STRONG})
                    results[i] = (response.status_code, response.headers.get("location"))

            threads = [threading.Thread(target=race, args=(i,)) for i in range(RACERS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=180)
            assert all(r is not None for r in results), "a racer did not finish"

        statuses = Counter(status for status, _ in results)
        assert statuses[303] == 1, statuses
        assert statuses[410] + statuses[429] == RACERS - 1, statuses
        winner = next(i for i, (status, _) in enumerate(results) if status == 303)
        assert results[winner][1] == "/account"
        with services.db.session() as session:
            accounts = session.scalars(select(ClientAccount)).all()
            assert [(a.email, a.name) for a in accounts] == [("jean@exemple.fr", f"Racer {winner}")]
            row = session.get(Invitation, invitation_id)
            assert row is not None
            assert (row.status, row.account_id, row.used_user_agent, row.used_ip) == (
                "used", accounts[0].id, f"racer-{winner}", "127.0.0.1")
            assert session.scalar(select(func.count()).select_from(ClientSession)) == 1
    finally:
        services.db.dispose()
