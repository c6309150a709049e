"""Conversation state: one row per user in a multi-step flow, with an expiry."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from storage.models import ConversationState


def load(session: Session, user_id: int, now: datetime) -> ConversationState | None:
    """The user's live state; an expired one is deleted and None returned."""
    row = session.get(ConversationState, user_id)
    if row is None:
        return None
    if row.expires_at <= now:
        session.delete(row)
        session.flush()
        return None
    return row


def save(
    session: Session,
    user_id: int,
    *,
    flow: str,
    step: str,
    data: dict[str, Any],
    language: str | None,
    ttl: timedelta,
    now: datetime,
) -> None:
    """Create or replace the user's state."""
    row = session.get(ConversationState, user_id)
    if row is None:
        row = ConversationState(user_id=user_id)
        session.add(row)
    row.flow, row.step, row.data, row.language = flow, step, dict(data), language
    row.expires_at = now + ttl
    row.updated_at = now


def clear(session: Session, user_id: int) -> None:
    """End the user's flow, if any."""
    row = session.get(ConversationState, user_id)
    if row is not None:
        session.delete(row)
