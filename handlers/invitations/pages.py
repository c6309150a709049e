"""What the public pages share: rendering with security headers, CSRF tokens, language, client IP, bodies."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from bot.i18n import Catalog

CSRF_COOKIE = "courrier_csrf"
SESSION_COOKIE = "courrier_client"
LANGS = ("fr", "en")


class BodyRefused(Exception):
    """A request body that is refused before parsing: too large, wrong type, unreadable."""

    def __init__(self, code: str, status: int) -> None:
        super().__init__(code)
        self.code = code
        self.status = status


def client_ip(request: Request) -> str:
    """The caller's address as the server sees it (behind a proxy, run uvicorn with --proxy-headers)."""
    return request.client.host if request.client else "unknown"


def user_agent(request: Request) -> str | None:
    """The caller's User-Agent, truncated."""
    value = request.headers.get("user-agent")
    return value[:300] if value else None


def is_https(request: Request) -> bool:
    """True when the page is served over HTTPS (cookies then get the Secure flag)."""
    return request.url.scheme == "https"


def pick_language(request: Request, default: str, explicit: str | None = None) -> str:
    """``explicit`` or ``?lang=`` when fr/en, else the first of fr/en in Accept-Language, else ``default``."""
    for candidate in (explicit, request.query_params.get("lang")):
        if candidate in LANGS:
            return candidate
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return default


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing more than ``limit`` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BodyRefused("too_large", 413)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise BodyRefused("too_large", 413)
    return bytes(body)


async def read_form(request: Request, limit: int, max_fields: int = 20) -> dict[str, str]:
    """An urlencoded form (the first value of each field), size-limited."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise BodyRefused("form_type", 415)
    body = await read_body(request, limit)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=max_fields,
                          strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise BodyRefused("unreadable", 400) from None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    """A JSON object body, size-limited; only ``application/json`` (which keeps cross-site forms out)."""
    if not request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json":
        raise BodyRefused("json_type", 415)
    body = await read_body(request, limit)
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BodyRefused("unreadable", 400) from None
    if not isinstance(data, dict):
        raise BodyRefused("unreadable", 400)
    return data


class Csrf:
    """Signed double-submit tokens: a random cookie, and its HMAC in the form."""

    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(b"courrier:csrf:" + key).digest()

    def field_for(self, nonce: str) -> str:
        """The form value that goes with a cookie value."""
        return hmac.new(self._key, nonce.encode(), hashlib.sha256).hexdigest()

    def nonce(self, request: Request) -> tuple[str, bool]:
        """The browser's cookie value, or a new one (True when it must be set)."""
        current = request.cookies.get(CSRF_COOKIE, "")
        if 20 <= len(current) <= 100 and current.replace("-", "").replace("_", "").isalnum():
            return current, False
        return secrets.token_urlsafe(32), True

    def valid(self, request: Request, submitted: str) -> bool:
        """True when the form's token matches the browser's cookie."""
        nonce = request.cookies.get(CSRF_COOKIE, "")
        if not nonce or not submitted:
            return False
        return hmac.compare_digest(self.field_for(nonce), submitted)

    @staticmethod
    def set_cookie(response: Response, nonce: str, request: Request) -> None:
        """Give the browser its CSRF cookie."""
        response.set_cookie(CSRF_COOKIE, nonce, httponly=True, samesite="strict", secure=is_https(request),
                            path="/")


class Pages:
    """Renders ``templates/web/invitations/*.html`` in a language, with a CSP nonce and strict headers."""

    def __init__(self, templates_dir: Path, catalog: Catalog, csrf: Csrf) -> None:
        self._env = Environment(
            loader=FileSystemLoader(templates_dir / "web" / "invitations"),
            autoescape=select_autoescape(default=True),
            undefined=StrictUndefined,
        )
        self._catalog = catalog
        self.csrf = csrf

    def render(self, request: Request, template: str, *, lang: str, status: int = 200, with_form: bool = False,
               headers: Mapping[str, str] | None = None, **context: Any) -> HTMLResponse:
        """An HTML page; ``with_form`` adds a CSRF token (and sets its cookie when new)."""
        nonce = secrets.token_urlsafe(16)
        catalog = self._catalog

        def t(key: str, **params: Any) -> str:
            return catalog.t(key, lang, **params)

        csrf_nonce, new_cookie = self.csrf.nonce(request) if with_form else ("", False)
        html = self._env.get_template(template).render(
            t=t, lang=lang, nonce=nonce, csrf=self.csrf.field_for(csrf_nonce) if with_form else "",
            other_lang="en" if lang == "fr" else "fr", **context,
        )
        response = HTMLResponse(html, status_code=status, headers=dict(headers or {}))
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; img-src 'self' data:; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        # Signup URLs carry the token: never leak them in a Referer.
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cache-Control"] = "no-store"
        if new_cookie:
            self.csrf.set_cookie(response, csrf_nonce, request)
        return response
