"""Webhook payloads: every message and status of a POST, tolerant of old and new shapes.

Meta batches updates: one POST may carry several entries, each with several changes, each with
several messages and statuses; all are extracted. Since 2026 a sender may hide the phone number
behind a username, and then only the business-scoped user id (``from_user_id`` / ``user_id``)
identifies them; older payloads carry only ``from`` / ``wa_id``. A failed status has no
``contacts`` block.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from storage.inbound import NewEvent

log = logging.getLogger(__name__)

MAX_ID_LENGTH = 256


class MalformedPayload(Exception):
    """The body is not the JSON object a webhook sends."""


@dataclass(frozen=True)
class Sender:
    """Who wrote: phone in E.164 (when shown), business-scoped user id, username, profile name."""

    phone: str | None
    user_id: str | None
    username: str | None = None
    name: str | None = None

    @property
    def key(self) -> str:
        """A stable key for ordering and rate limits: the user id, else the phone."""
        return self.user_id or self.phone or "unknown"


@dataclass(frozen=True)
class InboundMessage:
    """A user's message as the router needs it."""

    id: str
    sender: Sender
    timestamp: datetime | None
    type: str
    text: str | None = None
    reply_id: str | None = None
    reply_title: str | None = None
    document: dict[str, Any] | None = None


@dataclass(frozen=True)
class StatusUpdate:
    """A delivery status of a message Courrier sent."""

    id: str
    status: str
    timestamp: datetime | None
    recipient_phone: str | None
    recipient_user_id: str | None
    errors: list[tuple[int | None, str | None]] = field(default_factory=list)
    tracker: str | None = None


def _str(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _phone(value: Any) -> str | None:
    digits = _str(value)
    if digits is None:
        return None
    digits = digits.lstrip("+")
    return f"+{digits}" if digits.isdigit() and 6 <= len(digits) <= 15 else None


def _timestamp(value: Any) -> datetime | None:
    raw = _str(value)
    if raw is None or not raw.isdigit():
        return None
    try:
        return datetime.fromtimestamp(int(raw), UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _valid_id(value: Any) -> str | None:
    text = _str(value)
    return text if text and len(text) <= MAX_ID_LENGTH else None


def extract_events(body: Any) -> tuple[list[NewEvent], int]:
    """Every message and status of a webhook body as events to store, and how many were skipped."""
    if not isinstance(body, dict):
        raise MalformedPayload("the body must be a JSON object")
    events: list[NewEvent] = []
    skipped = 0
    for entry in _dicts(body.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if not isinstance(value, dict):
                continue
            metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
            phone_number_id = _str(metadata.get("phone_number_id")) if metadata else None
            contacts = _dicts(value.get("contacts"))
            for message in _dicts(value.get("messages")):
                event = _message_event(message, contacts, phone_number_id)
                if event is None:
                    skipped += 1
                else:
                    events.append(event)
            for status in _dicts(value.get("statuses")):
                status_event = _status_event(status, phone_number_id)
                if status_event is None:
                    skipped += 1
                else:
                    events.append(status_event)
    return events, skipped


def _contact_for(message: dict[str, Any], contacts: list[dict[str, Any]]) -> dict[str, Any] | None:
    user_id, phone = _str(message.get("from_user_id")), _str(message.get("from"))
    for contact in contacts:
        if (user_id and _str(contact.get("user_id")) == user_id) or (phone and _str(contact.get("wa_id")) == phone):
            return contact
    return contacts[0] if len(contacts) == 1 else None


def _message_event(message: dict[str, Any], contacts: list[dict[str, Any]], phone_number_id: str | None) -> NewEvent | None:
    wamid = _valid_id(message.get("id"))
    contact = _contact_for(message, contacts)
    sender = sender_of(message, contact)
    if wamid is None or (sender.phone is None and sender.user_id is None):
        return None
    return NewEvent(
        kind="message",
        wa_message_id=wamid,
        status="",
        sender=sender.key[:160],
        phone_number_id=phone_number_id,
        payload={"message": message, "contact": contact, "phone_number_id": phone_number_id},
    )


def _status_event(status: dict[str, Any], phone_number_id: str | None) -> NewEvent | None:
    wamid = _valid_id(status.get("id"))
    state = _str(status.get("status"))
    if wamid is None or state is None or len(state) > 32:
        return None
    # Statuses need no ordering beyond their own message's, so they never wait behind each other.
    return NewEvent(
        kind="status",
        wa_message_id=wamid,
        status=state,
        sender=f"status:{wamid}"[:160],
        phone_number_id=phone_number_id,
        payload={"status": status},
    )


def sender_of(message: dict[str, Any], contact: dict[str, Any] | None) -> Sender:
    """The sender of a message, from the message and its contact block (either may lack fields)."""
    contact = contact or {}
    profile = contact.get("profile") if isinstance(contact.get("profile"), dict) else {}
    return Sender(
        phone=_phone(message.get("from")) or _phone(contact.get("wa_id")),
        user_id=_str(message.get("from_user_id")) or _str(contact.get("user_id")),
        username=_str(contact.get("username")),
        name=_str(profile.get("name")) if profile else None,
    )


def parse_message(payload: dict[str, Any]) -> InboundMessage:
    """Rebuild a stored message event into what the router needs; unknown types stay unknown."""
    message = payload.get("message") if isinstance(payload.get("message"), dict) else {}
    contact = payload.get("contact") if isinstance(payload.get("contact"), dict) else None
    assert isinstance(message, dict)
    msg_type = _str(message.get("type")) or "unknown"
    base: dict[str, Any] = {
        "id": _str(message.get("id")) or "",
        "sender": sender_of(message, contact),
        "timestamp": _timestamp(message.get("timestamp")),
        "type": msg_type,
    }
    if msg_type == "text":
        text = message.get("text")
        body = _str(text.get("body")) if isinstance(text, dict) else None
        return InboundMessage(**base, text=body or "")
    if msg_type == "interactive":
        interactive = message.get("interactive") if isinstance(message.get("interactive"), dict) else {}
        assert isinstance(interactive, dict)
        for key in ("button_reply", "list_reply"):
            reply = interactive.get(key)
            if isinstance(reply, dict) and _str(reply.get("id")):
                return InboundMessage(**base, reply_id=_str(reply.get("id")), reply_title=_str(reply.get("title")))
        return InboundMessage(**base)
    if msg_type == "button":
        button = message.get("button") if isinstance(message.get("button"), dict) else {}
        assert isinstance(button, dict)
        payload_id = _str(button.get("payload"))
        if payload_id:
            return InboundMessage(**base, reply_id=payload_id, reply_title=_str(button.get("text")))
        return InboundMessage(**base, text=_str(button.get("text")) or "")
    if msg_type == "document":
        document = message.get("document")
        return InboundMessage(**base, document=document if isinstance(document, dict) else None,
                              text=_str(document.get("caption")) if isinstance(document, dict) else None)
    return InboundMessage(**base)


def parse_status(payload: dict[str, Any]) -> StatusUpdate:
    """Rebuild a stored status event."""
    status = payload.get("status") if isinstance(payload.get("status"), dict) else {}
    assert isinstance(status, dict)
    errors: list[tuple[int | None, str | None]] = []
    for error in _dicts(status.get("errors")):
        code = error.get("code")
        errors.append((code if isinstance(code, int) and not isinstance(code, bool) else None,
                       _str(error.get("title")) or _str(error.get("message"))))
    return StatusUpdate(
        id=_str(status.get("id")) or "",
        status=_str(status.get("status")) or "",
        timestamp=_timestamp(status.get("timestamp")),
        recipient_phone=_phone(status.get("recipient_id")),
        recipient_user_id=_str(status.get("recipient_user_id")),
        errors=errors,
        tracker=_str(status.get("biz_opaque_callback_data")),
    )


def redacted(payload: dict[str, Any]) -> dict[str, Any]:
    """A processed message's payload without its text (message texts are not kept)."""
    message = payload.get("message") if isinstance(payload.get("message"), dict) else {}
    assert isinstance(message, dict)
    return {"message": {"id": message.get("id"), "type": message.get("type")}, "redacted": True}
