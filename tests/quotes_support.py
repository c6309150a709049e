"""Helpers for the quotes tests: talking to the bot, waiting for its background jobs, reading PDFs."""

from __future__ import annotations

import io
import re
import subprocess
from typing import Any

from sqlalchemy import select

from handlers.quotes.clients import ClientFields
from handlers.quotes.service import QuoteService
from handlers.quotes.settings import update_settings
from integrations.whatsapp import Buttons, Document, ListMessage
from storage.accounts import ensure_default_org
from storage.models import ConversationState
from storage.quotes import Client, Quote, add_client
from tests.conftest import Harness, button_message, text_message
from tests.fakes import Sent

PHONE = "+2250707000001"
DIGITS = "2250707000001"

ORG_SETTINGS: dict[str, Any] = {
    "legal_name": "Atelier Kouassi SARL",
    "address": "Rue des Jardins 12\nAbidjan Cocody",
    "registration_number": "RCCM CI-ABJ-2024-B-12345",
    "city": "Abidjan",
    "vat_rate": "20",
}


def settle(h: Harness) -> None:
    """Wait for the worker, then the quote jobs it started, then the messages they queued."""
    h.drain()
    h.services.get(QuoteService).jobs.wait_idle()
    h.drain()


def run_jobs(h: Harness) -> None:
    """What the periodic sweep does: pick up retries that came due."""
    h.services.get(QuoteService).jobs.kick()
    settle(h)


def say(h: Harness, text: str) -> list[Sent]:
    """Send a text as the test user; the bot's messages in answer."""
    before = len(h.whatsapp.outbox)
    h.post(text_message(text, phone=DIGITS))
    settle(h)
    return h.whatsapp.outbox[before:]


def press(h: Harness, reply_id: str, title: str = "…") -> list[Sent]:
    """Press a reply button."""
    before = len(h.whatsapp.outbox)
    h.post(button_message(reply_id, title, phone=DIGITS))
    settle(h)
    return h.whatsapp.outbox[before:]


def choose(h: Harness, row_id: str, title: str = "…") -> list[Sent]:
    """Pick a row of a list message."""
    body = button_message(row_id, title, phone=DIGITS)
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message["interactive"] = {"type": "list_reply", "list_reply": {"id": row_id, "title": title}}
    before = len(h.whatsapp.outbox)
    h.post(body)
    settle(h)
    return h.whatsapp.outbox[before:]


def texts(sent: list[Sent]) -> list[str]:
    """Visible texts of messages."""
    return [s.text for s in sent]


def buttons_of(sent: list[Sent]) -> dict[str, str]:
    """Button titles → ids, across messages."""
    found = {}
    for s in sent:
        if isinstance(s.message, Buttons):
            found.update({b.title: b.id for b in s.message.buttons})
    return found


def rows_of(sent: list[Sent]) -> dict[str, str]:
    """List row titles → ids, across messages."""
    found = {}
    for s in sent:
        if isinstance(s.message, ListMessage):
            found.update({r.title: r.id for section in s.message.sections for r in section.rows})
    return found


def documents(sent: list[Sent]) -> list[Document]:
    """Documents among messages."""
    return [s.message for s in sent if isinstance(s.message, Document)]


def pdf_text(pdf: bytes) -> str:
    """A PDF's text with whitespace (including narrow no-break spaces) collapsed to single spaces."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    raw = " ".join(page.extract_text() or "" for page in reader.pages)
    return squash(raw)


def pdftotext(pdf: bytes) -> str:
    """Poppler's view of a PDF's text, whitespace collapsed."""
    result = subprocess.run(["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True)
    return squash(result.stdout.decode())


def squash(text: str) -> str:
    """Every run of whitespace (no-break spaces too) as one plain space."""
    return re.sub(r"[\s\u00a0\u202f]+", " ", text).strip()


def setup_org(h: Harness, **settings: Any) -> int:
    """Give the default organization its document settings; returns its id."""
    with h.services.db.write() as session:
        org = ensure_default_org(session, "Test Org")
        update_settings(org, {**ORG_SETTINGS, **settings})
        return org.id


def add_clients(h: Harness, *clients: ClientFields) -> list[int]:
    """Store clients in the default organization."""
    with h.services.db.write() as session:
        org = ensure_default_org(session, "Test Org")
        return [add_client(session, org.id, h.clock.now(), **c.as_dict()).id for c in clients]


DUPONT = ClientFields(name="Boulangerie Dupont SARL", company="Boulangerie Dupont SARL",
                      email="contact@boulangerie-dupont.fr", city="Lyon", project_type="Automatisation Académias")
ACADEMIAS = ClientFields(name="Académias", company="Académias", city="Abidjan",
                         mission_context="Industrialiser la production de modules de formation")


def quotes(h: Harness) -> list[Quote]:
    """Every document, oldest first."""
    with h.services.db.session() as session:
        rows = list(session.scalars(select(Quote).order_by(Quote.id)))
        for row in rows:
            _ = row.pdf
            session.expunge(row)
        return rows


def client_named(h: Harness, name: str) -> Client | None:
    """A client by exact name."""
    with h.services.db.session() as session:
        client = session.scalars(select(Client).where(Client.name == name)).first()
        if client is not None:
            session.expunge(client)
        return client


def conversation(h: Harness) -> ConversationState | None:
    """The test user's conversation state."""
    with h.services.db.session() as session:
        row = session.scalars(select(ConversationState)).first()
        if row is not None:
            session.expunge(row)
        return row
