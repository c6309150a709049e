"""The HTTP API of clients, quotes and contracts, with a bearer token, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from integrations.mail import (
    AmbiguousSendError,
    MailboxNeedsRelink,
    NoLinkedMailbox,
    OutgoingEmail,
    PermanentSendError,
    SentReceipt,
)
from storage.accounts import create_api_token, create_org, ensure_default_org
from tests.conftest import Harness
from tests.fakes import FakeMailDirectory
from tests.quotes_support import ACADEMIAS, DUPONT, add_clients, pdf_text, quotes, setup_org

pytestmark = pytest.mark.postgres


@dataclass
class Api:
    """The app, a token, and the fake mailbox."""

    h: Harness
    mail: FakeMailDirectory
    token: str
    dupont: int
    academias: int

    def call(self, method: str, path: str, json: Any = None, token: str | None = None) -> Any:
        """An authenticated request."""
        return self.h.client.request(method, path, json=json,
                                     headers={"Authorization": f"Bearer {token or self.token}"})


@pytest.fixture
def api(make_harness: Callable[..., Harness]) -> Api:
    """An app with a token for the default organization and two clients."""
    mail = FakeMailDirectory()
    h = make_harness(build={"mail_directory": mail})
    setup_org(h)
    dupont, academias = add_clients(h, DUPONT, ACADEMIAS)
    with h.services.db.write() as session:
        token = create_api_token(session, ensure_default_org(session, "Test Org"), "tests")
    return Api(h, mail, token, dupont, academias)


QUOTE = {"workflowSteps": ["Input", "Production", "Diffusion"], "budget": "150", "deadline": "2026-12-13",
         "missionContext": "Industrialiser la production de modules de formation"}


def test_every_route_needs_a_valid_token(api: Api) -> None:
    for method, path in (("GET", "/api/clients"), ("POST", "/api/send-quote"), ("GET", "/api/quotes/1.pdf"),
                         ("GET", "/api/quote-settings")):
        assert api.h.client.request(method, path).status_code == 401
        assert api.call(method, path, token="wrong").status_code == 401


def test_clients_add_search_and_change(api: Api) -> None:
    created = api.call("POST", "/api/clients", {"name": "Cabinet Koné", "email": "contact@kone.ci",
                                                "city": "Abidjan", "projectType": "Facturation"})
    assert created.status_code == 201 and created.json()["projectType"] == "Facturation"
    bad = api.call("POST", "/api/clients", {"name": "X", "email": "pas-une-adresse"})
    assert bad.status_code == 422 and bad.json() == {
        "error": "invalid_client", "message": "This email address isn't valid (e.g. name@company.com)."}
    dup = api.call("POST", "/api/clients", {"name": "cabinet kone"})
    assert dup.status_code == 422 and "already exists" in dup.json()["message"]
    assert [c["name"] for c in api.call("GET", "/api/clients?q=KONE").json()] == ["Cabinet Koné"]
    assert len(api.call("GET", "/api/clients").json()) == 3
    patched = api.call("PATCH", f"/api/clients/{created.json()['id']}", {"city": "Bouaké"})
    assert patched.status_code == 200 and patched.json()["city"] == "Bouaké"
    assert api.call("GET", "/api/clients/99999").status_code == 404


def test_send_quote_renders_sends_and_records(api: Api) -> None:
    response = api.call("POST", "/api/send-quote", {"clientId": api.dupont, **QUOTE})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["number"] == "DEV-2026-0001" and body["status"] == "sent"
    assert body["sentTo"] == "contact@boulangerie-dupont.fr" and body["sentFrom"] == "contact@atelier-demo.test"
    assert body["totalCents"] == 18000
    [email] = api.mail.mail.sent
    pdf = api.call("GET", f"/api/quotes/{body['id']}.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == 'inline; filename="Devis-DEV-2026-0001.pdf"'
    assert pdf.content == email.attachments[0].data
    assert "Industrialiser la production de modules de formation" in pdf_text(pdf.content)
    assert [q["number"] for q in api.call("GET", "/api/quotes").json()] == ["DEV-2026-0001"]
    accepted = api.call("POST", f"/api/quotes/{body['id']}/status", {"status": "accepted"})
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"


def test_overrides_line_items_and_language(api: Api) -> None:
    response = api.call("POST", "/api/send-quote", {
        "clientId": api.dupont, **QUOTE, "language": "en", "email": "boss@boulangerie-dupont.fr",
        "lineItems": [{"description": "Audit", "quantity": 2, "unitPrice": "150", "vatRate": 20},
                      {"description": "Formation", "unitPrice": 400, "vatRate": "5.5"}]})
    assert response.status_code == 200, response.text
    [email] = api.mail.mail.sent
    assert email.to == ("boss@boulangerie-dupont.fr",) and email.subject.startswith("Quote DEV-2026-0001")
    text = pdf_text(email.attachments[0].data)
    assert "€700.00" in text and "Total incl. VAT €782.00" in text
    assert email.attachments[0].filename == "Quote-DEV-2026-0001.pdf"


def test_send_contract(api: Api) -> None:
    response = api.call("POST", "/api/send-contract", {"clientId": api.dupont, "missionType": "audit",
                                                       "complexity": "simple", "missionContext": "Audit du SI"})
    assert response.status_code == 200, response.text
    assert response.json()["number"] == "CTR-2026-0001"
    text = pdf_text(api.mail.mail.sent[0].attachments[0].data)
    assert "une mission d'Audit" in text and "150,00 €" in text and "Fait à Lyon, le 20 novembre 2026" in text


def test_missing_variables_and_bad_input_create_nothing(api: Api) -> None:
    missing = api.call("POST", "/api/send-quote", {"clientId": api.dupont})
    assert missing.status_code == 422
    assert missing.json()["missing"] == ["mission_context", "workflow_steps", "budget", "deadline"]
    no_email = api.call("POST", "/api/send-quote", {"clientId": api.academias, **QUOTE})
    assert no_email.status_code == 422 and no_email.json()["error"] == "client_without_email"
    past = api.call("POST", "/api/send-quote", {"clientId": api.dupont, **QUOTE, "deadline": "2020-01-01"})
    assert past.status_code == 422 and past.json()["message"] == "This date is in the past: give a date to come."
    assert api.call("POST", "/api/send-quote", {"clientId": 424242, **QUOTE}).status_code == 404
    assert api.call("POST", "/api/send-quote", {"clientId": api.dupont, "nope": 1}).status_code == 422
    assert quotes(api.h) == [] and api.mail.mail.sent == []


def test_another_organizations_client_and_documents_are_invisible(api: Api) -> None:
    with api.h.services.db.write() as session:
        other = create_org(session, "Autre", "autre")
        other_token = create_api_token(session, other, "other")
    assert api.call("POST", "/api/send-quote", {"clientId": api.dupont, **QUOTE}, token=other_token).status_code == 404
    sent = api.call("POST", "/api/send-quote", {"clientId": api.dupont, **QUOTE}).json()
    assert api.call("GET", f"/api/quotes/{sent['id']}.pdf", token=other_token).status_code == 404
    assert api.call("GET", "/api/clients", token=other_token).json() == []


def test_problems_keep_the_draft_and_say_how_to_retry(api: Api) -> None:
    api.mail.problem = NoLinkedMailbox("none")
    first = api.call("POST", "/api/send-quote", {"clientId": api.dupont, **QUOTE})
    assert first.status_code == 409 and first.json()["error"] == "no_linked_mailbox"
    assert "connecter boîte" in first.json()["message"]
    quote_id = first.json()["quoteId"]
    api.mail.problem = MailboxNeedsRelink("revoked", address="contact@atelier-demo.test")
    relink = api.call("POST", f"/api/quotes/{quote_id}/send")
    assert relink.status_code == 409 and relink.json()["error"] == "mailbox_needs_relink"
    api.mail.problem = None
    api.mail.mail.failures.append(PermanentSendError("552 message size exceeds limit"))
    refused = api.call("POST", f"/api/quotes/{quote_id}/send")
    assert refused.status_code == 502 and "552 message size exceeds limit" in refused.json()["message"]
    assert quotes(api.h)[0].status == "draft"
    done = api.call("POST", f"/api/quotes/{quote_id}/send")
    assert done.status_code == 200 and done.json()["status"] == "sent"
    again = api.call("POST", f"/api/quotes/{quote_id}/send")
    assert again.status_code == 409 and again.json()["error"] == "not_a_draft"
    assert len(api.mail.mail.sent) == 1 and len(quotes(api.h)) == 1


@dataclass
class LostAnswerMail:
    """A provider that accepts the email but whose answer is lost on the first try."""

    address: str = "contact@atelier-demo.test"
    sent: list[OutgoingEmail] = field(default_factory=list)
    lose_next: bool = True

    def send(self, email: OutgoingEmail) -> SentReceipt:
        self.sent.append(email)
        if self.lose_next:
            self.lose_next = False
            raise AmbiguousSendError("connection reset after DATA")
        return SentReceipt(email.message_id)

    def find_sent(self, message_id: str) -> bool:
        return any(e.message_id == message_id for e in self.sent)


def test_an_ambiguous_send_is_checked_before_sending_again(make_harness: Callable[..., Harness]) -> None:
    mail = LostAnswerMail()
    h = make_harness(build={"mail_directory": FakeMailDirectory(mail=mail)})  # type: ignore[arg-type]
    setup_org(h)
    [dupont] = add_clients(h, DUPONT)
    with h.services.db.write() as session:
        token = create_api_token(session, ensure_default_org(session, "Test Org"), "tests")
    auth = {"Authorization": f"Bearer {token}"}
    first = h.client.post("/api/send-quote", headers=auth, json={"clientId": dupont, **QUOTE})
    assert first.status_code == 503 and first.headers["retry-after"] == "60"
    second = h.client.post(f"/api/quotes/{first.json()['quoteId']}/send", headers=auth)
    assert second.status_code == 200 and second.json()["status"] == "sent"
    assert len(mail.sent) == 1  # found in the sent mail by its Message-ID: not sent twice


def test_document_settings(api: Api) -> None:
    current = api.call("GET", "/api/quote-settings").json()
    assert current["complexity_prices"] == {"simple": "150", "intermediate": "250", "expert": "350"}
    changed = api.call("PATCH", "/api/quote-settings", {"complexity_prices": {"simple": 200, "intermediate": 300,
                                                                             "expert": 500}, "currency": "xof"})
    assert changed.status_code == 200 and changed.json()["currency"] == "XOF"
    bad = api.call("PATCH", "/api/quote-settings", {"complexity_prices": {"simple": 1}})
    assert bad.status_code == 422 and "complexity_prices" in bad.json()["message"]
    blocked = api.call("PATCH", "/api/quote-settings", {"template_dir": "/etc"})
    assert blocked.status_code == 403
    contract = api.call("POST", "/api/send-contract", {"clientId": api.dupont, "missionType": "automation",
                                                       "complexity": "expert", "missionContext": "Relances"})
    assert "500 F CFA" in pdf_text(api.mail.mail.sent[0].attachments[0].data).replace("\u202f", " ")
    assert contract.json()["totalCents"] == 60000


def test_organization_defaults_make_a_client_id_enough(api: Api) -> None:
    api.call("PATCH", "/api/quote-settings", {"default_workflow_steps": ["Cadrage", "Réalisation"],
                                              "default_budget": 900, "default_deadline_days": 30})
    response = api.call("POST", "/api/send-quote", {"clientId": api.dupont,
                                                    "missionContext": "Refonte du site"})
    assert response.status_code == 200, response.text
    text = pdf_text(api.mail.mail.sent[0].attachments[0].data)
    assert "Cadrage" in text and "900,00 €" in text and "20/12/2026" in text
