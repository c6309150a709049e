"""In a real headless chromium (Debian's, driven by Playwright): the signup page and the contact form.

The app runs under a real uvicorn server on a loopback port (tests/browser.py). They are skipped
only when chromium is missing and there are no root rights to install it, never when CI is set.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Browser, expect, sync_playwright
from sqlalchemy import select

from bot.app import create_app
from bot.bootstrap import build_services
from bot.services import Services
from handlers.invitations.service import InvitationService
from integrations.mail import MailSenderDirectory
from storage import invitations as repo
from storage.accounts import add_user, ensure_default_org
from storage.invitations import ClientAccount, ContactMessage, Invitation
from tests.browser import CHROMIUM_ARGS, require_chromium, serve
from tests.conftest import make_settings
from tests.fakes import FakeClock, FakeMailDirectory, FakeWhatsApp
from tests.invitation_helpers import ADMIN_DIGITS, CHEAP_ARGON2, STRONG, signup_path

pytestmark = pytest.mark.browser

@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = require_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Site:
    url: str
    services: Services
    whatsapp: FakeWhatsApp


@pytest.fixture
def site(db_url: str, clock: FakeClock) -> Iterator[Site]:
    settings = make_settings(db_url, **CHEAP_ARGON2)
    whatsapp = FakeWhatsApp()
    services = build_services(settings, clock=clock, whatsapp=whatsapp)
    services.provide(FakeMailDirectory(), as_type=MailSenderDirectory)
    with services.db.write() as session:
        org = ensure_default_org(session, "Test Org")
        add_user(session, org, name="Awa Kouassi", phone="+" + ADMIN_DIGITS, admin=True)
    try:
        with serve(create_app(settings, services)) as url:
            yield Site(url, services, whatsapp)
    finally:
        services.db.dispose()


def eventually(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll until ``check`` returns something truthy, with a deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_signup_in_the_browser_with_live_validation(browser: Browser, site: Site) -> None:
    services = site.services
    with services.db.write() as session:
        org = ensure_default_org(session, "Test Org")
        invitation = services.get(InvitationService).create(session, org, email="jean.dupont@exemple.fr",
                                                            name="Jean", language="fr", via="api")
        token = repo.issue_token(session, invitation, "email", services.clock.now())
        invitation_id = invitation.id
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="fr-FR")
    page = context.new_page()
    page.goto(site.url + signup_path(token))

    email = page.locator("#email")
    expect(email).to_have_value("jean.dupont@exemple.fr")
    expect(email).not_to_be_editable()
    expect(page.locator("#name")).to_have_value("Jean")
    page.fill("#name", "Jean Dupont")

    page.locator("#password").press_sequentially("abc")
    expect(page.locator("#password-error")).to_have_text("Le mot de passe doit faire au moins 10 caractères.")
    expect(page.locator('li[data-rule="too_short"]')).to_have_class("ko")
    expect(page.locator('li[data-rule="no_lower"]')).to_have_class("ok")
    page.fill("#password", "Password1!")
    expect(page.locator("#password-error")).to_contain_text("Ce mot de passe est trop courant")
    page.fill("#password", "Jean.Dupont-2026!")
    expect(page.locator("#password-error")).to_have_text(
        "Le mot de passe ne doit pas contenir votre adresse e-mail (la partie avant le @).")
    page.fill("#password", STRONG)
    expect(page.locator("#password-error")).to_have_text("")
    expect(page.locator("#password-rules li.ko")).to_have_count(0)

    page.fill("#password_confirm", STRONG + "x")
    expect(page.locator("#password_confirm-error")).to_have_text("Les deux mots de passe ne sont pas identiques.")
    page.click("#create")  # refused in the browser: nothing is posted
    expect(page.locator("#password_confirm")).to_be_focused()
    with services.db.session() as session:
        assert session.scalars(select(ClientAccount)).first() is None

    page.fill("#password_confirm", STRONG)
    expect(page.locator("#password_confirm-error")).to_have_text("")
    page.click("#create")
    page.wait_for_url(site.url + "/account")
    expect(page.locator("#hello")).to_have_text("Bonjour Jean Dupont")
    expect(page.locator("#no-quotes")).to_be_visible()

    cookie = next(c for c in context.cookies() if c["name"] == "courrier_client")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax" and cookie["secure"] is False
    with services.db.session() as session:
        account = session.scalars(select(ClientAccount)).one()
        row = session.get(Invitation, invitation_id)
        assert row is not None
        assert (account.email, account.name) == ("jean.dupont@exemple.fr", "Jean Dupont")
        assert row.status == "used" and row.used_ip == "127.0.0.1" and "Chrome" in (row.used_user_agent or "")
    eventually(lambda: any("a créé son compte client" in s.text for s in site.whatsapp.outbox))

    page.goto(site.url + signup_path(token))
    expect(page.locator("#message")).to_contain_text("Ce lien n'est pas ou plus valable.")
    context.close()


def test_sending_the_contact_form_in_the_browser(browser: Browser, site: Site) -> None:
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    page.goto(site.url + "/contact")
    expect(page.locator("h1")).to_have_text("Contact us")
    page.fill("#name", "John Smith")
    page.fill("#email", "john@example.com")
    page.fill("#subject", "Roof quote")
    page.fill("#message", "Hello,\nCould you quote my roof?")
    page.click("#send")
    expect(page.locator("#sent")).to_have_text(
        "Thank you, your message has been sent. We will get back to you very soon.")
    with site.services.db.session() as session:
        contact = session.scalars(select(ContactMessage)).one()
        assert (contact.name, contact.email, contact.language, contact.source) == (
            "John Smith", "john@example.com", "en", "form")
        assert contact.message == "Hello,\nCould you quote my roof?"
    notice = eventually(lambda: [s for s in site.whatsapp.outbox if "Nouveau message de contact" in s.text])
    assert "John Smith" in notice[0].text

    page.goto(site.url + "/contact?lang=fr")
    page.fill("#name", "Jean")
    page.fill("#email", "pas-une-adresse")
    page.fill("#message", "Bonjour")
    page.click("#send")
    expect(page.locator("#email-error")).to_have_text(
        "« pas-une-adresse » n'est pas une adresse e-mail valide (exemple : jean@exemple.fr).")
    expect(page.locator("#message")).to_have_value("Bonjour")
    context.close()
