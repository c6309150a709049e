"""Shared steps of the invitation tests: a harness with a mailbox, chat turns, signup forms."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from handlers.invitations.service import InvitationService
from integrations.mail import MailSenderDirectory
from integrations.whatsapp import Buttons
from storage import invitations as repo
from storage.accounts import create_api_token, ensure_default_org
from storage.invitations import Invitation
from tests.conftest import Harness, button_message, text_message
from tests.fakes import FakeMailDirectory

ADMIN_PHONE = "+2250707000001"
ADMIN_DIGITS = "2250707000001"
CHEAP_ARGON2 = {"password_hash_time_cost": 1, "password_hash_memory_kib": 1024, "password_hash_parallelism": 1}
STRONG = "Vélo-Rouge-2026!"
LINK = re.compile(r"https?://[^/\s]+(/api/accounts/client-signup/([0-9a-f]{64})/)")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def start(make_harness: Any, *, mail: FakeMailDirectory | None = None, language: str | None = None,
          **overrides: Any) -> Harness:
    """An app with an admin user and a fake mailbox directory."""
    h: Harness = make_harness(**{**CHEAP_ARGON2, **overrides})
    h.add_user(ADMIN_PHONE, "Awa Kouassi", admin=True, language=language)
    if mail is not None:
        h.services.provide(mail, as_type=MailSenderDirectory)
    return h


def service(h: Harness) -> InvitationService:
    """The invitation service of a harness."""
    return h.services.get(InvitationService)


def settle(h: Harness) -> None:
    """Wait for the worker, the background mailer, then the worker again (its confirmation)."""
    h.drain()
    service(h).wait_mailer()
    h.drain()


def say(h: Harness, text: str) -> list[Any]:
    """The admin types ``text``; returns what the bot sent back in this turn."""
    before = len(h.whatsapp.outbox)
    h.post(text_message(text, phone=ADMIN_DIGITS))
    settle(h)
    return [s.message for s in h.whatsapp.outbox[before:]]


def press(h: Harness, reply_id: str, title: str = "button") -> list[Any]:
    """The admin taps a reply button."""
    before = len(h.whatsapp.outbox)
    h.post(button_message(reply_id, title, phone=ADMIN_DIGITS))
    settle(h)
    return [s.message for s in h.whatsapp.outbox[before:]]


def bodies(messages: list[Any]) -> list[str]:
    """The visible texts of messages."""
    return [str(getattr(m, "body", "")) for m in messages]


def buttons_of(messages: list[Any]) -> list[tuple[str, str]]:
    """(id, title) of every reply button in messages."""
    return [(b.id, b.title) for m in messages if isinstance(m, Buttons) for b in m.buttons]


def link_in(text: str) -> tuple[str, str]:
    """(path, token) of the signup link in a text."""
    match = LINK.search(text)
    assert match, f"no signup link in {text!r}"
    return match.group(1), match.group(2)


def invitation(h: Harness, invitation_id: int) -> Invitation:
    """An invitation as stored."""
    with h.services.db.session() as session:
        row = session.get(Invitation, invitation_id)
        assert row is not None
        session.expunge(row)
        return row


def latest_invitation(h: Harness) -> Invitation:
    """The newest invitation."""
    with h.services.db.session() as session:
        row = session.scalars(select(Invitation).order_by(Invitation.id.desc())).first()
        assert row is not None
        session.expunge(row)
        return row


def count(h: Harness, model: Any, *where: Any) -> int:
    """How many rows of a model match."""
    with h.services.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def create_invitation(h: Harness, email: str = "jean@exemple.fr", *, name: str | None = "Jean Dupont",
                      language: str = "fr") -> tuple[int, str]:
    """A pending invitation with one live link, made directly through the service."""
    svc = service(h)
    with h.services.db.write() as session:
        org = ensure_default_org(session, "Test Org")
        row = svc.create(session, org, email=email, name=name, language=language, via="api")
        token = repo.issue_token(session, row, "link", h.clock.now())
        return row.id, token


def signup_path(token: str) -> str:
    """The signup page of a token."""
    return f"/api/accounts/client-signup/{token}/"


def csrf_of(html: str) -> str:
    """The CSRF token of a rendered form."""
    match = CSRF.search(html)
    assert match, "no CSRF field in the page"
    return match.group(1)


def submit_signup(h: Harness, token: str, *, name: str = "Jean Dupont", password: str = STRONG,
                  confirm: str | None = None, extra: dict[str, str] | None = None,
                  headers: dict[str, str] | None = None) -> Any:
    """Open the signup page, then post the form as a browser would."""
    page = h.client.get(signup_path(token))
    assert page.status_code == 200, page.text
    data = {"csrf": csrf_of(page.text), "name": name, "password": password,
            "password_confirm": password if confirm is None else confirm, **(extra or {})}
    return h.client.post(signup_path(token), data=data, headers=headers, follow_redirects=False)


def api_token(h: Harness) -> dict[str, str]:
    """Authorization headers with a fresh admin API token."""
    with h.services.db.write() as session:
        org = ensure_default_org(session, "Test Org")
        token = create_api_token(session, org, "tests")
    return {"Authorization": f"Bearer {token}"}
