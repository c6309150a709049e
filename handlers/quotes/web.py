"""HTTP API of clients, quotes and contracts (bearer token of an organization's admin).

``POST /api/send-quote`` goes through the same code as the chat: create the numbered draft,
render its PDF, send it from the linked mailbox, record it. Problems come back as JSON with a
stable ``error`` code, an English ``message`` and the ``quoteId`` of the draft that was kept.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from bot.web import AdminOrg, ServicesDep
from handlers.quotes.clients import create_client, find_clients, update_client, validate_client
from handlers.quotes.documents import FILE_PREFIX
from handlers.quotes.parsing import Invalid, LineItem, parse_amount, parse_date, parse_email, parse_rate
from handlers.quotes.service import QuoteService, SendOutcome, fill_defaults, missing_fields
from handlers.quotes.settings import SettingsProblem, load_settings, update_settings
from storage.models import Organization
from storage.quotes import Client, Quote, clients_of, get_client, get_quote, recent_quotes

router = APIRouter(prefix="/api", tags=["quotes"])

SEND_ERRORS = {
    "no_email": (422, "client_without_email"),
    "no_mailbox": (409, "no_linked_mailbox"),
    "relink": (409, "mailbox_needs_relink"),
    "refused": (502, "send_refused"),
    "retry": (503, "send_failed_temporarily"),
    "not_configured": (503, "mail_not_configured"),
    "failed": (500, "document_failed"),
    "not_draft": (409, "not_a_draft"),
    "in_progress": (409, "send_in_progress"),
}
OPERATOR_ONLY = ("template_dir", "logo")


class CamelModel(BaseModel):
    """JSON in camelCase, unknown fields refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class ClientIn(CamelModel):
    """A new client."""

    name: str
    company: str = ""
    email: str | None = None
    phone: str | None = None
    city: str = ""
    project_type: str = ""
    mission_context: str = ""


class ClientPatch(CamelModel):
    """Changes to a client."""

    name: str | None = None
    company: str | None = None
    email: str | None = None
    phone: str | None = None
    city: str | None = None
    project_type: str | None = None
    mission_context: str | None = None


class LineItemIn(CamelModel):
    """One line of a quote."""

    description: str = Field(min_length=1, max_length=300)
    quantity: Decimal = Field(default=Decimal(1), gt=0, le=1_000_000)
    unit_price: Decimal | str
    vat_rate: Decimal | str | None = None


class DocumentIn(CamelModel):
    """Overrides shared by quotes and contracts."""

    client_id: int
    mission_context: str | None = None
    deadline: str | None = None
    language: Literal["fr", "en"] | None = None
    email: str | None = None
    project: str | None = None


class SendQuoteIn(DocumentIn):
    """``POST /api/send-quote``: the client and optional overrides of the variables."""

    workflow_steps: list[str] | None = None
    budget: Decimal | str | None = None
    line_items: list[LineItemIn] | None = None
    validity_days: int | None = Field(default=None, ge=1, le=365)


class SendContractIn(DocumentIn):
    """``POST /api/send-contract``."""

    mission_type: Literal["audit", "automation"]
    complexity: Literal["simple", "intermediate", "expert"]
    city: str | None = None


class StatusIn(CamelModel):
    """A new status for a document."""

    status: Literal["accepted", "declined", "cancelled"]


def client_json(client: Client) -> dict[str, Any]:
    """A client as the API shows it."""
    return {"id": client.id, "name": client.name, "company": client.company, "email": client.email,
            "phone": client.phone, "city": client.city, "projectType": client.project_type,
            "missionContext": client.mission_context}


def quote_json(quote: Quote) -> dict[str, Any]:
    """A document as the API shows it (amounts in cents and as text)."""
    return {
        "id": quote.id, "kind": quote.kind, "number": quote.number, "status": quote.status,
        "clientId": quote.client_id, "clientName": quote.data.get("client", {}).get("name"),
        "language": quote.language, "currency": quote.currency, "totalCents": quote.total_cents,
        "issueDate": quote.issue_date.isoformat(),
        "validUntil": quote.valid_until.isoformat() if quote.valid_until else None,
        "recipient": quote.recipient_email, "sentTo": quote.sent_to, "sentFrom": quote.sent_from,
        "sentAt": quote.sent_at.isoformat() if quote.sent_at else None,
        "pdfUrl": f"/api/quotes/{quote.id}.pdf", "lastError": quote.last_error,
        "variables": {k: v for k, v in quote.data.items() if k != "client"},
    }


def problem(services: ServicesDep, status: int, code: str, exc: Invalid | None = None,
            message: str | None = None, **extra: Any) -> JSONResponse:
    """An error body with a stable code and an English message."""
    text = message if message is not None else services.catalog.t(exc.key, "en", **exc.params) if exc else code
    return JSONResponse({"error": code, "message": text, **extra}, status_code=status)


# ------------------------------------------------------------------ clients


@router.post("/clients", status_code=201)
def add_client_api(body: ClientIn, org: AdminOrg, services: ServicesDep) -> Any:
    """Add a client or prospect."""
    try:
        with services.db.write() as session:
            client = create_client(session, org.id, validate_client(body.model_dump()), services.clock.now())
            return client_json(client)
    except Invalid as exc:
        return problem(services, 422, "invalid_client", exc)


@router.get("/clients")
def list_clients_api(org: AdminOrg, services: ServicesDep, q: str | None = None,
                     limit: int = Query(default=100, ge=1, le=1000)) -> list[dict[str, Any]]:
    """The organization's clients, or those matching ``q`` (forgiving: case, accents, partial words)."""
    with services.db.session() as session:
        clients = find_clients(session, org.id, q).matches if q else clients_of(session, org.id, limit=limit)
        return [client_json(c) for c in clients[:limit]]


@router.get("/clients/{client_id}")
def get_client_api(client_id: int, org: AdminOrg, services: ServicesDep) -> dict[str, Any]:
    """One client."""
    with services.db.session() as session:
        client = get_client(session, org.id, client_id)
        if client is None:
            raise HTTPException(404, "unknown client")
        return client_json(client)


@router.patch("/clients/{client_id}")
def patch_client_api(client_id: int, body: ClientPatch, org: AdminOrg, services: ServicesDep) -> Any:
    """Change a client's fields."""
    try:
        with services.db.write() as session:
            client = get_client(session, org.id, client_id)
            if client is None:
                raise HTTPException(404, "unknown client")
            update_client(session, client, body.model_dump(exclude_unset=True), services.clock.now())
            return client_json(client)
    except Invalid as exc:
        return problem(services, 422, "invalid_client", exc)


# ------------------------------------------------------------------ documents


def _values(body: SendQuoteIn | SendContractIn, org: Organization, lang: str, today: date) -> dict[str, Any]:
    """The document's variables: the body's overrides over the client's own details."""
    values: dict[str, Any] = {"mission_context": body.mission_context, "project": body.project}
    if body.deadline:
        values["deadline"] = parse_date(body.deadline, today).isoformat()
    if body.email:
        values["email"] = parse_email(body.email)
    if isinstance(body, SendQuoteIn):
        values["workflow_steps"] = [s.strip() for s in body.workflow_steps or [] if s.strip()]
        if body.budget is not None:
            values["budget"] = str(parse_amount(str(body.budget), lang))
        if body.line_items:
            vat = load_settings(org).vat_rate
            values["lines"] = [LineItem(item.description, item.quantity, parse_amount(str(item.unit_price), "en"),
                                        parse_rate(str(item.vat_rate)) if item.vat_rate is not None else vat
                                        ).as_json() for item in body.line_items]
        if body.validity_days:
            values["validity_days"] = body.validity_days
    else:
        values.update(mission_type=body.mission_type, complexity=body.complexity, city=body.city)
    return values


def _create_and_send(kind: str, body: SendQuoteIn | SendContractIn, org: AdminOrg, services: ServicesDep) -> Any:
    service = services.get(QuoteService)
    today = service.today()
    lang = body.language or services.settings.default_language
    try:
        with services.db.write() as session:
            db_org = session.get(Organization, org.id)
            assert db_org is not None
            client = get_client(session, org.id, body.client_id)
            if client is None:
                return problem(services, 404, "unknown_client", message="no client with this id")
            values = fill_defaults(kind, _values(body, db_org, lang, today), client,
                                   load_settings(db_org), today)
            missing = missing_fields(kind, values)
            if missing:
                return problem(services, 422, "missing_variables", missing=missing,
                               message=f"missing variables: {', '.join(missing)}")
            if not (values.get("email") or client.email):
                return problem(services, 422, "client_without_email",
                               message="this client has no email address: add one, or pass \"email\"")
            quote = service.create_document(session, db_org, kind=kind, client=client, values=values, lang=lang,
                                            user_id=None, today=today)
            quote_id, number = quote.id, quote.number
    except Invalid as exc:
        return problem(services, 422, "invalid_variables", exc)
    except SettingsProblem as exc:
        return problem(services, 409, "invalid_settings", message=str(exc))
    return _render_and_send(services, service, quote_id, number)


def _render_and_send(services: ServicesDep, service: QuoteService, quote_id: int, number: str) -> Any:
    outcome = service.send_now(quote_id)
    with services.db.session() as session:
        quote = session.get(Quote, quote_id)
        assert quote is not None
        if outcome.kind == "sent":
            return quote_json(quote)
        return _send_problem(services, outcome, quote)


def _send_problem(services: ServicesDep, outcome: SendOutcome, quote: Quote) -> JSONResponse:
    status, code = SEND_ERRORS.get(outcome.kind, (500, "send_failed"))
    messages = {
        "no_email": "this client has no email address",
        "no_mailbox": "no mailbox is linked: link one (chat: \"connecter boîte\" / \"connect mailbox\"), then retry",
        "relink": f"the mailbox {outcome.address} must be linked again, then retry".replace("  ", " "),
        "refused": f"the mail provider refused the email: {outcome.detail}",
        "retry": f"the mail provider is unavailable for now: {outcome.detail}",
        "not_configured": "sending email is not configured on this server",
        "not_draft": f"{quote.number} is {quote.status}, not a draft",
        "in_progress": f"{quote.number} is being sent right now",
    }
    response = problem(services, status, code, message=messages.get(outcome.kind, outcome.detail),
                       quoteId=quote.id, number=quote.number, quoteStatus=quote.status)
    if outcome.kind == "retry":
        response.headers["Retry-After"] = str(int(outcome.retry_after or 60))
    return response


@router.post("/send-quote")
def send_quote_api(body: SendQuoteIn, org: AdminOrg, services: ServicesDep) -> Any:
    """Create, render and send a quote to a client; problems keep the draft and say how to retry."""
    return _create_and_send("quote", body, org, services)


@router.post("/send-contract")
def send_contract_api(body: SendContractIn, org: AdminOrg, services: ServicesDep) -> Any:
    """Create, render and send a service agreement to a client."""
    return _create_and_send("contract", body, org, services)


@router.get("/quotes")
def list_quotes_api(org: AdminOrg, services: ServicesDep, kind: Literal["quote", "contract"] | None = None,
                    limit: int = Query(default=50, ge=1, le=500)) -> list[dict[str, Any]]:
    """Recent documents, newest first."""
    with services.db.session() as session:
        return [quote_json(q) for q in recent_quotes(session, org.id, kind, limit=limit)]


@router.get("/quotes/{quote_id:int}.pdf")
def quote_pdf_api(quote_id: int, org: AdminOrg, services: ServicesDep) -> Response:
    """The document's PDF (rendered now for a draft whose PDF is not up to date)."""
    with services.db.session() as session:
        quote = get_quote(session, org.id, quote_id)
        if quote is None:
            raise HTTPException(404, "unknown document")
        filename = f"{FILE_PREFIX[(quote.kind, quote.language)]}-{quote.number}.pdf"
    pdf = services.get(QuoteService).pdf_of(quote_id)
    if pdf is None:
        raise HTTPException(500, "the PDF could not be rendered (see the document's lastError)")
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{filename}"'})


@router.get("/quotes/{quote_id:int}")
def get_quote_api(quote_id: int, org: AdminOrg, services: ServicesDep) -> dict[str, Any]:
    """One document."""
    with services.db.session() as session:
        quote = get_quote(session, org.id, quote_id)
        if quote is None:
            raise HTTPException(404, "unknown document")
        return quote_json(quote)


@router.post("/quotes/{quote_id:int}/send")
def resend_quote_api(quote_id: int, org: AdminOrg, services: ServicesDep) -> Any:
    """Send a draft (again, after a problem was fixed)."""
    with services.db.session() as session:
        quote = get_quote(session, org.id, quote_id)
        if quote is None:
            raise HTTPException(404, "unknown document")
        number = quote.number
    return _render_and_send(services, services.get(QuoteService), quote_id, number)


@router.post("/quotes/{quote_id:int}/status")
def quote_status_api(quote_id: int, body: StatusIn, org: AdminOrg, services: ServicesDep) -> Any:
    """Mark a sent document accepted or declined, or cancel a draft."""
    try:
        with services.db.write() as session:
            quote = get_quote(session, org.id, quote_id)
            if quote is None:
                raise HTTPException(404, "unknown document")
            services.get(QuoteService).set_status(session, quote, body.status)
            return quote_json(quote)
    except Invalid as exc:
        return problem(services, 409, "invalid_status_change", exc)


@router.get("/quote-settings")
def get_settings_api(org: AdminOrg, services: ServicesDep) -> Any:
    """The organization's document settings."""
    with services.db.session() as session:
        db_org = session.get(Organization, org.id)
        assert db_org is not None
        try:
            return load_settings(db_org).as_json()
        except SettingsProblem as exc:
            return problem(services, 409, "invalid_settings", message=str(exc))


@router.patch("/quote-settings")
def patch_settings_api(body: dict[str, Any], org: AdminOrg, services: ServicesDep) -> Any:
    """Change document settings; template folders and logos are files on the server, set with the CLI."""
    blocked = [key for key in body if key in OPERATOR_ONLY]
    if blocked:
        return problem(services, 403, "operator_only",
                       message=f"{', '.join(blocked)} name files on the server: set them with "
                               "`courrier quotes settings` there")
    try:
        with services.db.write() as session:
            db_org = session.get(Organization, org.id)
            assert db_org is not None
            return update_settings(db_org, body).as_json()
    except SettingsProblem as exc:
        return problem(services, 422, "invalid_settings", message=str(exc))
