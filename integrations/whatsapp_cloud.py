"""The real WhatsApp sender: pywa_async over an injected httpx client, Graph errors made typed."""

from __future__ import annotations

import logging
from typing import Any

import httpx
from pywa_async import WhatsApp
from pywa_async import errors as wa_errors
from pywa_async.types import Button as PywaButton
from pywa_async.types import Section as PywaSection
from pywa_async.types import SectionList, SectionRow

from integrations.whatsapp import (
    AmbiguousSend,
    Buttons,
    Document,
    ListMessage,
    OutgoingMessage,
    RateLimited,
    Recipient,
    Template,
    Text,
    TransientError,
    Undeliverable,
    WhatsAppAuthError,
    WhatsAppSendError,
    WindowClosed,
)

log = logging.getLogger(__name__)

RATE_LIMIT_CODES = {4, 80007, 130429, 131048, 131056}
AUTH_CODES = {0, 190}
WINDOW_CODES = {131047}
UNDELIVERABLE_CODES = {131026}
TRANSIENT_CODES = {1, 2, 131000, 131016, 133004}


def default_http_client(transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """An httpx client with explicit timeouts and a bounded pool."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(15.0, connect=5.0),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        transport=transport,
    )


def translate_error(exc: Exception) -> WhatsAppSendError:
    """Map a pywa or httpx error to one of the port's domain errors."""
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return TransientError(f"could not reach WhatsApp: {type(exc).__name__}")
    if isinstance(exc, httpx.TransportError):
        # The request was written, or may have been: WhatsApp may have taken it.
        return AmbiguousSend(f"no answer from WhatsApp after sending: {type(exc).__name__}")
    if isinstance(exc, wa_errors.WhatsAppError):
        code = exc.code
        title = exc.message
        status = exc.status_code
        text = f"WhatsApp error {code}: {title}"
        if code in WINDOW_CODES:
            return WindowClosed(text, code=code, title=title)
        if code in RATE_LIMIT_CODES or status == 429:
            retry_after = None
            if exc.raw_response is not None:
                header = exc.raw_response.headers.get("retry-after")
                if header and header.isdigit():
                    retry_after = float(header)
            return RateLimited(text, code=code, title=title, retry_after=retry_after)
        if code in AUTH_CODES or status == 401:
            return WhatsAppAuthError(text, code=code, title=title)
        if code in UNDELIVERABLE_CODES:
            return Undeliverable(text, code=code, title=title)
        if code in TRANSIENT_CODES or (status is not None and status >= 500) or exc.is_transient:
            return TransientError(text, code=code, title=title)
        return Undeliverable(text, code=code, title=title)
    return TransientError(f"unexpected error sending to WhatsApp: {type(exc).__name__}")


class CloudWhatsApp:
    """Sends through the WhatsApp Cloud API at ``api_url`` (Meta, a gateway, or a local fake)."""

    def __init__(
        self,
        *,
        token: str,
        phone_number_id: str,
        api_url: str,
        api_version: str,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._http = http or default_http_client()
        self._phone_id = phone_number_id
        self._wa = WhatsApp(
            phone_id=phone_number_id,
            token=token,
            session=self._http,
            api_version=float(api_version),
        )
        # pywa points the client at graph.facebook.com; every call must go to the configured base.
        self._http.base_url = httpx.URL(f"{api_url.rstrip('/')}/v{api_version}/")

    async def send(self, to: Recipient, message: OutgoingMessage, tracker: str | None = None) -> str:
        """Send one message and return its WhatsApp message id; ``tracker`` is echoed in status webhooks."""
        try:
            return await self._send(to.address, message, tracker)
        except WhatsAppSendError:
            raise
        except Exception as exc:
            raise translate_error(exc) from exc

    async def _send(self, address: str, message: OutgoingMessage, tracker: str | None) -> str:
        if isinstance(message, Text):
            sent: Any = await self._wa.send_message(to=address, text=message.body, tracker=tracker)
        elif isinstance(message, Buttons):
            sent = await self._wa.send_message(
                to=address,
                text=message.body,
                header=message.header,
                footer=message.footer,
                buttons=[PywaButton(title=b.title, callback_data=b.id) for b in message.buttons],
                tracker=tracker,
            )
        elif isinstance(message, ListMessage):
            sent = await self._wa.send_message(
                to=address,
                text=message.body,
                header=message.header,
                footer=message.footer,
                buttons=SectionList(
                    button_title=message.button,
                    sections=[
                        PywaSection(
                            title=s.title,
                            rows=[SectionRow(title=r.title, callback_data=r.id, description=r.description)
                                  for r in s.rows],
                        )
                        for s in message.sections
                    ],
                ),
                tracker=tracker,
            )
        elif isinstance(message, Document):
            uploaded = await self._wa.api.upload_media(
                phone_id=self._phone_id,
                media=message.content,
                mime_type=message.mime_type,
                filename=message.filename,
            )
            sent = await self._wa.send_document(
                to=address, document=uploaded["id"], filename=message.filename, caption=message.caption,
                tracker=tracker,
            )
        else:
            return await self._send_template(address, message, tracker)
        return str(sent.id)

    async def _send_template(self, address: str, message: Template, tracker: str | None) -> str:
        recipient: dict[str, Any] = (
            {"to": address, "recipient": None} if address.isdigit() else {"to": None, "recipient": address}
        )
        components = []
        if message.body_params:
            components.append(
                {"type": "body", "parameters": [{"type": "text", "text": p} for p in message.body_params]}
            )
        result = await self._wa.api.send_message(
            sender=self._phone_id,
            recipient_type="individual",
            typ="template",
            msg={"name": message.name, "language": {"code": message.language}, "components": components},
            biz_opaque_callback_data=tracker,
            **recipient,
        )
        return str(result["messages"][0]["id"])

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()
