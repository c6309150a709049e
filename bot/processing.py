"""Processing one stored inbound event: a status updates the outbox, a message goes to the router.

The handler's database work, its replies (into the outbox) and the event's "done" mark are
committed in one transaction, so a crash at any point either leaves the event to be processed
again from scratch or has fully processed it; replies carry idempotency keys derived from the
WhatsApp message id, so they are never sent twice.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.outbox import backoff, enqueue_messages
from bot.payload import InboundMessage, Sender, parse_message, parse_status, redacted
from bot.router import Ctx, Inbound, Result, State
from integrations.whatsapp import OutgoingMessage, Recipient, Text
from storage import conversation
from storage import inbound as inbound_repo
from storage import outbox as outbox_repo
from storage.accounts import find_user
from storage.models import InboundEvent, Organization, User

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
STATUS_RETRIES = 3

StrangerHandler = Callable[["Services", Session, Sender, InboundMessage, datetime], list[OutgoingMessage]]
"""Answers a sender who is not a registered user (join codes, the polite refusal)."""


@dataclass
class Outcome:
    """What processing one event did (for logs and tests)."""

    event_id: int
    processed: bool
    replies: int = 0


def process_event(services: Services, event_id: int) -> Outcome:
    """Claim and process one inbound event; failures are retried with backoff, then recorded."""
    now = services.clock.now()
    with services.db.write() as session:
        lease = timedelta(seconds=services.settings.lease_seconds)
        if not inbound_repo.claim(session, event_id, now, lease):
            return Outcome(event_id, processed=False)
    try:
        with services.db.write() as session:
            event = session.get(InboundEvent, event_id)
            assert event is not None
            replies = _process_status(services, session, event, now) if event.kind == "status" else \
                _process_message(services, session, event, now)
    except Exception as exc:
        log.exception("inbound event %s: processing failed", event_id)
        with services.db.write() as session:
            event = session.get(InboundEvent, event_id)
            if event is not None:
                event.error = f"{type(exc).__name__}: {exc}"[:2000]
                if event.attempts >= MAX_ATTEMPTS:
                    event.state, event.processed_at = "failed", now
                    if event.payload and event.kind == "message":
                        event.payload = redacted(event.payload)
                else:
                    event.state, event.available_at = "pending", now + backoff(event.attempts, 2.0, 120.0)
        return Outcome(event_id, processed=False)
    if replies:
        services.outbox_changed()
    return Outcome(event_id, processed=True, replies=replies)


def _finish(event: InboundEvent, now: datetime) -> None:
    event.state, event.processed_at, event.available_at, event.error = "done", now, None, None


def _process_status(services: Services, session: Session, event: InboundEvent, now: datetime) -> int:
    status = parse_status(event.payload or {})
    code, title = status.errors[0] if status.errors else (None, None)
    message = outbox_repo.apply_status(session, status.id, status.status, code, title, now, tracker=status.tracker)
    if message is None and event.attempts < STATUS_RETRIES:
        # The status may have overtaken the commit of the send that produced it: look again soon.
        event.state, event.available_at = "pending", now + timedelta(seconds=5 * event.attempts)
        return 0
    if message is not None and status.status == "failed":
        log.warning("outbox %s: WhatsApp reports delivery failed (%s)", message.id, code)
        if code == 131047:
            for hook in services.window_closed_hooks:
                hook(session, message)
    _finish(event, now)
    return 0


def _link_identity(session: Session, user: User, sender: Sender) -> None:
    if sender.user_id and not user.wa_user_id:
        user.wa_user_id = sender.user_id
    if sender.phone and not user.phone:
        taken = session.scalar(select(User.id).where(User.phone == sender.phone))
        if taken is None:
            user.phone = sender.phone
    if sender.username and sender.username != user.username:
        user.username = sender.username


def to_inbound(message: InboundMessage) -> Inbound:
    """What the router sees of a WhatsApp message."""
    if message.reply_id:
        return Inbound("id", message.reply_id, message.reply_title, message.type)
    if message.type == "text" or (message.type == "button" and message.text):
        return Inbound("text", message.text or "", None, message.type)
    if message.type == "document":
        return Inbound("unsupported", message.text or "", None, "document")
    return Inbound("unsupported", "", None, message.type)


def _process_message(services: Services, session: Session, event: InboundEvent, now: datetime) -> int:
    message = parse_message(event.payload or {})
    sender = message.sender
    key = f"reply:{event.wa_message_id}"
    user = find_user(session, phone=sender.phone, user_id=sender.user_id)
    if user is None or not user.active:
        stranger = services.stranger_handler
        replies = stranger(services, session, sender, message, now) if stranger else []
        count = enqueue_messages(
            session, messages=replies, recipient=Recipient(sender.phone, sender.user_id), key=key, now=now,
            purpose="stranger",
        )
        event.payload = redacted(event.payload or {})
        _finish(event, now)
        return count

    _link_identity(session, user, sender)
    sent_at = min(message.timestamp, now) if message.timestamp else now
    user.last_inbound_at = max(filter(None, (user.last_inbound_at, sent_at)))
    if outbox_repo.reopen_window(session, user.id, now):
        services.outbox_changed()
    org = session.get(Organization, user.org_id)
    assert org is not None
    row = conversation.load(session, user.id, now)
    # A deep copy, so a handler changing nested data in place still saves a new value.
    state = State(row.flow, row.step, copy.deepcopy(row.data), row.language) if row else None
    default = services.settings.default_language
    lang = user.language or (state.language if state else None) or user.last_language or default
    inbound = to_inbound(message)
    ctx = Ctx(
        services=services, session=session, org=org, user=user, lang=lang, inbound=inbound, args="",
        state=state, message_id=event.wa_message_id, now=now,
    )
    if message.type == "reaction":
        result = Result()
    else:
        savepoint = session.begin_nested()
        try:
            result = services.dispatcher.dispatch(ctx)
            if result.rollback:
                savepoint.rollback()  # a refused request leaves nothing half-written
            else:
                savepoint.commit()
        except Exception:
            savepoint.rollback()
            log.exception("inbound event %s: a handler raised", event.id)
            result = Result([Text(services.catalog.t("error.internal", ctx.lang))])
    if ctx.alias_lang and not user.language:
        user.last_language = ctx.alias_lang
    if isinstance(result.next, State):
        conversation.save(
            session, user.id, flow=result.next.flow, step=result.next.step, data=result.next.data,
            language=result.next.language or ctx.lang, ttl=result.next.ttl, now=now,
        )
    elif result.next is None:
        conversation.clear(session, user.id)
    count = enqueue_messages(
        session, messages=result.replies, recipient=Recipient(user.phone, user.wa_user_id), key=key, now=now,
        org_id=org.id, user_id=user.id,
    )
    event.org_id, event.user_id = org.id, user.id
    event.payload = redacted(event.payload or {})
    _finish(event, now)
    log.info("inbound event %s: handled for user %s (%d replies)", event.id, user.id, count)
    return count
