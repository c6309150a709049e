"""The WhatsApp webhook: verification handshake (GET) and signed updates (POST)."""

from __future__ import annotations

import hashlib
import hmac
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from bot.payload import MalformedPayload
from bot.web import get_services

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


async def _read_limited(request: Request) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def receive(request: Request) -> Response:
    """Check the signature on the raw bytes, store every update durably, then answer 200."""
    services = get_services(request)
    secret = services.settings.whatsapp_app_secret
    if not secret:
        return JSONResponse({"error": "webhook not configured (COURRIER_WHATSAPP_APP_SECRET)"}, status_code=503)
    raw = await _read_limited(request)
    if raw is None:
        return JSONResponse({"error": "body larger than 3 MB"}, status_code=413)
    header = request.headers.get("x-hub-signature-256")
    if not header:
        return JSONResponse({"error": "missing X-Hub-Signature-256"}, status_code=401)
    # Meta signs the raw body: verify before parsing anything.
    if not valid_signature(raw, header, secret):
        return JSONResponse({"error": "invalid signature"}, status_code=403)
    try:
        result = await services.ingest.receive_async(raw)
    except MalformedPayload as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    if result.duplicates:
        log.info("webhook: %d duplicate update(s) ignored", result.duplicates)
    return JSONResponse({"stored": result.stored})


# The POST is the hot path: a plain Starlette route, without FastAPI's dependency and
# validation machinery (it needs neither), keeps acknowledgements close to the framework's floor.
router.add_route("/webhooks/whatsapp", receive, methods=["POST"], include_in_schema=False)
