"""The durable outbox: every WhatsApp message Courrier sends, once, with its delivery status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.orm import Session

from storage.inbound import insert_ignore
from storage.models import InboundEvent, OutboxMedia, OutboxMessage

# How long a message whose send may have gone through waits for a status webhook before a resend
# (Meta's 'sent' status normally follows within seconds).
CONFIRM_GRACE = timedelta(seconds=60)
TRACKER_PREFIX = "outbox:"

# A status never moves a message backwards (webhooks arrive out of order).
DELIVERY_RANK = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}


@dataclass(frozen=True)
class NewOutgoing:
    """One message to put in the outbox."""

    idempotency_key: str
    kind: str
    payload: dict[str, Any]
    org_id: int | None
    user_id: int | None
    recipient_phone: str | None
    recipient_user_id: str | None
    purpose: str = "reply"
    not_before: datetime | None = None


def enqueue(session: Session, items: list[NewOutgoing], now: datetime) -> int:
    """Insert messages, ignoring keys already present; returns how many were new."""
    rows = [
        {
            "idempotency_key": i.idempotency_key,
            "kind": i.kind,
            "payload": i.payload,
            "org_id": i.org_id,
            "user_id": i.user_id,
            "recipient_phone": i.recipient_phone,
            "recipient_user_id": i.recipient_user_id,
            "purpose": i.purpose,
            "state": "pending",
            "attempts": 0,
            "next_attempt_at": i.not_before,
            "created_at": now,
        }
        for i in items
    ]
    table: Table = OutboxMessage.__table__  # type: ignore[assignment]
    return insert_ignore(session, table, rows, ["idempotency_key"])


def store_media(session: Session, filename: str, mime_type: str, content: bytes) -> int:
    """Keep a document's bytes until the dispatcher uploads them; returns the media id."""
    media = OutboxMedia(filename=filename, mime_type=mime_type, content=content)
    session.add(media)
    session.flush()
    return media.id


def due_in_order(session: Session, now: datetime, limit: int = 2000) -> list[tuple[int, str]]:
    """(id, recipient) of due messages, oldest first, stopping at a recipient's first message not yet due.

    A message waiting for a retry holds back the later messages to the same person, so a
    conversation never arrives out of order.
    """
    stmt = (
        select(
            OutboxMessage.id,
            OutboxMessage.recipient_user_id,
            OutboxMessage.recipient_phone,
            OutboxMessage.next_attempt_at,
            OutboxMessage.state,
        )
        .where(OutboxMessage.state.in_(("pending", "sending", "unconfirmed")))
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    blocked: set[str] = set()
    due: list[tuple[int, str]] = []
    for message_id, user_id, phone, next_at, state in session.execute(stmt):
        recipient = user_id or phone or ""
        if recipient in blocked:
            continue
        # A message being sent, or whose fate is unknown, holds back the next ones until it is settled.
        if state != "pending" or (next_at is not None and next_at > now):
            blocked.add(recipient)
            continue
        due.append((message_id, recipient))
    return due


def claim(session: Session, message_id: int, now: datetime, lease: timedelta) -> OutboxMessage | None:
    """Move a due message to 'sending' for this dispatcher; None if another one has it."""
    stmt = (
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.state == "pending",
            or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now),
        )
        .values(state="sending", attempts=OutboxMessage.attempts + 1, next_attempt_at=now + lease, updated_at=now)
    )
    if not session.execute(stmt).rowcount:  # type: ignore[attr-defined]
        return None
    return session.get(OutboxMessage, message_id)


def tracker_id(tracker: object) -> int | None:
    """The outbox id a tracker ("outbox:42") names, if it is one of ours."""
    if isinstance(tracker, str) and tracker.startswith(TRACKER_PREFIX):
        digits = tracker[len(TRACKER_PREFIX) :]
        if digits.isdigit():
            return int(digits)
    return None


def _stored_confirmations(session: Session, now: datetime) -> set[int]:
    """Ids of unconfirmed messages due for a resend whose tracker is on a status still waiting in
    the inbound log."""
    expiring = set(
        session.scalars(
            select(OutboxMessage.id).where(
                OutboxMessage.state == "unconfirmed", OutboxMessage.next_attempt_at <= now
            )
        )
    )
    if not expiring:
        return set()
    payloads = session.scalars(
        select(InboundEvent.payload).where(
            InboundEvent.kind == "status", InboundEvent.state.in_(("pending", "processing"))
        )
    )
    statuses = (p.get("status") for p in payloads if isinstance(p, dict))
    named = {tracker_id(st.get("biz_opaque_callback_data")) for st in statuses if isinstance(st, dict)}
    return expiring & {i for i in named if i is not None}


def release_stale(session: Session, now: datetime) -> int:
    """Settle messages a crashed dispatcher left behind.

    A message left in 'sending' may or may not have reached WhatsApp: it becomes 'unconfirmed' and
    waits CONFIRM_GRACE for a status webhook carrying its tracker (which marks it sent). One still
    unconfirmed after that is sent again.
    """
    lost = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.state == "sending", OutboxMessage.next_attempt_at <= now)
        .values(state="unconfirmed", next_attempt_at=now + CONFIRM_GRACE)
    ).rowcount  # type: ignore[attr-defined]
    confirming = _stored_confirmations(session, now)
    if confirming:
        # WhatsApp's status for it is already in the inbound log, not yet applied (the worker that
        # would apply it may have died too): it did go out, so wait for that status, never resend.
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(confirming), OutboxMessage.state == "unconfirmed")
            .values(next_attempt_at=now + CONFIRM_GRACE)
        )
    expired = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.state == "unconfirmed", OutboxMessage.next_attempt_at <= now)
        .values(state="pending", next_attempt_at=now)
    ).rowcount  # type: ignore[attr-defined]
    return int(lost or 0) + int(expired or 0)


def apply_status(
    session: Session,
    provider_message_id: str,
    status: str,
    error_code: int | None,
    error_title: str | None,
    now: datetime,
    tracker: str | None = None,
) -> OutboxMessage | None:
    """Record a delivery status on the message it belongs to; None when unknown.

    A status carrying our tracker also settles a message whose send answer was lost: it did
    reach WhatsApp, so it is marked sent and never sent again.
    """
    message = session.scalars(
        select(OutboxMessage).where(OutboxMessage.provider_message_id == provider_message_id)
    ).first()
    own_id = tracker_id(tracker)
    if message is None and own_id is not None:
        message = session.get(OutboxMessage, own_id, with_for_update=True)
        if message is not None and message.state in ("sending", "unconfirmed", "pending"):
            message.provider_message_id = provider_message_id
            if status != "failed":
                message.state, message.sent_at, message.next_attempt_at = "sent", now, None
                message.payload = {"redacted": True}
    if message is None:
        return None
    current = DELIVERY_RANK.get(message.delivery_status or "", 0)
    if DELIVERY_RANK.get(status, 0) >= current:
        message.delivery_status = status
    if status == "failed":
        message.delivery_error_code = error_code
        message.delivery_error_title = error_title
        if error_code == 131047:
            message.state = "window_closed"
    message.updated_at = now
    return message


# Purposes that have their own way through a closed window (a template teaser and `résumé`).
OWN_WINDOW_PATH = ("alert", "digest", "template")
HELD_FOR = timedelta(days=7)


def reopen_window(session: Session, user_id: int, now: datetime) -> int:
    """The user wrote, so the 24-hour window is open again: messages refused by it (131047) in the
    last week go out now, oldest first, ahead of the reply to what they just wrote."""
    stmt = (
        update(OutboxMessage)
        .where(
            OutboxMessage.user_id == user_id,
            OutboxMessage.state == "window_closed",
            OutboxMessage.purpose.not_in(OWN_WINDOW_PATH),
            OutboxMessage.created_at >= now - HELD_FOR,
        )
        .values(state="pending", next_attempt_at=now, updated_at=now)
    )
    return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


def depth(session: Session) -> int:
    """How many messages wait to be sent."""
    stmt = select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.state.in_(("pending", "sending", "unconfirmed"))
    )
    return int(session.scalar(stmt) or 0)


def next_due_at(session: Session) -> datetime | None:
    """When the earliest pending message becomes due (None if nothing waits)."""
    stmt = select(func.min(OutboxMessage.next_attempt_at)).where(
        and_(OutboxMessage.state == "pending", OutboxMessage.next_attempt_at.is_not(None))
    )
    value = session.scalar(stmt)
    return value if isinstance(value, datetime) else None
