"""The WhatsApp webhook: verification handshake (GET) and signed updates (POST)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from bot.payload import MalformedPayload
from bot.web import get_services

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 3 * 1024 * 1024

router = APIRouter()


def valid_signature(raw: bytes, header: str, secret: str) -> bool:
    """True when ``header`` is ``sha256=<hex HMAC-SHA256 of raw with secret>`` (constant-time)."""
    if not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len("sha256=") :].strip().lower())


def sign(raw: bytes, secret: str) -> str:
    """The ``X-Hub-Signature-256`` header value Meta would send for ``raw``."""
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


@router.get("/webhooks/whatsapp", response_class=PlainTextResponse)
async def verify(request: Request) -> Response:
    """Meta's subscription handshake: echo hub.challenge when the verify token matches."""
    settings = get_services(request).settings
    params = request.query_params
    expected = settings.whatsapp_verify_token
    given = params.get("hub.verify_token", "")
    if (
        expected
        and params.get("hub.mode") == "subscribe"
        and hmac.compare_digest(given.encode(), expected.encode())
    ):
        return PlainTextResponse(params.get("hub.challenge", ""), status_code=200)
    return PlainTextResponse("Forbidden", status_code=403)


class _TooLarge(Exception):
    pass


async def _read_body(scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]]) -> bytes:
    """The whole request body; _TooLarge past MAX_BODY_BYTES (declared or actual)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            if value.isdigit() and int(value) > MAX_BODY_BYTES:
                raise _TooLarge
            break
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionError("client went away")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise _TooLarge
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _header(scope: dict[str, Any], wanted: bytes) -> str | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return value.decode("latin-1")  # type: ignore[no-any-return]
    return None


_STORED = [json.dumps({"stored": n}).encode() for n in range(4)]  # the usual answers, encoded once


async def _answer(send: Callable[[dict[str, Any]], Awaitable[None]], status: int, body: dict[str, Any]) -> None:
    stored = body.get("stored")
    raw = _STORED[stored] if status == 200 and isinstance(stored, int) and 0 <= stored < len(_STORED) else \
        json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]})
    await send({"type": "http.response.body", "body": raw})


async def receive_update(services: Services, scope: dict[str, Any],
                         receive: Callable[[], Awaitable[dict[str, Any]]],
                         send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
    """POST /webhooks/whatsapp: check the signature on the raw bytes, store every update, then 200.

    The acknowledgement is the hottest path of the server (Meta retries anything slow), so it is a
    plain ASGI handler: the application dispatches to it before the framework's middleware and
    routing stack, which it needs none of.
    """
    secret = services.settings.whatsapp_app_secret
    if not secret:
        await _answer(send, 503, {"error": "webhook not configured (COURRIER_WHATSAPP_APP_SECRET)"})
        return
    try:
        raw = await _read_body(scope, receive)
    except _TooLarge:
        await _answer(send, 413, {"error": "body larger than 3 MB"})
        return
    header = _header(scope, b"x-hub-signature-256")
    if not header:
        await _answer(send, 401, {"error": "missing X-Hub-Signature-256"})
        return
    # Meta signs the raw body: verify before parsing anything.
    if not valid_signature(raw, header, secret):
        await _answer(send, 403, {"error": "invalid signature"})
        return
    try:
        result = await services.ingest.receive_async(raw)
    except MalformedPayload as exc:
        await _answer(send, 400, {"error": str(exc)})
        return
    if result.duplicates:
        log.info("webhook: %d duplicate update(s) ignored", result.duplicates)
    await _answer(send, 200, {"stored": result.stored})
