"""The real WhatsApp adapter (pywa_async) against a fake Graph API speaking Meta's JSON."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from integrations.whatsapp import (
    Button,
    Buttons,
    Document,
    ListMessage,
    RateLimited,
    Recipient,
    Row,
    Section,
    Template,
    Text,
    TransientError,
    Undeliverable,
    WhatsAppAuthError,
    WindowClosed,
)
from integrations.whatsapp_cloud import CloudWhatsApp, default_http_client

API = "http://graph.local:9999"
PHONE_ID = "106540352242922"


class FakeGraph:
    """Records requests; answers like the Cloud API, or with a queued error."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.errors: list[tuple[int, dict[str, Any], dict[str, str]]] = []
        self.counter = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.errors:
            status, error, headers = self.errors.pop(0)
            return httpx.Response(status, json={"error": error}, headers=headers)
        if request.url.path.endswith("/media"):
            return httpx.Response(200, json={"id": "1037543291543636"})
        body = json.loads(request.content)
        self.counter += 1
        to = body.get("to") or body.get("recipient")
        return httpx.Response(200, json={
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": f"wamid.graph.{self.counter}"}],
        })

    def json_bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if not r.url.path.endswith("/media")]


def error(code: int, message: str) -> dict[str, Any]:
    return {"message": f"(#{code}) {message}", "type": "OAuthException", "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": message}, "fbtrace_id": "AbCdEf"}


def adapter(graph: FakeGraph) -> CloudWhatsApp:
    return CloudWhatsApp(token="EAAtest", phone_number_id=PHONE_ID, api_url=API, api_version="23.0",
                         http=default_http_client(httpx.MockTransport(graph)))


def run(coro: Any) -> Any:
    return asyncio.run(coro)


PHONE = Recipient(phone="+2250707000001")


def test_text_goes_to_the_configured_api_url_with_the_token() -> None:
    graph = FakeGraph()
    wamid = run(adapter(graph).send(PHONE, Text("Bonjour")))
    assert wamid == "wamid.graph.1"
    request = graph.requests[0]
    assert str(request.url) == f"{API}/v23.0/{PHONE_ID}/messages"
    assert request.headers["authorization"] == "Bearer EAAtest"
    body = json.loads(request.content)
    assert body["to"] == "2250707000001" and body["type"] == "text"
    assert body["text"]["body"] == "Bonjour"


def test_username_only_recipient_is_addressed_by_business_scoped_id() -> None:
    graph = FakeGraph()
    run(adapter(graph).send(Recipient(user_id="SN.55512208655302741000"), Text("Hi")))
    body = graph.json_bodies()[0]
    assert body.get("recipient") == "SN.55512208655302741000"
    assert "to" not in body or body["to"] is None


def test_buttons_and_lists_have_the_interactive_shape() -> None:
    graph = FakeGraph()
    wa = adapter(graph)
    run(wa.send(PHONE, Buttons("Envoyer ?", (Button("quote:send", "Envoyer"), Button("quote:cancel", "Annuler")))))
    run(wa.send(PHONE, ListMessage("Lequel ?", "Choisir", (Section("Clients", (Row("client:pick:17", "Dupont", "Abidjan"),)),))))
    buttons, listing = graph.json_bodies()
    assert buttons["type"] == "interactive"
    assert buttons["interactive"]["type"] == "button"
    assert [b["reply"] for b in buttons["interactive"]["action"]["buttons"]] == [
        {"id": "quote:send", "title": "Envoyer"}, {"id": "quote:cancel", "title": "Annuler"}]
    assert listing["interactive"]["type"] == "list"
    rows = listing["interactive"]["action"]["sections"][0]["rows"]
    assert rows[0]["id"] == "client:pick:17" and rows[0]["description"] == "Abidjan"


def test_document_is_uploaded_then_sent_by_id_with_its_file_name() -> None:
    graph = FakeGraph()
    run(adapter(graph).send(PHONE, Document("DEV-2026-0001.pdf", b"%PDF-1.7 fake", caption="Votre devis")))
    upload, send = graph.requests
    assert upload.url.path == f"/v23.0/{PHONE_ID}/media"
    assert b"DEV-2026-0001.pdf" in upload.content and b"%PDF-1.7 fake" in upload.content
    body = json.loads(send.content)
    assert body["type"] == "document"
    assert body["document"]["id"] == "1037543291543636"
    assert body["document"]["filename"] == "DEV-2026-0001.pdf"
    assert body["document"]["caption"] == "Votre devis"


def test_template_carries_name_language_and_parameters() -> None:
    graph = FakeGraph()
    run(adapter(graph).send(PHONE, Template("courrier_digest", "fr", ("3 critiques", "5 importants"))))
    body = graph.json_bodies()[0]
    assert body["type"] == "template"
    assert body["template"]["name"] == "courrier_digest"
    assert body["template"]["language"] == {"code": "fr"}
    assert [p["text"] for p in body["template"]["components"][0]["parameters"]] == ["3 critiques", "5 importants"]


@pytest.mark.parametrize(("status", "code", "expected"), [
    (400, 131047, WindowClosed),
    (400, 130429, RateLimited),
    (400, 131056, RateLimited),
    (401, 190, WhatsAppAuthError),
    (400, 131026, Undeliverable),
    (500, 1, TransientError),
    (400, 100, Undeliverable),
])
def test_graph_errors_become_typed_errors(status: int, code: int, expected: type[Exception]) -> None:
    graph = FakeGraph()
    graph.errors.append((status, error(code, "boom"), {}))
    with pytest.raises(expected) as caught:
        run(adapter(graph).send(PHONE, Text("x")))
    assert caught.value.code == code  # type: ignore[attr-defined]


def test_rate_limit_reports_retry_after() -> None:
    graph = FakeGraph()
    graph.errors.append((429, error(130429, "Rate limit hit"), {"Retry-After": "7"}))
    with pytest.raises(RateLimited) as caught:
        run(adapter(graph).send(PHONE, Text("x")))
    assert caught.value.retry_after == 7


def test_network_errors_are_transient() -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    wa = CloudWhatsApp(token="t", phone_number_id=PHONE_ID, api_url=API, api_version="23.0",
                       http=default_http_client(httpx.MockTransport(broken)))
    with pytest.raises(TransientError):
        run(wa.send(PHONE, Text("x")))


def test_tracker_travels_as_biz_opaque_callback_data() -> None:
    graph = FakeGraph()
    wa = adapter(graph)
    run(wa.send(PHONE, Text("x"), tracker="outbox:41"))
    run(wa.send(PHONE, Template("courrier_digest", "fr", ("1",)), tracker="outbox:42"))
    bodies = graph.json_bodies()
    assert [b["biz_opaque_callback_data"] for b in bodies] == ["outbox:41", "outbox:42"]


def test_no_answer_after_sending_is_ambiguous_not_transient() -> None:
    from integrations.whatsapp import AmbiguousSend

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    wa = CloudWhatsApp(token="t", phone_number_id=PHONE_ID, api_url=API, api_version="23.0",
                       http=default_http_client(httpx.MockTransport(slow)))
    with pytest.raises(AmbiguousSend):
        run(wa.send(PHONE, Text("x")))
