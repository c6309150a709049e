"""The sandbox sender: outbound messages land in a local transcript instead of Meta.

It behaves like the Cloud API where it matters for testing offline: it returns message ids,
stores documents as media, and enforces the 24-hour customer service window (131047) from
the user's last message, as WhatsApp does.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from integrations.whatsapp import (
    Document,
    OutgoingMessage,
    Recipient,
    Template,
    WindowClosed,
    message_to_payload,
)
from storage.db import Database
from storage.models import SandboxMedia, SandboxMessage, User

WINDOW = timedelta(hours=24)


class SandboxWhatsApp:
    """Stores what would be sent to WhatsApp in the sandbox transcript."""

    def __init__(self, db: Database, now: Callable[[], datetime], *, enforce_window: bool = True) -> None:
        self._db = db
        self._now = now
        self.enforce_window = enforce_window

    async def send(self, to: Recipient, message: OutgoingMessage, tracker: str | None = None) -> str:
        """Record the message as delivered to the sandbox and return a message id."""
        return await asyncio.to_thread(self._send_sync, to, message)

    def _send_sync(self, to: Recipient, message: OutgoingMessage) -> str:
        key = to.address
        with self._db.write() as session:
            if self.enforce_window and not isinstance(message, Template):
                # The window opens with the user's last message to the business, however it came in.
                clauses = []
                if to.phone:
                    clauses.append(User.phone == to.phone)
                if to.user_id:
                    clauses.append(User.wa_user_id == to.user_id)
                last_in = session.scalar(select(User.last_inbound_at).where(or_(*clauses)).limit(1))
                if last_in is None or self._now() - last_in > WINDOW:
                    raise WindowClosed(
                        "WhatsApp error 131047: Re-engagement message", code=131047, title="Re-engagement message"
                    )
            payload = {"kind": message.kind, **message_to_payload(message)}
            if isinstance(message, Document):
                media = SandboxMedia(
                    filename=message.filename, mime_type=message.mime_type, content=message.content
                )
                session.add(media)
                session.flush()
                payload["media_id"] = media.id
            wamid = f"wamid.sandbox.{uuid.uuid4().hex}"
            session.add(
                SandboxMessage(
                    user_key=key, direction="out", wa_message_id=wamid, payload=payload, created_at=self._now()
                )
            )
        return wamid

    async def aclose(self) -> None:
        """Nothing to release."""
