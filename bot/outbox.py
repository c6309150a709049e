"""Putting messages in the durable outbox, and sending what is due from it.

Every message goes through the outbox with an idempotency key, so handling the same inbound
message twice, or running the same scheduled job twice, never sends twice. Sending is
per-recipient in order, recipients in parallel. Texts over 4096 characters are split on line
boundaries into several messages at enqueue time.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrations.whatsapp import (
    AmbiguousSend,
    Document,
    MessageShapeError,
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
    message_to_payload,
    payload_to_message,
    split_text,
)
from storage import outbox as repo
from storage.models import OutboxMedia, OutboxMessage, ServiceHealth, User

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

MAX_TRANSIENT_ATTEMPTS = 8
MAX_RATE_LIMITED_ATTEMPTS = 15
AUTH_RETRY = timedelta(minutes=1)
HEALTH_WHATSAPP = "whatsapp"


def recipient_of(user: User) -> Recipient:
    """Where to send a user's messages."""
    return Recipient(phone=user.phone, user_id=user.wa_user_id)


def enqueue_messages(
    session: Session,
    *,
    messages: Sequence[OutgoingMessage],
    recipient: Recipient,
    key: str,
    now: datetime,
    org_id: int | None = None,
    user_id: int | None = None,
    purpose: str = "reply",
    not_before: datetime | None = None,
) -> int:
    """Put messages in the outbox under idempotency keys ``key:0``, ``key:1``…; returns how many were new."""
    items: list[repo.NewOutgoing] = []
    index = 0
    for message in messages:
        parts: list[OutgoingMessage] = (
            [Text(chunk) for chunk in split_text(message.body)] if isinstance(message, Text) else [message]
        )
        for part in parts:
            idem = f"{key}:{index}"
            index += 1
            payload = message_to_payload(part)
            if isinstance(part, Document):
                if session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == idem)):
                    continue
                payload["media_id"] = repo.store_media(session, part.filename, part.mime_type, part.content)
            items.append(
                repo.NewOutgoing(
                    idempotency_key=idem,
                    kind=part.kind,
                    payload=payload,
                    org_id=org_id,
                    user_id=user_id,
                    recipient_phone=recipient.phone,
                    recipient_user_id=recipient.user_id,
                    purpose=purpose,
                    not_before=not_before,
                )
            )
    return repo.enqueue(session, items, now)


def send_to_user(
    session: Session,
    user: User,
    messages: Sequence[OutgoingMessage],
    *,
    key: str,
    now: datetime,
    purpose: str = "notice",
    not_before: datetime | None = None,
) -> int:
    """Put messages for a registered user in the outbox (alerts, digests, confirmations)."""
    return enqueue_messages(
        session,
        messages=messages,
        recipient=recipient_of(user),
        key=key,
        now=now,
        org_id=user.org_id,
        user_id=user.id,
        purpose=purpose,
        not_before=not_before,
    )


def held_notice(services: Services) -> Callable[[Session, OutboxMessage], None]:
    """A ``window_closed`` hook: a message WhatsApp refused outside the 24-hour window waits for the
    user's next message (``reopen_window``); meanwhile the approved template tells them, once a day,
    that something is waiting. Alerts and digests have their own teaser."""

    def hook(session: Session, row: OutboxMessage) -> None:
        settings = services.settings
        if not settings.whatsapp_digest_template or row.purpose in repo.OWN_WINDOW_PATH or row.user_id is None:
            return
        user = session.get(User, row.user_id)
        if user is None or not user.active:
            return
        now = services.clock.now()
        lang = user.language or user.last_language or settings.default_language
        notice = Template(settings.whatsapp_digest_template, settings.whatsapp_template_language,
                          (services.catalog.t("window.held", lang),))
        if enqueue_messages(session, messages=[notice], recipient=Recipient(row.recipient_phone, row.recipient_user_id),
                            key=f"held:{user.id}:{now.date().isoformat()}", now=now, org_id=row.org_id,
                            user_id=user.id, purpose="template"):
            services.outbox_changed()

    return hook


def tracker_for(message_id: int) -> str:
    """What a message carries to WhatsApp so its status webhooks can be matched even without its id."""
    return f"{repo.TRACKER_PREFIX}{message_id}"


def backoff(attempt: int, base: float = 1.0, cap: float = 300.0) -> timedelta:
    """Exponential backoff with full jitter."""
    return timedelta(seconds=random.uniform(base, min(cap, base * 2 ** max(attempt - 1, 0))))


def set_health(session: Session, key: str, ok: bool, detail: str | None, now: datetime) -> None:
    """Record the last known health of an outside service."""
    row = session.get(ServiceHealth, key)
    if row is None:
        row = ServiceHealth(key=key)
        session.add(row)
    row.ok, row.detail, row.updated_at = ok, detail, now


class OutboxPump:
    """Sends due outbox messages through the WhatsApp sender and records each outcome."""

    def __init__(self, services: Services, concurrency: int = 8) -> None:
        self._services = services
        self._semaphore = asyncio.Semaphore(concurrency)
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def busy(self) -> bool:
        """True while some recipient's messages are being sent."""
        return bool(self._busy)

    async def run_once(self) -> int:
        """Start sending everything due now; returns how many messages were due."""
        services = self._services
        now = services.clock.now()

        def load() -> list[tuple[int, str]]:
            with services.db.session() as session:
                return repo.due_in_order(session, now)

        due = await asyncio.to_thread(load)
        by_recipient: dict[str, list[int]] = {}
        for message_id, recipient in due:
            by_recipient.setdefault(recipient, []).append(message_id)
        for recipient, ids in by_recipient.items():
            if recipient in self._busy:
                continue
            self._busy.add(recipient)
            task = asyncio.create_task(self._send_all(recipient, ids))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(due)

    async def _send_all(self, recipient: str, ids: list[int]) -> None:
        try:
            async with self._semaphore:
                for message_id in ids:
                    if not await self.send_one(message_id):
                        break  # keep this recipient's order: stop at the first message not sent
        finally:
            self._busy.discard(recipient)

    async def send_one(self, message_id: int) -> bool:
        """Claim, send and record one message; True when it left (or failed for good)."""
        services = self._services
        now = services.clock.now()

        def claim() -> tuple[Recipient, OutgoingMessage] | None:
            with services.db.write() as session:
                row = repo.claim(session, message_id, now, timedelta(seconds=services.settings.lease_seconds))
                if row is None:
                    return None
                content = None
                if row.kind == "document":
                    media = session.get(OutboxMedia, row.payload.get("media_id"))
                    content = media.content if media else b""
                try:
                    message = payload_to_message(row.kind, row.payload, content)
                except (KeyError, TypeError, ValueError, MessageShapeError) as exc:
                    row.state, row.last_error = "failed", f"unreadable outbox payload: {exc}"
                    return None
                return Recipient(row.recipient_phone, row.recipient_user_id), message

        claimed = await asyncio.to_thread(claim)
        if claimed is None:
            return True
        recipient, message = claimed
        try:
            provider_id = await services.whatsapp.send(recipient, message, tracker=tracker_for(message_id))
        except WhatsAppSendError as exc:
            return await asyncio.to_thread(self._record_failure, message_id, exc)
        except Exception as exc:  # a bug in an adapter must not kill the pump
            log.exception("outbox %s: unexpected error from the WhatsApp sender", message_id)
            return await asyncio.to_thread(self._record_failure, message_id, TransientError(str(exc)))
        await asyncio.to_thread(self._record_sent, message_id, provider_id)
        return True

    def _record_sent(self, message_id: int, provider_id: str) -> None:
        services = self._services
        now = services.clock.now()
        with services.db.write() as session:
            row = session.get(OutboxMessage, message_id)
            if row is None:
                return
            row.state, row.provider_message_id, row.sent_at, row.updated_at = "sent", provider_id, now, now
            row.next_attempt_at = None
            row.last_error = None
            if row.kind == "document":
                session.query(OutboxMedia).filter(OutboxMedia.id == row.payload.get("media_id")).delete()
            # What was said is not kept once delivered (it may hold one-time links or email summaries).
            row.payload = {"redacted": True}
            health = session.get(ServiceHealth, HEALTH_WHATSAPP)
            if health is not None and not health.ok:
                set_health(session, HEALTH_WHATSAPP, True, None, now)
        log.info("outbox %s: sent", message_id)

    def _record_failure(self, message_id: int, exc: WhatsAppSendError) -> bool:
        services = self._services
        now = services.clock.now()
        done = True
        with services.db.write() as session:
            row = session.get(OutboxMessage, message_id)
            if row is None:
                return True
            row.last_error, row.last_error_code, row.updated_at = str(exc)[:1000], exc.code, now
            if isinstance(exc, AmbiguousSend):
                # It may have been delivered: wait for a status carrying its tracker before resending.
                row.state, row.next_attempt_at = "unconfirmed", now + repo.CONFIRM_GRACE
                log.warning("outbox %s: outcome unknown, waiting for WhatsApp's status before resending", message_id)
                done = False
            elif isinstance(exc, WindowClosed):
                row.state = "window_closed"
                log.info("outbox %s: 24-hour window closed (131047)", message_id)
                for hook in services.window_closed_hooks:
                    hook(session, row)
            elif isinstance(exc, WhatsAppAuthError):
                row.state, row.next_attempt_at = "pending", now + AUTH_RETRY
                row.attempts = max(row.attempts - 1, 0)  # not the message's fault
                set_health(session, HEALTH_WHATSAPP, False, str(exc), now)
                log.error(
                    "WhatsApp refused the access token (%s). Replace COURRIER_WHATSAPP_TOKEN; "
                    "messages wait in the outbox meanwhile.", exc.code,
                )
                done = False
            elif isinstance(exc, RateLimited):
                if row.attempts >= MAX_RATE_LIMITED_ATTEMPTS:
                    row.state = "failed"
                else:
                    delay = timedelta(seconds=exc.retry_after) if exc.retry_after else backoff(row.attempts, 2.0)
                    row.state, row.next_attempt_at = "pending", now + delay
                    done = False
                log.warning("outbox %s: rate limited by WhatsApp (%s)", message_id, exc.code)
            elif isinstance(exc, TransientError) and row.attempts < MAX_TRANSIENT_ATTEMPTS:
                row.state, row.next_attempt_at = "pending", now + backoff(row.attempts)
                log.warning("outbox %s: transient error, will retry: %s", message_id, exc)
                done = False
            else:
                row.state = "failed"
                level = logging.WARNING if isinstance(exc, Undeliverable) else logging.ERROR
                log.log(level, "outbox %s: failed for good: %s", message_id, exc)
        return done
