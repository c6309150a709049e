"""The email a quote leaves as, checked where it arrives: a real SMTP server on loopback (aiosmtpd).

Each backend below gives a mailbox directory and a way to read the raw messages that reached
the other side. Today the only backend is a minimal smtplib sender over ``build_mime``; the
real adapters of the mailboxes feature (SMTP, Gmail API and Microsoft Graph against their
local fake servers) plug in by adding a backend to ``BACKENDS`` — the assertions stay the same.
"""

from __future__ import annotations

import email
import smtplib
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from integrations.mail import MailSenderDirectory, OutgoingEmail, SentReceipt, build_mime
from storage.accounts import create_api_token, ensure_default_org
from tests.conftest import Harness
from tests.quotes_support import add_clients, pdf_text, setup_org

LINKED = "facturation@atelier-kouassi.ci"


@dataclass
class Received:
    """One message as the SMTP server got it."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes


@dataclass
class Recorder:
    """aiosmtpd handler keeping every message it accepted."""

    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    """A running loopback SMTP server."""

    host: str
    port: int
    recorder: Recorder


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[SmtpServer]:
    """aiosmtpd on 127.0.0.1, one for the module."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, recorder)
    finally:
        controller.stop()


class SmtplibSender:
    """A minimal MailSender for this test: the shared MIME builder, sent with smtplib (no auth, no TLS)."""

    def __init__(self, server: SmtpServer, address: str) -> None:
        self._server = server
        self._address = address

    @property
    def address(self) -> str:
        """The linked mailbox's address."""
        return self._address

    def send(self, outgoing: OutgoingEmail) -> SentReceipt:
        """Build the MIME message and hand it to the SMTP server."""
        message = build_mime(outgoing, self._address)
        with smtplib.SMTP(self._server.host, self._server.port, timeout=10) as smtp:
            smtp.send_message(message, from_addr=self._address, to_addrs=list(outgoing.recipients))
        return SentReceipt(message_id=outgoing.message_id)

    def find_sent(self, message_id: str) -> bool:
        """An SMTP server keeps no sent folder."""
        return False


class SmtplibDirectory:
    """Every organization sends through the loopback server from the linked address."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    def sender_for(self, org_id: int, mailbox_id: int | None = None) -> SmtplibSender:
        """The loopback sender."""
        return SmtplibSender(self.server, LINKED)


@dataclass
class MailBackend:
    """A way to send (the directory) and to see what arrived (raw messages)."""

    directory: MailSenderDirectory
    received: Callable[[], list[Received]]


def smtp_loopback(server: SmtpServer) -> MailBackend:
    """build_mime + smtplib → aiosmtpd."""
    start = len(server.recorder.messages)
    return MailBackend(SmtplibDirectory(server), lambda: server.recorder.messages[start:])


# The lead adds the real adapters here once the mailboxes feature lands, e.g. "smtp-adapter"
# (SmtpMail → aiosmtpd), "gmail-fake" and "graph-fake" (their adapters → the local fake APIs).
BACKENDS: dict[str, Callable[[SmtpServer], MailBackend]] = {"smtp-loopback": smtp_loopback}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, smtp_server: SmtpServer) -> MailBackend:
    """Each way of sending, in turn."""
    return BACKENDS[request.param](smtp_server)


def test_a_sent_quote_is_multipart_mixed_with_the_pdf_utf8_subject_and_the_linked_from(
        make_harness: Callable[..., Harness], backend: MailBackend) -> None:
    h = make_harness(build={"mail_directory": backend.directory})
    setup_org(h)
    from handlers.quotes.clients import ClientFields

    [client_id] = add_clients(h, ClientFields(
        name="Élodie Kouamé", company="Académias", email="elodie@academias.ci", city="Abidjan",
        project_type="Automatisation Académias",
        mission_context="Industrialiser la production de modules de formation"))
    with h.services.db.write() as session:
        token = create_api_token(session, ensure_default_org(session, "Test Org"), "tests")
    response = h.client.post("/api/send-quote", headers={"Authorization": f"Bearer {token}"}, json={
        "clientId": client_id, "workflowSteps": ["Input", "Production", "Diffusion"], "budget": 150,
        "deadline": "13/12/2026"})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "sent" and response.json()["sentFrom"] == LINKED

    [received] = backend.received()
    assert received.mail_from == LINKED and received.rcpt_tos == ["elodie@academias.ci"]
    raw_headers = received.raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in received.raw else \
        received.raw.split(b"\n\n", 1)[0]
    assert b"=?utf-8?" in raw_headers.lower()  # the non-ASCII subject is RFC 2047 encoded, not raw bytes
    assert all(byte < 128 for byte in raw_headers)

    message = email.message_from_bytes(received.raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message.get_content_type() == "multipart/mixed"
    assert str(message["Subject"]) == "Devis DEV-2026-0001 — Automatisation Académias"
    assert message["From"].addresses[0].addr_spec == LINKED
    assert message["From"].addresses[0].display_name == "Atelier Kouassi SARL"
    assert message["To"].addresses[0].addr_spec == "elodie@academias.ci"
    with h.services.db.session() as session:
        from storage.quotes import Quote

        stored = session.get(Quote, response.json()["id"])
        assert stored is not None and message["Message-ID"] == stored.email_message_id

    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n").startswith("Bonjour Élodie Kouamé,\n\nVoici le devis pour le projet "
                                         "Automatisation Académias")
    html = message.get_body(preferencelist=("html",))
    assert html is not None and "<strong>Automatisation Académias</strong>" in html.get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "Devis-DEV-2026-0001.pdf"
    assert attachment.get_content_disposition() == "attachment"
    pdf = attachment.get_content()
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    assert "Élodie Kouamé" in text and "Industrialiser la production de modules de formation" in text
    assert h.client.get(f"/api/quotes/{response.json()['id']}.pdf",
                        headers={"Authorization": f"Bearer {token}"}).content == pdf
