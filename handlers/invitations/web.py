"""HTTP routes of invitations: the contact page and API, the admin API, signup, sign-in, the account page."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from bot.router import UserError
from bot.services import Services
from bot.web import AdminOrg, get_services
from handlers.invitations.lookups import QuoteLookup
from handlers.invitations.pages import (
    SESSION_COOKIE,
    BodyRefused,
    Csrf,
    Pages,
    client_ip,
    is_https,
    pick_language,
    read_form,
    read_json_object,
    user_agent,
)
from handlers.invitations.rules import SettingsInvalid, parse_settings
from handlers.invitations.service import (
    AccountExists,
    ContactRefused,
    Delivery,
    FormInvalid,
    InvitationService,
    LinkGone,
    SignupView,
)
from storage import invitations as repo
from storage.accounts import AccountError, org_by_slug, sha256_hex
from storage.invitations import ContactMessage, Invitation
from storage.models import Organization

router = APIRouter(tags=["invitations"])

CONTACT_BODY_LIMIT = 16 * 1024
SIGNUP_BODY_LIMIT = 4 * 1024
GUESS_WINDOW = timedelta(hours=1)
LOGIN_WINDOW = timedelta(minutes=15)
USER_ERROR_STATUS = {
    "invitations.error.not_found": 404,
    "invitations.error.already_pending": 409,
    "invitations.error.has_account": 409,
    "invitations.error.used": 409,
    "invitations.error.cancelled": 409,
}


def _service(request: Request) -> InvitationService:
    return get_services(request).get(InvitationService)


def _pages(request: Request) -> Pages:
    pages: Pages | None = getattr(request.app.state, "invitation_pages", None)
    if pages is None:
        services = get_services(request)
        keys = services.settings.key_bytes()
        # Without a configured key, forms stay valid only as long as this process runs.
        pages = Pages(services.settings.templates_dir, services.catalog, Csrf(keys[0] if keys else secrets.token_bytes(32)))
        request.app.state.invitation_pages = pages
    return pages


def _lang(request: Request, explicit: str | None = None) -> str:
    return pick_language(request, get_services(request).settings.default_language, explicit)


def _t(request: Request, lang: str, key: str, **params: Any) -> str:
    return get_services(request).catalog.t(key, lang, **params)


def _field_errors(services: Services, problems: list[Any], lang: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    for problem in problems:
        errors.setdefault(problem.field, problem.text(services.catalog, lang))
    return errors


def _refused_page(request: Request, exc: BodyRefused, lang: str) -> Response:
    return _pages(request).render(request, "message.html", lang=lang, status=exc.status,
                                  title=_t(request, lang, "invitations.web.refused_title"),
                                  message=_t(request, lang, f"invitations.web.body.{exc.code}"))


# ================================================================ contact


@router.get("/contact", include_in_schema=False)
async def contact_page(request: Request, sent: int = 0, org: str | None = None) -> Response:
    """The public contact form."""
    lang = _lang(request)
    services = get_services(request)

    def org_name() -> str | None:
        with services.db.session() as session:
            try:
                return org_by_slug(session, org).name
            except AccountError:
                return None

    name = await run_in_threadpool(org_name)
    if name is None:
        return _pages(request).render(request, "message.html", lang=lang, status=404,
                                      title=_t(request, lang, "invitations.web.refused_title"),
                                      message=_t(request, lang, "invitations.contact.refused.unknown_org"))
    return _pages(request).render(request, "contact.html", lang=lang, with_form=True, sent=bool(sent), org=org or "",
                                  org_name=name, values={}, errors={}, alert=None)


@router.post("/contact", include_in_schema=False)
async def contact_submit(request: Request) -> Response:
    """The contact form posted: stored and passed to the admins, or shown again with the reason."""
    pages = _pages(request)
    try:
        form = await read_form(request, CONTACT_BODY_LIMIT)
    except BodyRefused as exc:
        return _refused_page(request, exc, _lang(request))
    lang = _lang(request, form.get("lang"))
    org = form.get("org", "")[:64]
    values = {k: form.get(k, "") for k in ("name", "email", "subject", "message")}

    def again(status: int, *, alert: str | None = None, errors: dict[str, str] | None = None,
              headers: dict[str, str] | None = None) -> Response:
        return pages.render(request, "contact.html", lang=lang, status=status, with_form=True, sent=False, org=org,
                            org_name="", values=values, errors=errors or {}, alert=alert, headers=headers)

    if not pages.csrf.valid(request, form.get("csrf", "")):
        return again(403, alert=_t(request, lang, "invitations.web.csrf"))
    service = _service(request)
    try:
        await run_in_threadpool(
            lambda: service.submit_contact(
                org_slug=org or None, name=values["name"], email=values["email"], subject=values["subject"],
                message=values["message"], honeypot=form.get("website", ""), language=lang, ip=client_ip(request),
                user_agent=user_agent(request), source="form",
            )
        )
    except FormInvalid as exc:
        errors = _field_errors(get_services(request), exc.problems, lang)
        return again(422, alert=_t(request, lang, "invitations.web.fix_fields"), errors=errors)
    except ContactRefused as exc:
        headers = {"Retry-After": "3600"} if exc.status == 429 else None
        return again(exc.status, alert=_t(request, lang, f"invitations.contact.refused.{exc.code}", **exc.params),
                     headers=headers)
    query = f"?sent=1&lang={lang}" + (f"&org={org}" if org else "")
    return RedirectResponse("/contact" + query, status_code=303)


@router.post("/api/contact", status_code=201)
async def contact_api(request: Request) -> JSONResponse:
    """The contact form as JSON: ``{name, email, subject, message}`` (plus the ``website`` honeypot)."""
    try:
        data = await read_json_object(request, CONTACT_BODY_LIMIT)
    except BodyRefused as exc:
        lang = _lang(request)
        return JSONResponse({"ok": False, "error": exc.code,
                             "message": _t(request, lang, f"invitations.web.body.{exc.code}")}, exc.status)
    explicit = data.get("lang") if isinstance(data.get("lang"), str) else None
    lang = _lang(request, explicit)
    fields = {}
    for key in ("name", "email", "subject", "message", "website", "org"):
        value = data.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            return JSONResponse({"ok": False, "error": "invalid", "fields": {key: _t(request, lang, "invitations.web.not_text")},
                                 "message": _t(request, lang, "invitations.web.fix_fields")}, 422)
        fields[key] = value
    service = _service(request)
    try:
        await run_in_threadpool(
            lambda: service.submit_contact(
                org_slug=fields["org"][:64] or None, name=fields["name"], email=fields["email"],
                subject=fields["subject"], message=fields["message"], honeypot=fields["website"], language=lang,
                ip=client_ip(request), user_agent=user_agent(request), source="api",
            )
        )
    except FormInvalid as exc:
        return JSONResponse({"ok": False, "error": "invalid", "message": _t(request, lang, "invitations.web.fix_fields"),
                             "fields": _field_errors(get_services(request), exc.problems, lang)}, 422)
    except ContactRefused as exc:
        headers = {"Retry-After": "3600"} if exc.status == 429 else None
        return JSONResponse({"ok": False, "error": exc.code,
                             "message": _t(request, lang, f"invitations.contact.refused.{exc.code}", **exc.params)},
                            exc.status, headers=headers)
    return JSONResponse({"ok": True, "message": _t(request, lang, "invitations.web.contact_thanks")}, 201)


# ================================================================ signup


def _gone(request: Request) -> Response:
    lang = _lang(request)
    return _pages(request).render(request, "message.html", lang=lang, status=410,
                                  title=_t(request, lang, "invitations.web.gone_title"),
                                  message=_t(request, lang, "invitations.web.gone"))


def _too_many(request: Request, key: str) -> Response:
    lang = _lang(request)
    return _pages(request).render(request, "message.html", lang=lang, status=429, headers={"Retry-After": "3600"},
                                  title=_t(request, lang, "invitations.web.too_many_title"),
                                  message=_t(request, lang, key))


def _account_exists(request: Request, lang: str) -> Response:
    return _pages(request).render(request, "message.html", lang=lang, status=409,
                                  title=_t(request, lang, "invitations.web.exists_title"),
                                  message=_t(request, lang, "invitations.web.exists"), login=True)


def _guesses_exceeded(request: Request) -> bool:
    services = get_services(request)
    with services.db.session() as session:
        return repo.rate_exceeded(session, f"signup-guess:{client_ip(request)}",
                                  limit=services.settings.signup_guess_limit, window=GUESS_WINDOW,
                                  now=services.clock.now())


def _record_guess(request: Request) -> None:
    services = get_services(request)
    with services.db.write() as session:
        repo.rate_record(session, f"signup-guess:{client_ip(request)}", window=GUESS_WINDOW, now=services.clock.now())


def _signup_page(request: Request, view: SignupView, *, status: int = 200, name: str | None = None,
                 errors: dict[str, str] | None = None, alert: str | None = None) -> Response:
    service = _service(request)
    lang = view.language
    policy = view.settings.password
    codes = ["too_short", "no_upper", "no_lower", "no_digit", "no_special", "common", "contains_email",
             "too_long", "mismatch", "name_required", "name_too_long"]
    config = {
        "policy": policy.model_dump(),
        "max": 128,
        "local": view.email.rpartition("@")[0],
        "common": service.common.at_least(policy.min_length) if policy.not_common else [],
        "messages": {code: _t(request, lang, f"invitations.rule.{code}", min=policy.min_length, max=128)
                     for code in codes},
    }
    checks = [(code, _t(request, lang, f"invitations.check.{code}", min=policy.min_length))
              for code, enabled in (("too_short", True), ("no_upper", policy.upper), ("no_lower", policy.lower),
                                    ("no_digit", policy.digit), ("no_special", policy.special),
                                    ("common", policy.not_common), ("contains_email", policy.not_email))
              if enabled]
    return _pages(request).render(
        request, "signup.html", lang=lang, status=status, with_form=True, view=view,
        name=view.name if name is None else name, errors=errors or {}, alert=alert, config=config, checks=checks,
    )


@router.get("/api/accounts/client-signup/{token}/", include_in_schema=False)
async def signup_page(request: Request, token: str) -> Response:
    """The signup page of an invitation link (410 for any link that is not live)."""
    if await run_in_threadpool(_guesses_exceeded, request):
        return _too_many(request, "invitations.web.too_many_guesses")
    try:
        view = await run_in_threadpool(_service(request).signup_view, token)
    except LinkGone:
        await run_in_threadpool(_record_guess, request)
        return _gone(request)
    except AccountExists as exc:
        return _account_exists(request, exc.lang)
    return _signup_page(request, view)


def _session_redirect(request: Request, cookie: str, target: str = "/account") -> Response:
    response = RedirectResponse(target, status_code=303)
    days = get_services(request).settings.client_session_days
    response.set_cookie(SESSION_COOKIE, cookie, max_age=days * 86400, httponly=True, samesite="lax",
                        secure=is_https(request), path="/")
    return response


@router.post("/api/accounts/client-signup/{token}/", include_in_schema=False)
async def signup_submit(request: Request, token: str) -> Response:
    """Create the account: the link is claimed and the account created in one transaction."""
    if await run_in_threadpool(_guesses_exceeded, request):
        return _too_many(request, "invitations.web.too_many_guesses")
    service = _service(request)
    try:
        form = await read_form(request, SIGNUP_BODY_LIMIT)
    except BodyRefused as exc:
        return _refused_page(request, exc, _lang(request))
    name, password, confirmation = form.get("name", ""), form.get("password", ""), form.get("password_confirm", "")
    try:
        if not _pages(request).csrf.valid(request, form.get("csrf", "")):
            view = await run_in_threadpool(service.signup_view, token)
            return _signup_page(request, view, status=403, name=name,
                                alert=_t(request, view.language, "invitations.web.csrf"))
        # Any "email" field posted is ignored: the account gets the invited address.
        redeemed = await run_in_threadpool(
            lambda: service.redeem(token, name=name, password=password, confirmation=confirmation,
                                   ip=client_ip(request), user_agent=user_agent(request))
        )
    except LinkGone:
        await run_in_threadpool(_record_guess, request)
        return _gone(request)
    except AccountExists as exc:
        return _account_exists(request, exc.lang)
    except FormInvalid as exc:
        view = await run_in_threadpool(service.signup_view, token)
        errors = _field_errors(get_services(request), exc.problems, view.language)
        return _signup_page(request, view, status=422, name=name, errors=errors,
                            alert=_t(request, view.language, "invitations.web.fix_fields"))
    return _session_redirect(request, redeemed.session_token)


# ================================================================ sign-in and account


def _login_page(request: Request, lang: str, *, status: int = 200, email: str = "", alert: str | None = None,
                headers: dict[str, str] | None = None) -> Response:
    return _pages(request).render(request, "login.html", lang=lang, status=status, with_form=True, email=email,
                                  alert=alert, headers=headers)


@router.get("/login", include_in_schema=False)
async def login_page(request: Request) -> Response:
    """The client sign-in page."""
    service = _service(request)
    if await run_in_threadpool(service.signed_in, request.cookies.get(SESSION_COOKIE)):
        return RedirectResponse("/account", status_code=303)
    return _login_page(request, _lang(request))


@router.post("/login", include_in_schema=False)
async def login_submit(request: Request) -> Response:
    """Check the email and password (rate limited per address and per IP)."""
    services = get_services(request)
    service = _service(request)
    try:
        form = await read_form(request, SIGNUP_BODY_LIMIT)
    except BodyRefused as exc:
        return _refused_page(request, exc, _lang(request))
    lang = _lang(request, form.get("lang"))
    email = form.get("email", "")[:254]
    if not _pages(request).csrf.valid(request, form.get("csrf", "")):
        return _login_page(request, lang, status=403, email=email, alert=_t(request, lang, "invitations.web.csrf"))
    ip = client_ip(request)
    keys = (f"login:{ip}", f"login-email:{sha256_hex(email.strip().lower())}")
    limit = services.settings.login_rate_limit

    def exceeded() -> bool:
        with services.db.session() as session:
            now = services.clock.now()
            return any(repo.rate_exceeded(session, k, limit=limit, window=LOGIN_WINDOW, now=now) for k in keys)

    if await run_in_threadpool(exceeded):
        return _login_page(request, lang, status=429, email=email, headers={"Retry-After": "900"},
                           alert=_t(request, lang, "invitations.web.too_many_logins"))
    result = await run_in_threadpool(
        lambda: service.authenticate(email, form.get("password", ""), ip=ip, user_agent=user_agent(request)))
    if result is None:
        def record() -> None:
            with services.db.write() as session:
                for key in keys:
                    repo.rate_record(session, key, window=LOGIN_WINDOW, now=services.clock.now())

        await run_in_threadpool(record)
        return _login_page(request, lang, status=401, email=email, alert=_t(request, lang, "invitations.web.bad_login"))
    return _session_redirect(request, result[0])


@router.get("/logout", include_in_schema=False)
async def logout_page(request: Request) -> Response:
    """A page with the sign-out button (signing out is a POST)."""
    signed = await run_in_threadpool(_service(request).signed_in, request.cookies.get(SESSION_COOKIE))
    if signed is None:
        return RedirectResponse("/login", status_code=303)
    return _pages(request).render(request, "logout.html", lang=signed.language, with_form=True)


@router.post("/logout", include_in_schema=False)
async def logout_submit(request: Request) -> Response:
    """End the session and forget the cookie."""
    try:
        form = await read_form(request, SIGNUP_BODY_LIMIT)
    except BodyRefused as exc:
        return _refused_page(request, exc, _lang(request))
    if not _pages(request).csrf.valid(request, form.get("csrf", "")):
        lang = _lang(request)
        return _pages(request).render(request, "logout.html", lang=lang, status=403, with_form=True,
                                      alert=_t(request, lang, "invitations.web.csrf"))
    await run_in_threadpool(_service(request).sign_out, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request))
    return response


@router.get("/account", include_in_schema=False)
async def account_page(request: Request) -> Response:
    """The client's account: who they are and the quotes sent to their address."""
    services = get_services(request)
    signed = await run_in_threadpool(_service(request).signed_in, request.cookies.get(SESSION_COOKIE))
    if signed is None:
        return RedirectResponse("/login", status_code=303)

    def load() -> tuple[str, list[Any]]:
        lookup = services.get(QuoteLookup)  # type: ignore[type-abstract]
        with services.db.session() as session:
            org = session.get(Organization, signed.org_id)
            quotes = lookup.quotes_for_email(session, signed.org_id, signed.email)
            return (org.name if org else ""), quotes

    org_name, quotes = await run_in_threadpool(load)
    service = _service(request)
    dates = [service.short(q.sent_at, signed.language) if q.sent_at else "" for q in quotes]
    return _pages(request).render(request, "account.html", lang=signed.language, with_form=True, account=signed,
                                  org_name=org_name, quotes=list(zip(quotes, dates, strict=True)))


# ================================================================ admin API (bearer token)


class CreateInvitationBody(BaseModel):
    """The seed's create-invitation body."""

    contact_name: str = Field(default="", max_length=120)
    contact_email: str = Field(max_length=254)
    contact_subject: str = Field(default="", max_length=200)
    contact_message: str = Field(default="", max_length=5000)
    language: Literal["fr", "en"] | None = None


class SendInvitationBody(BaseModel):
    """The seed's send-invitation body."""

    invitation_id: int
    custom_message: str | None = Field(default=None, max_length=1000)


class InvitationIdBody(BaseModel):
    """An invitation to act on."""

    invitation_id: int


def invitation_json(invitation: Invitation, now: Any) -> dict[str, Any]:
    """An invitation as the admin API shows it (no token: only hashes are stored)."""

    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": invitation.id, "email": invitation.email, "name": invitation.name,
        "status": invitation.effective_status(now), "language": invitation.language,
        "personal_message": invitation.personal_message, "contact_message_id": invitation.contact_message_id,
        "created_at": iso(invitation.created_at), "created_via": invitation.created_via,
        "created_by_user_id": invitation.created_by_user_id, "expires_at": iso(invitation.expires_at),
        "mail_state": invitation.mail_state, "mail_from": invitation.mail_from,
        "last_sent_at": iso(invitation.last_sent_at), "used_at": iso(invitation.used_at),
        "used_ip": invitation.used_ip, "used_user_agent": invitation.used_user_agent,
        "account_id": invitation.account_id, "cancelled_at": iso(invitation.cancelled_at),
    }


def _user_error(request: Request, err: UserError) -> HTTPException:
    lang = _lang(request)
    message = get_services(request).catalog.t(err.key, lang, **err.params)
    return HTTPException(USER_ERROR_STATUS.get(err.key, 422),
                         {"error": err.key.rsplit(".", 1)[-1], "message": message})


@router.post("/api/accounts/create-invitation/", status_code=201, tags=["admin"])
def create_invitation(request: Request, body: CreateInvitationBody, org: AdminOrg) -> dict[str, Any]:
    """Record a contact and a pending invitation for them (send it with send-invitation)."""
    services = get_services(request)
    service = _service(request)
    language = body.language or _lang(request)
    try:
        with services.db.write() as session:
            live_org = session.get(Organization, org.id)
            assert live_org is not None
            contact = None
            if body.contact_message.strip() or body.contact_subject.strip():
                contact = ContactMessage(
                    org_id=org.id, name=body.contact_name.strip() or body.contact_email.strip(),
                    email=body.contact_email.strip().lower(), subject=body.contact_subject.strip(),
                    message=body.contact_message.strip(), language=language, source="admin",
                    created_at=services.clock.now(),
                )
                session.add(contact)
                session.flush()
            invitation = service.create(session, live_org, email=body.contact_email, name=body.contact_name,
                                        language=language, contact=contact, via="api", field_name="contact_email")
            return invitation_json(invitation, services.clock.now())
    except UserError as err:
        raise _user_error(request, err) from None


def _delivery_json(request: Request, delivery: Delivery, lang: str) -> dict[str, Any]:
    catalog = get_services(request).catalog
    state = delivery.state
    message_key = {"sent": "invitations.api.sent", "no_mailbox": "invitations.api.no_mailbox",
                   "unavailable": "invitations.api.mail_unavailable", "relink": "invitations.api.relink",
                   "failed": "invitations.api.failed", "retry": "invitations.api.retry"}.get(state, "invitations.api.busy")
    return {"state": state, "sent": state == "sent", "sender": delivery.sender, "detail": delivery.detail,
            "message": catalog.t(message_key, lang, address=delivery.detail or delivery.sender or "?",
                                 reason=delivery.detail or "?")}


@router.post("/api/accounts/send-invitation/", tags=["admin"])
def send_invitation(request: Request, body: SendInvitationBody, org: AdminOrg) -> dict[str, Any]:
    """Send (or send again, with a fresh link) an invitation's email from the linked mailbox."""
    services = get_services(request)
    service = _service(request)
    lang = _lang(request)
    try:
        delivery = service.send_now(org.id, body.invitation_id, personal_message=body.custom_message)
    except UserError as err:
        raise _user_error(request, err) from None
    with services.db.session() as session:
        invitation = repo.org_invitation(session, org.id, body.invitation_id)
        assert invitation is not None
        data = invitation_json(invitation, services.clock.now())
    return {"invitation": data, "email": _delivery_json(request, delivery, lang), "signup_url": delivery.link}


@router.get("/api/accounts/invitations/", tags=["admin"])
def list_invitations(request: Request, org: AdminOrg, status: str | None = None, limit: int = 50) -> dict[str, Any]:
    """The organization's invitations, newest first (``?status=pending|used|expired|cancelled``)."""
    services = get_services(request)
    if status is not None and status not in repo.STATUSES:
        raise HTTPException(422, {"error": "status", "message": f"status is one of {', '.join(repo.STATUSES)}"})
    now = services.clock.now()
    with services.db.write() as session:
        repo.expire_due(session, now, org.id)
        rows = repo.recent_invitations(session, org.id, limit=max(1, min(limit, 500)), status=status)
        return {"invitations": [invitation_json(r, now) for r in rows]}


@router.post("/api/accounts/cancel-invitation/", tags=["admin"])
def cancel_invitation(request: Request, body: InvitationIdBody, org: AdminOrg) -> dict[str, Any]:
    """Cancel an invitation: its links stop working at once."""
    services = get_services(request)
    try:
        with services.db.write() as session:
            invitation = _service(request).cancel(session, org.id, body.invitation_id, None)
            return invitation_json(invitation, services.clock.now())
    except UserError as err:
        raise _user_error(request, err) from None


@router.get("/api/accounts/contact-messages/", tags=["admin"])
def list_contact_messages(request: Request, org: AdminOrg, limit: int = 50) -> dict[str, Any]:
    """The latest contact messages."""
    services = get_services(request)
    with services.db.session() as session:
        rows = repo.recent_contacts(session, org.id, limit=max(1, min(limit, 500)))
        return {"contact_messages": [
            {"id": c.id, "name": c.name, "email": c.email, "subject": c.subject, "message": c.message,
             "language": c.language, "source": c.source, "created_at": c.created_at.isoformat()} for c in rows
        ]}


@router.get("/api/accounts/invitation-settings/", tags=["admin"])
def get_invitation_settings(request: Request, org: AdminOrg) -> dict[str, Any]:
    """The organization's invitation settings (link lifetime, password and email rules)."""
    return _service(request).settings_for(org).model_dump()


@router.put("/api/accounts/invitation-settings/", tags=["admin"])
async def put_invitation_settings(request: Request, org: AdminOrg) -> dict[str, Any]:
    """Replace the organization's invitation settings; unknown or invalid fields are refused."""
    services = get_services(request)
    try:
        data = await read_json_object(request, 64 * 1024)
        new = parse_settings(data)
    except BodyRefused as exc:
        raise HTTPException(exc.status, {"error": exc.code}) from None
    except SettingsInvalid as exc:
        raise HTTPException(422, {"error": "settings", "message": str(exc)}) from None

    def save() -> None:
        with services.db.write() as session:
            live_org = session.get(Organization, org.id)
            assert live_org is not None
            _service(request).save_settings(session, live_org, new)

    await run_in_threadpool(save)
    return new.model_dump()
