"""Quotes and contracts end to end through the signed webhook: questions, preview, edit, send, problems."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from handlers.quotes.clients import ClientFields
from handlers.quotes.service import QuoteService
from integrations.mail import (
    MailboxNeedsRelink,
    MailSenderDirectory,
    NoLinkedMailbox,
    OutgoingEmail,
    PermanentSendError,
    SentReceipt,
    TransientMailError,
)
from integrations.pdf import PdfRenderer, WeasyPrintRenderer
from integrations.whatsapp import Buttons, ListMessage, Text
from tests.conftest import Harness, button_message
from tests.fakes import FakeMailDirectory
from tests.quotes_support import (
    ACADEMIAS,
    DIGITS,
    DUPONT,
    PHONE,
    add_clients,
    buttons_of,
    choose,
    client_named,
    conversation,
    documents,
    pdf_text,
    press,
    quotes,
    rows_of,
    run_jobs,
    say,
    settle,
    setup_org,
    squash,
    texts,
)

# The main paths also run on PostgreSQL (marked one by one); the rest on SQLite keeps the suite quick.
both = pytest.mark.postgres


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


@both
def test_a_quote_from_the_first_words_to_the_clients_inbox(app: Harness, mail: FakeMailDirectory) -> None:
    preview = quote_until_preview(app)
    [doc] = documents(preview)
    assert doc.filename == "Devis-DEV-2026-0001.pdf" and doc.mime_type == "application/pdf"
    text = pdf_text(doc.content)
    for expected in ("Boulangerie Dupont SARL", "Industrialiser la production de modules de formation", "Input",
                     "Production", "Diffusion", "12 500,00 €", "13/12/2026", "DEV-2026-0001",
                     "Émis le 20 novembre 2026", "Valable jusqu'au 20 décembre 2026", "15 000,00 €"):
        assert expected in text, expected
    body = squash(next(s for s in preview if isinstance(s.message, Buttons)).text)
    assert "contact@boulangerie-dupont.fr" in body and "15 000,00 € TTC" in body
    assert set(buttons_of(preview)) == {"Envoyer", "Modifier", "Annuler"}
    [draft] = quotes(app)
    assert draft.status == "draft" and draft.total_cents == 1_500_000

    sent = press(app, buttons_of(preview)["Envoyer"], "Envoyer")
    assert texts(sent)[0] == "J'envoie le devis DEV-2026-0001 à contact@boulangerie-dupont.fr…"
    assert texts(sent)[1] == ("✅ Le devis DEV-2026-0001 est parti : envoyé à contact@boulangerie-dupont.fr "
                              "depuis contact@atelier-demo.test.")
    [email] = mail.mail.sent
    assert email.to == ("contact@boulangerie-dupont.fr",)
    assert email.subject == "Devis DEV-2026-0001 — Automatisation Académias"
    assert email.text.startswith("Bonjour Boulangerie Dupont SARL,\n\nVoici le devis pour le projet "
                                 "Automatisation Académias (n° DEV-2026-0001)")
    assert email.from_name == "Atelier Kouassi SARL"
    [attachment] = email.attachments
    assert attachment.filename == "Devis-DEV-2026-0001.pdf" and attachment.content_type == "application/pdf"
    assert attachment.data == doc.content  # exactly what was previewed
    [row] = quotes(app)
    assert row.status == "sent" and row.sent_from == "contact@atelier-demo.test"
    assert row.sent_to == "contact@boulangerie-dupont.fr" and row.email_message_id == email.message_id
    assert conversation(app) is None


@both
def test_cancel_mid_way_drops_the_draft(app: Harness) -> None:
    say(app, "devis dupont")
    say(app, "Refonte du site")
    assert texts(say(app, "annuler")) == ["C'est annulé."]
    assert conversation(app) is None and quotes(app) == []
    assert "Je n'ai pas compris" in texts(say(app, "Input, Production"))[0]


def test_another_command_mid_way_keeps_the_draft(app: Harness) -> None:
    say(app, "devis dupont")
    assert "*État de Courrier*" in texts(say(app, "statut"))[0]
    assert "étapes du workflow" in texts(say(app, "Refonte du site"))[0]
    state = conversation(app)
    assert state is not None and state.data["values"]["mission_context"] == "Refonte du site"


@both
def test_the_draft_survives_a_restart_and_then_expires(
        start: Callable[..., Harness], make_harness: Callable[..., Harness], mail: FakeMailDirectory) -> None:
    first = start()
    say(first, "devis dupont")
    say(first, "Refonte du site")
    second = make_harness(build={"mail_directory": mail})
    assert "budget" in texts(say(second, "Input, Production, Diffusion"))[0]
    second.clock.advance(hours=73)
    assert "Je n'ai pas compris" in texts(say(second, "150"))[0]


def test_bad_answers_are_explained_and_the_question_stays(app: Harness) -> None:
    say(app, "devis dupont")
    say(app, "Refonte du site")
    say(app, "Maquette, Développement")
    assert texts(say(app, "beaucoup"))[0].startswith("Je n'ai pas compris ce montant.")
    say(app, "1 500,50")
    assert texts(say(app, "12/01/2020"))[0].startswith("Cette date est déjà passée")
    assert texts(say(app, "31/02/2027"))[0].startswith("Je n'ai pas compris cette date")
    preview = say(app, "dans 3 semaines")
    assert "11/12/2026" in pdf_text(documents(preview)[0].content)
    assert quotes(app)[0].data["budget"] == "1500.50"


@both
def test_edit_after_preview_rerenders_with_the_same_number(app: Harness, mail: FakeMailDirectory) -> None:
    first = quote_until_preview(app)
    old_send = buttons_of(first)["Envoyer"]
    listing = press(app, buttons_of(first)["Modifier"], "Modifier")
    assert isinstance(listing[0].message, ListMessage)
    rows = rows_of(listing)
    assert {"Budget", "Échéance", "Étapes du workflow", "Lignes du devis", "E-mail du client"} <= set(rows)
    assert "Quel budget" in texts(choose(app, rows["Budget"], "Budget"))[0]
    updated = say(app, "300")
    assert texts(updated)[0] == "C'est noté, je mets à jour l'aperçu de DEV-2026-0001…"
    [doc] = documents(updated)
    assert doc.filename == "Devis-DEV-2026-0001.pdf"
    assert "300,00 €" in pdf_text(doc.content) and "12 500,00 €" not in pdf_text(doc.content)
    [row] = quotes(app)
    assert row.revision == 2 and row.pdf_revision == 2 and row.total_cents == 36000

    stale = press(app, old_send, "Envoyer")
    assert "n'est plus à jour" in texts(stale)[0] and mail.mail.sent == []
    press(app, buttons_of(updated)["Envoyer"], "Envoyer")
    [email] = mail.mail.sent
    assert "300,00 €" in pdf_text(email.attachments[0].data)


def test_line_items_and_language_can_be_edited(app: Harness) -> None:
    first = quote_until_preview(app)
    rows = rows_of(press(app, buttons_of(first)["Modifier"]))
    choose(app, rows["Lignes du devis"])
    assert "La ligne 2" in texts(say(app, "Audit ; 2 ; 150 ; 20\nbla"))[0]
    updated = say(app, "Audit ; 2 ; 150 ; 20\nFormation ; 1,5 ; 400 ; 5,5\nLicence ; 90")
    text = pdf_text(documents(updated)[0].content)
    for expected in ("Audit", "300,00 €", "Formation", "600,00 €", "Licence", "90,00 €", "Total HT 990,00 €",
                     "TVA 5,5 % 33,00 €", "TVA 20 % 78,00 €", "Total TTC 1 101,00 €"):
        assert expected in text, expected
    rows = rows_of(press(app, buttons_of(updated)["Modifier"]))
    english = press(app, buttons_of(choose(app, rows["Langue du document"]))["Anglais"], "Anglais")
    [doc] = documents(english)
    assert doc.filename == "Quote-DEV-2026-0001.pdf"
    assert "Total incl. VAT €1,101.00" in pdf_text(doc.content)


@both
def test_client_without_email_is_asked_for_it_at_send(app: Harness, mail: FakeMailDirectory) -> None:
    asked = say(app, "contrat académias")
    assert "Quel type de mission" in texts(asked)[0]
    buttons = buttons_of(asked)
    complexity = press(app, buttons["Automatisation"], "Automatisation")
    assert "Intermédiaire : 250,00 €" in squash(texts(complexity)[0])
    preview = press(app, buttons_of(complexity)["Intermédiaire"], "Intermédiaire")
    [doc] = documents(preview)
    assert doc.filename == "Contrat-CTR-2026-0001.pdf"
    asked = press(app, buttons_of(preview)["Envoyer"], "Envoyer")
    assert texts(asked) == ["Académias n'a pas d'adresse e-mail. À quelle adresse envoyer le document ? "
                            "(je l'enregistre sur sa fiche)"]
    assert texts(say(app, "pas-une-adresse"))[0].startswith("Cette adresse e-mail n'est pas valide")
    sent = say(app, "direction@academias.fr")
    assert texts(sent)[-1].startswith("✅ Le contrat CTR-2026-0001 est parti : envoyé à direction@academias.fr")
    [email] = mail.mail.sent
    assert email.to == ("direction@academias.fr",)
    assert email.subject == "Contrat de prestation CTR-2026-0001 — Automatisation"
    client = client_named(app, "Académias")
    assert client is not None and client.email == "direction@academias.fr"


def test_contract_pdf_states_mission_price_and_signature_place(app: Harness) -> None:
    say(app, "contrat dupont")
    press(app, "quote:mission_type:audit", "Audit")
    asked = press(app, "quote:complexity:expert", "Expert")
    assert "contexte de la mission pour Boulangerie Dupont SARL" in texts(asked)[0]
    preview = say(app, "Auditer la chaîne de commandes")
    text = pdf_text(documents(preview)[0].content)
    assert "Article 1 — Objet" in text and "une mission d'Audit" in text
    assert "Auditer la chaîne de commandes" in text
    assert "Article 5 — Prix" in text and "Expert" in text and "350,00 €" in text and "420,00 €" in text
    assert "Fait à Lyon, le 20 novembre 2026" in text
    assert "Atelier Kouassi SARL" in text and "RCCM CI-ABJ-2024-B-12345" in text
    assert "Rue des Jardins 12, Abidjan Cocody" in text and "Boulangerie Dupont SARL" in text


@both
def test_no_linked_mailbox_gives_the_link_command_and_keeps_the_draft(
        app: Harness, mail: FakeMailDirectory) -> None:
    preview = quote_until_preview(app)
    mail.problem = NoLinkedMailbox("no mailbox")
    answer = press(app, buttons_of(preview)["Envoyer"], "Envoyer")
    assert "*connecter boîte*" in texts(answer)[-1] and "Le brouillon est conservé" in texts(answer)[-1]
    assert quotes(app)[0].status == "draft"
    mail.problem = None
    done = press(app, buttons_of(answer)["Réessayer"], "Réessayer")
    assert texts(done)[-1].startswith("✅ Le devis DEV-2026-0001 est parti")
    assert len(mail.mail.sent) == 1 and quotes(app)[0].status == "sent"


@both
def test_mailbox_needing_relink_says_so_and_keeps_the_draft(app: Harness, mail: FakeMailDirectory) -> None:
    preview = quote_until_preview(app)
    mail.problem = MailboxNeedsRelink("invalid_grant", address="contact@atelier-demo.test")
    answer = texts(press(app, buttons_of(preview)["Envoyer"], "Envoyer"))[-1]
    assert "La boîte contact@atelier-demo.test doit être reconnectée" in answer
    assert "brouillon DEV-2026-0001 est conservé" in answer
    assert quotes(app)[0].status == "draft" and mail.mail.sent == []


@both
def test_provider_refusal_says_why_keeps_the_draft_and_offers_retry(
        app: Harness, mail: FakeMailDirectory) -> None:
    preview = quote_until_preview(app)
    mail.mail.failures.append(PermanentSendError("550 5.7.1 Message rejected: attachment policy"))
    answer = press(app, buttons_of(preview)["Envoyer"], "Envoyer")
    assert "« 550 5.7.1 Message rejected: attachment policy »" in texts(answer)[-1]
    assert set(buttons_of(answer[-1:])) == {"Réessayer", "Modifier", "Annuler"}
    [row] = quotes(app)
    assert row.status == "draft" and row.last_error == "550 5.7.1 Message rejected: attachment policy"
    press(app, buttons_of(answer)["Réessayer"], "Réessayer")
    assert len(mail.mail.sent) == 1 and quotes(app)[0].status == "sent"


@both
def test_a_provider_outage_is_retried_automatically(app: Harness, mail: FakeMailDirectory) -> None:
    preview = quote_until_preview(app)
    mail.mail.failures.extend([TransientMailError("503 try later"), TransientMailError("503 try later")])
    answer = press(app, buttons_of(preview)["Envoyer"], "Envoyer")
    assert "je réessaie l'envoi de DEV-2026-0001 automatiquement" in texts(answer)[-1]
    app.clock.advance(seconds=31)
    run_jobs(app)
    assert mail.mail.sent == []  # the second failure: backing off again, quietly
    app.clock.advance(seconds=61)
    before = len(app.whatsapp.outbox)
    run_jobs(app)
    assert texts(app.whatsapp.outbox[before:])[-1].startswith("✅ Le devis DEV-2026-0001 est parti")
    assert len(mail.mail.sent) == 1


def test_cancel_button_cancels_the_numbered_draft(app: Harness, mail: FakeMailDirectory) -> None:
    preview = quote_until_preview(app)
    assert texts(press(app, buttons_of(preview)["Annuler"], "Annuler")) == [
        "Le brouillon du devis DEV-2026-0001 est annulé (son numéro ne sera pas réutilisé)."]
    assert quotes(app)[0].status == "cancelled" and conversation(app) is None
    assert "a été annulé" in texts(press(app, buttons_of(preview)["Envoyer"], "Envoyer"))[0]
    second = quote_until_preview(app, "devis dupont")
    assert documents(second)[0].filename == "Devis-DEV-2026-0002.pdf" and mail.mail.sent == []


@both
def test_several_matches_give_a_list_and_none_offers_to_create(app: Harness) -> None:
    add_clients(app, ClientFields(name="Dupont Immobilier", city="Paris"))
    listing = say(app, "devis dupont")
    assert isinstance(listing[0].message, ListMessage)
    rows = rows_of(listing)
    assert {"Boulangerie Dupont SARL", "Dupont Immobilier", "➕ Nouveau client"} == set(rows)
    assert "contexte de la mission" in texts(choose(app, rows["Dupont Immobilier"]))[0]
    assert "étapes du workflow" in texts(say(app, "Devis et factures automatiques"))[0]  # an answer
    say(app, "annuler")

    offer = say(app, "devis Martin Traiteur")
    assert texts(offer)[0].startswith("Je ne trouve aucun client « Martin Traiteur »")
    asked = press(app, buttons_of(offer)["Créer le client"])
    assert "Quelle adresse e-mail pour Martin Traiteur" in texts(asked)[0]
    assert "Dans quelle ville" in texts(say(app, "commandes@martin.fr"))[0]
    created = press(app, "client:skip", "Passer")
    assert texts(created)[0] == "Client enregistré : Martin Traiteur."
    assert "contexte de la mission pour Martin Traiteur" in texts(created)[1]
    client = client_named(app, "Martin Traiteur")
    assert client is not None and client.email == "commandes@martin.fr" and client.city == ""


def test_lookup_forgives_case_accents_partial_words_and_typos(app: Harness) -> None:
    assert "Quel type de mission pour Académias" in texts(say(app, "contrat ACADEMIA"))[0]
    say(app, "annuler")
    suggestion = say(app, "devis Dupond")
    assert "Vouliez-vous dire" in texts(suggestion)[0]
    assert "Boulangerie Dupont SARL" in rows_of(suggestion)


def test_client_add_guided_flow(app: Harness) -> None:
    assert texts(say(app, "client ajouter"))[0].startswith("Quel est le nom du client")
    say(app, "Cabinet Koné")
    say(app, "Koné & Associés")
    assert texts(say(app, "kone@"))[0].startswith("Cette adresse e-mail n'est pas valide")
    say(app, "contact@kone.fr")
    assert texts(say(app, "abc"))[0].startswith("Ce numéro de téléphone n'est pas valide")
    say(app, "+225 07 07 12 34 56")
    say(app, "Abidjan")
    press(app, "client:skip", "Passer")
    done = say(app, "Mettre en place la facturation automatique")
    assert texts(done) == ["Client enregistré : Cabinet Koné (Koné & Associés).",
                           "Pour lui préparer un devis : *devis Cabinet Koné*."]
    client = client_named(app, "Cabinet Koné")
    assert client is not None and client.phone == "+225 07 07 12 34 56" and client.project_type == ""
    assert "Mettre en place la facturation automatique" in texts(say(app, "client kone"))[0]
    say(app, "client ajouter cabinet kone")
    say(app, "Koné & associés")
    for _ in range(4):
        press(app, "client:skip", "Passer")
    refused = press(app, "client:skip", "Passer")
    assert texts(refused) == ["Un client « Cabinet Koné (Koné & Associés) » existe déjà."]


@both
def test_quotes_list_and_marking_accepted(app: Harness) -> None:
    preview = quote_until_preview(app)
    assert "pas encore été envoyé" in texts(say(app, "devis accepté DEV-2026-0001"))[0]
    press(app, buttons_of(preview)["Envoyer"], "Envoyer")
    listing = squash(texts(say(app, "devis liste"))[0])
    assert "DEV-2026-0001 — Boulangerie Dupont SARL — 15 000,00 € — envoyé (20/11/2026)" in listing
    assert texts(say(app, "devis accepté DEV-2026-0001")) == ["C'est noté : le devis DEV-2026-0001 est accepté. 🎉"]
    assert "accepté" in texts(say(app, "devis liste"))[0]
    assert quotes(app)[0].status == "accepted"
    assert "Je ne trouve aucun document DEV-2026-0042" in texts(say(app, "devis refusé DEV-2026-0042"))[0]
    assert "Devis : 0 brouillon(s), 0 envoyé(s), 1 accepté(s)" in texts(say(app, "statut"))[0]


def test_reopen_a_draft_by_number_and_send_with_a_typed_word(app: Harness, mail: FakeMailDirectory) -> None:
    quote_until_preview(app)
    say(app, "annuler")  # typed cancel ends the conversation; the numbered draft stays a draft
    reopened = say(app, "devis DEV-2026-0001")
    assert documents(reopened)[0].filename == "Devis-DEV-2026-0001.pdf"
    assert texts(say(app, "envoyer"))[-1].startswith("✅ Le devis DEV-2026-0001 est parti")
    assert len(mail.mail.sent) == 1


def test_send_quote_to_a_client_with_a_draft_picks_it_up(app: Harness) -> None:
    quote_until_preview(app)
    say(app, "annuler")
    again = say(app, "envoie le devis à Dupont")
    assert texts(again)[0] == "Vous avez déjà un brouillon pour ce client : DEV-2026-0001. Le voici."
    assert documents(again)[0].filename == "Devis-DEV-2026-0001.pdf"
    assert len(quotes(app)) == 1


def test_the_whole_flow_in_english(app: Harness, mail: FakeMailDirectory) -> None:
    assert "What is the mission context" in texts(say(app, "send quote to Dupont"))[0]
    say(app, "Industrialise the production of training modules")
    say(app, "Input, Production, Delivery")
    say(app, "12,500")
    preview = say(app, "December 13, 2026")
    [doc] = documents(preview)
    assert doc.filename == "Quote-DEV-2026-0001.pdf"
    text = pdf_text(doc.content)
    assert "€12,500.00" in text and "13/12/2026" in text and "Issued on 20 November 2026" in text
    press(app, buttons_of(preview)["Send"], "Send")
    [email] = mail.mail.sent
    assert email.subject == "Quote DEV-2026-0001 — Automatisation Académias"
    assert email.text.startswith("Hello Boulangerie Dupont SARL,")


class FlakyRenderer:
    """Fails the first renders with an unexpected error, then renders for real."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.real = WeasyPrintRenderer()

    def render(self, html: str, **kwargs: Any) -> bytes:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("renderer crashed")
        return self.real.render(html, **kwargs)


@both
def test_a_crashing_render_keeps_the_draft_and_is_retried(start: Callable[..., Harness]) -> None:
    app = start(renderer=FlakyRenderer(failures=1))
    assert documents(quote_until_preview(app)) == []  # crashed; nothing shown yet, nothing lost
    [row] = quotes(app)
    assert row.status == "draft" and row.job == "render" and "renderer crashed" in (row.last_error or "")
    app.clock.advance(seconds=31)
    before = len(app.whatsapp.outbox)
    run_jobs(app)
    assert documents(app.whatsapp.outbox[before:])[0].filename == "Devis-DEV-2026-0001.pdf"


def test_a_render_that_keeps_crashing_ends_with_a_message_and_a_retry_button(start: Callable[..., Harness]) -> None:
    app = start(renderer=FlakyRenderer(failures=5))
    quote_until_preview(app)
    for _ in range(4):
        app.clock.advance(minutes=10)
        run_jobs(app)
    last = app.whatsapp.outbox[-1]
    assert "un problème de notre côté" in last.text and isinstance(last.message, Buttons)
    retried = press(app, buttons_of([last])["Réessayer"], "Réessayer")
    assert texts(retried)[0].startswith("J'envoie le devis DEV-2026-0001")
    assert quotes(app)[0].status == "sent"


class CrashingService(QuoteService):
    """A quote service whose first document creation hits a bug."""

    crashes = 1

    def create_document(self, *args: Any, **kwargs: Any) -> Any:
        if self.crashes:
            self.crashes -= 1
            raise RuntimeError("bug while creating")
        return super().create_document(*args, **kwargs)


@both
def test_a_crashing_handler_keeps_the_draft(app: Harness) -> None:
    app.services.provide(CrashingService(app.services, WeasyPrintRenderer()), as_type=QuoteService)
    say(app, "devis dupont")
    say(app, "Refonte du site")
    say(app, "Maquette")
    say(app, "150")
    assert texts(say(app, "13/12/2026"))[0].startswith("Désolé, un problème est survenu de notre côté.")
    state = conversation(app)
    assert state is not None and state.step == "deadline" and state.data["values"]["budget"] == "150.00"
    assert quotes(app) == []
    assert documents(say(app, "13/12/2026"))[0].filename == "Devis-DEV-2026-0001.pdf"


def test_amounts_in_the_chat_use_the_document_currency(start: Callable[..., Harness]) -> None:
    app = start()
    setup_org(app, currency="XOF", vat_rate="18")
    preview = quote_until_preview(app)
    text = pdf_text(documents(preview)[0].content)
    assert "12 500 F CFA" in text and "TVA 18 % 2 250 F CFA" in text and "14 750 F CFA" in text


def test_with_the_real_mailbox_directory_and_no_linked_mailbox_the_draft_waits(
        make_harness: Callable[..., Harness]) -> None:
    app = make_harness()  # the mailboxes feature's own directory; the organization linked nothing
    app.add_user(PHONE, "Awa Kouassi", admin=True)
    setup_org(app)
    add_clients(app, DUPONT)
    preview = quote_until_preview(app)
    answer = texts(press(app, buttons_of(preview)["Envoyer"], "Envoyer"))[-1]
    assert "aucune boîte mail n'est liée à votre organisation" in answer and "connecter boîte" in answer
    assert quotes(app)[0].status == "draft"


def test_decimal_budget_is_kept_exactly(app: Harness) -> None:
    say(app, "devis dupont")
    say(app, "ctx")
    say(app, "a")
    say(app, "0,10")
    say(app, "13/12/2026")
    [row] = quotes(app)
    assert Decimal(row.data["budget"]) == Decimal("0.10") and row.total_cents == 12
    assert isinstance(app.whatsapp.outbox[-1].message, Buttons)
    assert not any(isinstance(s.message, Text) and "Désolé" in s.text for s in app.whatsapp.outbox)


def test_a_send_waiting_for_a_retry_can_still_be_cancelled(app: Harness, mail: FakeMailDirectory) -> None:
    preview = quote_until_preview(app)
    mail.mail.failures.append(TransientMailError("421 try later"))
    press(app, buttons_of(preview)["Envoyer"], "Envoyer")
    assert "Le brouillon du devis DEV-2026-0001 est annulé" in texts(press(app, "quote:cancel:1", "Annuler"))[0]
    app.clock.advance(minutes=5)
    run_jobs(app)
    assert mail.mail.sent == [] and quotes(app)[0].status == "cancelled" and quotes(app)[0].job is None


@dataclass
class BlockingMail:
    """A mailbox whose send waits until the test lets it go."""

    address: str = "contact@atelier-demo.test"
    sent: list[OutgoingEmail] = field(default_factory=list)
    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def send(self, email: OutgoingEmail) -> SentReceipt:
        self.entered.set()
        assert self.release.wait(30)
        self.sent.append(email)
        return SentReceipt(email.message_id)

    def find_sent(self, message_id: str) -> bool:
        return False


def test_nothing_changes_a_document_while_it_is_leaving(start: Callable[..., Harness]) -> None:
    blocking = BlockingMail()
    app = start(directory=FakeMailDirectory(mail=blocking))  # type: ignore[arg-type]
    preview = quote_until_preview(app)
    app.post(button_message(buttons_of(preview)["Envoyer"], "Envoyer", phone=DIGITS))
    app.drain()
    assert blocking.entered.wait(30)
    before = len(app.whatsapp.outbox)
    for reply_id in (buttons_of(preview)["Modifier"], "quote:cancel:1", buttons_of(preview)["Envoyer"]):
        app.post(button_message(reply_id, "…", phone=DIGITS))
        app.drain()
    assert texts(app.whatsapp.outbox[before:]) == ["L'envoi de DEV-2026-0001 est déjà en cours."] * 3
    blocking.release.set()
    settle(app)
    assert texts(app.whatsapp.outbox)[-1].startswith("✅ Le devis DEV-2026-0001 est parti")
    assert len(blocking.sent) == 1 and quotes(app)[0].status == "sent"


def test_removing_the_lines_needs_a_budget(app: Harness) -> None:
    preview = quote_until_preview(app)
    rows = rows_of(press(app, buttons_of(preview)["Modifier"]))
    choose(app, rows["Lignes du devis"])
    updated = say(app, "Audit ; 1 ; 500")
    rows = rows_of(press(app, buttons_of(updated)["Modifier"]))
    choose(app, rows["Lignes du devis"])
    assert texts(say(app, "aucune"))[0].startswith("Sans lignes, le devis a besoin d'un budget")
    choose(app, rows["Budget"])
    assert "700,00 €" in pdf_text(documents(say(app, "700"))[0].content)
    assert quotes(app)[0].data.get("lines") is None and quotes(app)[0].revision == 3
