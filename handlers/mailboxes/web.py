"""HTTP routes: the one-time link pages (Google, Microsoft, IMAP form), OAuth callbacks, the seed API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field

from bot.services import Services
from bot.web import AdminOrg, ServicesDep
from handlers.mailboxes.service import (
    FormError,
    ImapForm,
    ImapTarget,
    LinkGone,
    LinkProblem,
    MailboxService,
    validate_imap,
)
from integrations.imap import PRESETS
from storage.mail import Mailbox

router = APIRouter()

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                               "frame-ancestors 'none'",
}


@lru_cache(maxsize=4)
def _env(folder: Path) -> Environment:
    return Environment(loader=FileSystemLoader(folder), autoescape=select_autoescape())


def _page(services: Services, name: str, lang: str, status: int = 200, **context: Any) -> HTMLResponse:
    catalog = services.catalog

    def t(key: str, **params: Any) -> str:
        return catalog.t(key, lang, **params)

    html = _env(services.settings.templates_dir / "web" / "link").get_template(name).render(t=t, lang=lang, **context)
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


def _message(services: Services, lang: str, title: str, body: str, status: int, **params: Any) -> HTMLResponse:
    return _page(services, "message.html", lang, status, title_key=title, body_key=body, params=params)


def _gone(services: Services) -> HTMLResponse:
    # Unknown, used and expired links get the same page and status: nothing is revealed.
    return _message(services, services.settings.default_language, "link.gone.title", "link.gone.body", 404)


def _problem(services: Services, problem: LinkProblem) -> HTMLResponse:
    status = 410 if problem.key == "link.expired" else 400
    return _message(services, problem.lang, "link.problem.title", problem.key, status, **problem.params)


def _linked(services: Services, address: str, lang: str, relinked: bool) -> HTMLResponse:
    days = services.settings.sync_initial_days
    body = "link.done.relinked" if relinked else "link.done.body"
    return _message(services, lang, "link.done.title", body, 200, address=address, days=days)


# ---------------------------------------------------------------- OAuth callbacks (declared first: /link/oauth/...)


@router.get("/link/oauth/google", include_in_schema=False)
def google_callback(services: ServicesDep, state: str = "", code: str | None = None,
                    error: str | None = None) -> Response:
    """Google sends the browser back here with the code (or an error) and our state."""
    service = services.get(MailboxService)
    try:
        linked = service.finish_google(state, code, error)
    except LinkGone:
        return _gone(services)
    except LinkProblem as problem:
        return _problem(services, problem)
    return _linked(services, linked.address, linked.lang, linked.relinked)


async def _microsoft_fields(request: Request) -> dict[str, str]:
    if request.method == "POST":
        form = await request.form()
        return {k: str(v) for k, v in form.items()}
    return dict(request.query_params)


@router.api_route("/link/oauth/microsoft", methods=["GET", "POST"], include_in_schema=False)
async def microsoft_callback(request: Request, services: ServicesDep) -> Response:
    """Microsoft posts the code and our state here (response_mode=form_post)."""
    from starlette.concurrency import run_in_threadpool

    fields = await _microsoft_fields(request)
    service = services.get(MailboxService)
    try:
        linked = await run_in_threadpool(service.finish_microsoft, fields)
    except LinkGone:
        return _gone(services)
    except LinkProblem as problem:
        return _problem(services, problem)
    return _linked(services, linked.address, linked.lang, linked.relinked)


# ---------------------------------------------------------------- link pages


@router.get("/link/{token}", include_in_schema=False)
def link_page(token: str, services: ServicesDep) -> Response:
    """The choice of provider (the hinted one first); never consumes the link."""
    service = services.get(MailboxService)
    try:
        view = service.open_link(token)
    except LinkGone:
        return _gone(services)
    return _page(services, "choose.html", view.lang, token=token, hint=view.provider_hint,
                 google=service.connectors.google.configured, microsoft=service.connectors.microsoft.configured)


def _start(services: Services, token: str, provider: str) -> Response:
    service = services.get(MailboxService)
    try:
        url = service.start_oauth(token, provider)
    except LinkGone:
        return _gone(services)
    except LinkProblem as problem:
        return _problem(services, problem)
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


@router.post("/link/{token}/google", include_in_schema=False)
def link_google(token: str, services: ServicesDep) -> Response:
    """Go to Google's consent page (PKCE verifier and state kept here)."""
    return _start(services, token, "google")


@router.post("/link/{token}/microsoft", include_in_schema=False)
def link_microsoft(token: str, services: ServicesDep) -> Response:
    """Go to Microsoft's consent page (MSAL flow kept here, sealed)."""
    return _start(services, token, "microsoft")


def _imap_page(services: Services, token: str, lang: str, form: ImapForm, error: tuple[str, dict[str, Any]] | None,
               status: int = 200) -> HTMLResponse:
    return _page(services, "imap.html", lang, status, token=token, form=form, presets=list(PRESETS.values()),
                 error_key=error[0] if error else None, error_params=error[1] if error else {})


@router.get("/link/{token}/imap", include_in_schema=False)
def imap_form(token: str, services: ServicesDep) -> Response:
    """The IMAP form with provider presets, app-password help and SMTP settings."""
    service = services.get(MailboxService)
    try:
        view = service.open_link(token)
    except LinkGone:
        return _gone(services)
    preset = "gmail" if view.provider_hint == "gmail" else ("outlook" if view.provider_hint == "outlook" else "orange")
    return _imap_page(services, token, view.lang, ImapForm(preset=preset), None)


@router.post("/link/{token}/imap", include_in_schema=False)
def imap_submit(
    token: str,
    services: ServicesDep,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    preset: Annotated[str, Form()] = "custom",
    host: Annotated[str, Form()] = "",
    port: Annotated[str, Form()] = "",
    security: Annotated[str, Form()] = "tls",
    username: Annotated[str, Form()] = "",
    smtp_host: Annotated[str, Form()] = "",
    smtp_port: Annotated[str, Form()] = "",
    smtp_security: Annotated[str, Form()] = "",
) -> Response:
    """Test the connection, then save; a failure shows the form again with everything but the password."""
    service = services.get(MailboxService)
    form = ImapForm(email=email, password=password, preset=preset, host=host, port=port, security=security,
                    username=username, smtp_host=smtp_host, smtp_port=smtp_port, smtp_security=smtp_security)
    try:
        linked = service.link_imap(token, form)
    except LinkGone:
        return _gone(services)
    except LinkProblem as problem:
        form.password = ""
        return _imap_page(services, token, problem.lang, form, (problem.key, problem.params), status=400)
    return _linked(services, linked.address, linked.lang, linked.relinked)


# ---------------------------------------------------------------- the seed API


class IntegrationIn(BaseModel):
    """A mailbox to create through the API (IMAP only; Gmail and Outlook use the link pages)."""

    integration_type: str = "imap"
    name: str = ""
    imap_server: str = ""
    imap_port: int = Field(993, ge=1, le=65535)
    email_address: str = ""
    email_password: str = Field("", repr=False)
    use_ssl: bool = True
    sync_interval_minutes: int = Field(5, ge=1, le=1440)
    smtp_server: str | None = None
    smtp_port: int | None = Field(None, ge=1, le=65535)
    smtp_security: str | None = None
    imap_security: str | None = None


def integration(box: Mailbox) -> dict[str, Any]:
    """The API's view of a mailbox: never a password or a token."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": box.id,
        "integration_type": box.provider,
        "name": box.name,
        "email_address": box.address,
        "imap_server": box.imap_host,
        "imap_port": box.imap_port,
        "use_ssl": box.imap_security == "tls" if box.provider == "imap" else True,
        "imap_security": box.imap_security,
        "smtp_server": box.smtp_host,
        "smtp_port": box.smtp_port,
        "smtp_security": box.smtp_security,
        "sync_interval_minutes": box.sync_interval_minutes,
        "enabled": box.enabled,
        "is_default": box.is_default,
        "status": box.status,
        "last_sync_at": iso(box.last_sync_at),
        "last_sync_status": box.last_sync_status,
        "last_sync_error": box.last_sync_error,
        "last_sync_count": box.last_sync_count,
        "next_sync_at": iso(box.next_sync_at),
        "created_at": iso(box.created_at),
    }


def _english(services: Services, problem: FormError) -> str:
    return services.catalog.t(problem.key, "en", **problem.params)


@router.get("/inbox/integrations", tags=["mailboxes"])
def list_integrations(org: AdminOrg, services: ServicesDep) -> list[dict[str, Any]]:
    """The organization's linked mailboxes with their sync state."""
    return [integration(b) for b in services.get(MailboxService).mailboxes(org.id)]


@router.post("/inbox/integrations", status_code=201, tags=["mailboxes"])
def create_integration(body: IntegrationIn, org: AdminOrg, services: ServicesDep) -> dict[str, Any]:
    """Create an IMAP mailbox; the connection is tested first."""
    if body.integration_type != "imap":
        raise HTTPException(400, "Gmail and Outlook are linked through a one-time link page: "
                                 "send 'link mailbox gmail' (or outlook) to Courrier in WhatsApp.")
    security = body.imap_security or ("tls" if body.use_ssl else "starttls")
    form = ImapForm(email=body.email_address, password=body.email_password, preset="custom", host=body.imap_server,
                    port=str(body.imap_port), security=security, smtp_host=body.smtp_server or "",
                    smtp_port=str(body.smtp_port or ""), smtp_security=body.smtp_security or "", name=body.name)
    service = services.get(MailboxService)
    try:
        target: ImapTarget = validate_imap(form)
        box = service.create_imap(org.id, target, body.sync_interval_minutes)
    except FormError as problem:
        status = 409 if problem.key == "api.duplicate" else 400
        raise HTTPException(status, _english(services, problem)) from None
    return integration(box)


def _owned(services: Services, org_id: int, integration_id: int) -> Mailbox:
    box = services.get(MailboxService).get(org_id, integration_id)
    if box is None:
        raise HTTPException(404, "no such integration")
    return box


def _synced(services: Services, org_id: int, integration_id: int, run: Callable[[int], Any]) -> dict[str, Any]:
    outcome = run(integration_id)
    box = _owned(services, org_id, integration_id)
    return {"integration": integration(box), "new_messages": outcome.new, "result": outcome.status,
            "error": outcome.error}


@router.post("/inbox/integrations/sync-all", tags=["mailboxes"])
def sync_all(org: AdminOrg, services: ServicesDep) -> list[dict[str, Any]]:
    """Sync every mailbox of the organization now, one after the other."""
    service = services.get(MailboxService)
    return [_synced(services, org.id, box.id, service.sync) for box in service.mailboxes(org.id)]


@router.post("/inbox/integrations/{integration_id}/sync", tags=["mailboxes"])
def sync_one(integration_id: int, org: AdminOrg, services: ServicesDep) -> dict[str, Any]:
    """Sync one mailbox now and return its state."""
    _owned(services, org.id, integration_id)
    return _synced(services, org.id, integration_id, services.get(MailboxService).sync)


@router.delete("/inbox/integrations/{integration_id}", status_code=204, tags=["mailboxes"])
def delete_integration(integration_id: int, org: AdminOrg, services: ServicesDep) -> Response:
    """Unlink a mailbox (its credentials and message metadata are deleted)."""
    if not services.get(MailboxService).delete(org.id, integration_id):
        raise HTTPException(404, "no such integration")
    return Response(status_code=204)
