"""The invitation email as it arrives at a real SMTP server (aiosmtpd on loopback): MIME and content.

Mail routes are pluggable: each one pairs a MailSenderDirectory with a way to read what the far
end received. Today's route is a minimal smtplib sender into aiosmtpd; when the mailboxes work
lands, add routes for its real SMTP adapter (into the same sink) and for its Gmail adapter
against the fake Gmail server, and every test below runs through them too.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from integrations.mail import MailSenderDirectory, OutgoingEmail, SentReceipt, build_mime
from tests.browser import free_port
from tests.conftest import Harness
from tests.invitation_helpers import latest_invitation, link_in, press, say, start

SENDER = "contact@atelier-demo.fr"


@dataclass
class Received:
    """One message as the receiving server got it."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage


@dataclass
class Sink:
    """An aiosmtpd handler that keeps every message."""

    messages: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), raw, parsed))
        return "250 Message accepted"


@pytest.fixture(scope="module")
def smtp_sink() -> Iterator[tuple[Sink, int]]:
    """A real SMTP server on a loopback port for this module."""
    sink = Sink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


class SmtplibSender:
    """The smallest MailSender over SMTP, for this test only (the mailboxes work brings the real adapter)."""

    def __init__(self, host: str, port: int, address: str) -> None:
        self._host, self._port, self._address = host, port, address

    @property
    def address(self) -> str:
        return self._address

    def send(self, email: OutgoingEmail) -> SentReceipt:
        message = build_mime(email, self._address, date=datetime.now(UTC))
        with smtplib.SMTP(self._host, self._port, timeout=10) as smtp:
            smtp.send_message(message, from_addr=self._address, to_addrs=list(email.recipients))
        return SentReceipt(message_id=email.message_id)

    def find_sent(self, message_id: str) -> bool:
        return False


@dataclass
class MailRoute:
    """A sender directory and what the far end received through it."""

    directory: MailSenderDirectory
    received: Callable[[], list[Received]]


def smtplib_into_aiosmtpd(request: pytest.FixtureRequest) -> MailRoute:
    sink, port = request.getfixturevalue("smtp_sink")
    sink.messages.clear()
    sender = SmtplibSender("127.0.0.1", port, SENDER)

    class Directory:
        def sender_for(self, org_id: int, mailbox_id: int | None = None) -> SmtplibSender:
            return sender

    return MailRoute(Directory(), lambda: list(sink.messages))


# Add the real SMTP adapter and the fake Gmail server here when the mailboxes work is merged.
ROUTES: dict[str, Callable[[pytest.FixtureRequest], MailRoute]] = {
    "smtplib-aiosmtpd": smtplib_into_aiosmtpd,
}


@pytest.fixture(params=sorted(ROUTES))
def route(request: pytest.FixtureRequest) -> MailRoute:
    return ROUTES[request.param](request)


def parts(message: EmailMessage) -> tuple[EmailMessage, EmailMessage]:
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert isinstance(plain, EmailMessage) and isinstance(html, EmailMessage)
    return plain, html


def test_the_french_invitation_email_through_smtp(make_harness: Any, route: MailRoute) -> None:
    h: Harness = start(make_harness)
    h.services.provide(route.directory, as_type=MailSenderDirectory)
    say(h, 'inviter jean@exemple.fr "Ravi de vous compter parmi nous <b>&</b>"')
    invitation = latest_invitation(h)
    assert invitation.mail_state == "sent"

    [received] = route.received()
    message = received.message
    assert received.mail_from == SENDER and received.rcpt_tos == ["jean@exemple.fr"]
    assert message["From"].addresses[0].addr_spec == SENDER
    assert message["From"].addresses[0].display_name == "Test Org"
    assert message["To"].addresses[0].addr_spec == "jean@exemple.fr"
    assert message["Subject"] == "Test Org vous invite à créer votre compte client"
    assert b"=?utf-8?" in received.raw.split(b"\r\n\r\n", 1)[0].lower()  # the accented subject is RFC 2047 encoded
    assert message["Message-ID"] == invitation.mail_message_id
    assert message["Date"] is not None

    plain, html = parts(message)
    assert plain.get_content_charset() == "utf-8" and html.get_content_charset() == "utf-8"
    text = plain.get_content().replace("\r\n", "\n")
    assert "Pour rappel" not in text
    assert text.startswith("Bonjour,\n\nTest Org vous invite à créer votre compte client.")
    assert "Awa Kouassi vous écrit :\n> Ravi de vous compter parmi nous <b>&</b>" in text
    path, token = link_in(text)
    assert f"http://testserver{path}" in text
    assert "Ce lien est valable jusqu'au vendredi 27 novembre 2026 à 10:00 (heure d’Europe centrale)." in text
    assert "ce lien est personnel et ne fonctionne qu'une seule fois" in text
    assert "ne vous demandera jamais votre mot de passe" in text

    body = html.get_content()
    assert f'href="http://testserver{path}"' in body
    assert "Ravi de vous compter parmi nous &lt;b&gt;&amp;&lt;/b&gt;" in body
    assert "<b>&</b>" not in body
    assert "vendredi 27 novembre 2026 à 10:00" in body
    assert "Créer mon compte" in body

    assert h.client.get(path).status_code == 200
    assert len(token) == 64


def test_the_english_invitation_email_quotes_the_contact_message(make_harness: Any, route: MailRoute) -> None:
    h: Harness = start(make_harness, language="en")
    h.services.provide(route.directory, as_type=MailSenderDirectory)
    h.client.post("/api/contact", json={"name": "John Smith", "email": "john@example.com", "lang": "en",
                                        "subject": "Roof quote", "message": "Hello,\nCould you quote my roof?"})
    h.drain()
    button = h.whatsapp.outbox[-1].message.buttons[0]  # type: ignore[union-attr]
    assert button.title == "Invite"
    press(h, button.id, button.title)
    [received] = route.received()
    message = received.message
    assert message["Subject"] == "Test Org invites you to create your client account"
    plain, html = parts(message)
    text = plain.get_content().replace("\r\n", "\n")
    assert text.startswith("Hello John Smith,\n\nTest Org invites you to create your client account.")
    assert 'As a reminder, your message of Friday, November 20, 2026 at 10:00 am (Central European Time) ("Roof quote"):' in text
    assert "> Could you quote my roof?" in text
    assert "This link is valid until Friday, November 27, 2026 at 10:00 am (Central European Time)." in text
    assert "Security: this link is personal and works only once" in text
    assert "Could you quote my roof?" in html.get_content()
    assert "Create my account" in html.get_content()
    path, _ = link_in(text)
    assert h.client.get(path).status_code == 200
