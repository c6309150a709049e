"""Quotes and contracts end to end through the signed webhook: questions, preview, edit, send, problems."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from handlers.quotes.service import QuoteService
from integrations.mail import (
    MailboxNeedsRelink,
    MailSenderDirectory,
    NoLinkedMailbox,
    PermanentSendError,
    TransientMailError,
)
from integrations.pdf import PdfRenderer, WeasyPrintRenderer
from integrations.whatsapp import Buttons, Document, ListMessage, Text
from tests.conftest import Harness
from tests.fakes import FakeMailDirectory
from tests.quotes_support import (
    ACADEMIAS,
    DUPONT,
    PHONE,
    add_clients,
    buttons_of,
    client_named,
    conversation,
    documents,
    pdf_text,
    press,
    quotes,
    rows_of,
    run_jobs,
    say,
    setup_org,
    squash,
    texts,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def mail() -> FakeMailDirectory:
    """The organization's linked mailbox, faked."""
    return FakeMailDirectory()


@pytest.fixture
def start(make_harness: Callable[..., Harness], mail: FakeMailDirectory) -> Callable[..., Harness]:
    """Start the app with the fake mailbox directory, a user, the org's settings and two clients."""

    def run(renderer: PdfRenderer | None = None, directory: MailSenderDirectory | None = None) -> Harness:
        build: dict[str, Any] = {"mail_directory": directory or mail}
        if renderer is not None:
            build["pdf_renderer"] = renderer
        h = make_harness(build=build)
        h.add_user(PHONE, "Awa Kouassi", admin=True)
        setup_org(h)
        add_clients(h, DUPONT, ACADEMIAS)
        return h

    return run


@pytest.fixture
def app(start: Callable[..., Harness]) -> Harness:
    """The running app."""
    return start()


def quote_until_preview(h: Harness, opening: str = "envoie le devis à dupont") -> list[Any]:
    """Answer every question of a quote for Dupont; the messages of the preview."""
    assert "contexte de la mission" in texts(say(h, opening))[0]
    assert "étapes du workflow" in texts(say(h, "Industrialiser la production de modules de formation"))[0]
    assert "budget" in texts(say(h, "Input, Production, Diffusion"))[0]
    assert "échéance" in texts(say(h, "12 500 €"))[0]
    return say(h, "13/12/2026")


def test_a_quote_from_the_first_words_to_the_clients_inbox(app: Harness, mail: FakeMailDirectory) -> None:
    preview = quote_until_preview(app)
    [doc] = documents(preview)
    assert doc.filename == "Devis-DEV-2026-0001.pdf" and doc.mime_type == "application/pdf"
    text = pdf_text(doc.content)
    for expected in ("Boulangerie Dupont SARL", "Industrialiser la production de modules de formation", "Input",
                     "Production", "Diffusion", "12 500,00 €", "13/12/2026", "DEV-2026-0001",
                     "Émis le 20 novembre 2026", "Valable jusqu'au 20 décembre 2026", "15 000,00 €"):
        assert expected in text, expected
    body = squash([s for s in preview if isinstance(s.message, Buttons)][0].text)
    assert "contact@boulangerie-dupont.test" in body and "15 000,00 € TTC" in body
    assert set(buttons_of(preview)) == {"Envoyer", "Modifier", "Annuler"}
    [draft] = quotes(app)
    assert draft.status == "draft" and draft.total_cents == 1_500_000

    sent = press(app, buttons_of(preview)["Envoyer"], "Envoyer")
    assert texts(sent)[0] == "J'envoie le devis DEV-2026-0001 à contact@boulangerie-dupont.test…"
    assert texts(sent)[1] == ("✅ Le devis DEV-2026-0001 est parti : envoyé à contact@boulangerie-dupont.test "
                              "depuis contact@atelier-demo.test.")
    [email] = mail.mail.sent
    assert email.to == ("contact@boulangerie-dupont.test",)
    assert email.subject == "Devis DEV-2026-0001 — Automatisation Académias"
    assert email.text.startswith("Bonjour Boulangerie Dupont SARL,\n\nVoici le devis pour le projet "
                                 "Automatisation Académias (n° DEV-2026-0001)")
    assert email.from_name == "Atelier Kouassi SARL"
    [attachment] = email.attachments
    assert attachment.filename == "Devis-DEV-2026-0001.pdf" and attachment.content_type == "application/pdf"
    assert attachment.data == doc.content  # exactly what was previewed
    [row] = quotes(app)
    assert row.status == "sent" and row.sent_from == "contact@atelier-demo.test"
    assert row.sent_to == "contact@boulangerie-dupont.test" and row.email_message_id == email.message_id
    assert conversation(app) is None
