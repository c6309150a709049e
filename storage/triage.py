"""Triage of synced messages (never their bodies), feedback, VIPs, alerts, digests and digest preferences."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.inbound import insert_ignore
from storage.mail import MailMessage
from storage.models import Base, IdType, JSONType, utcnow

PRIORITIES = ("critical", "important", "informative", "spam")


class TriageRecord(Base):
    """The classifier's verdict on one synced message: one row per message, never the body."""

    __tablename__ = "mail_triage"
    __table_args__ = (Index("ix_mail_triage_org_created", "org_id", "created_at"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("mail_messages.id", ondelete="CASCADE"), unique=True)
    sender: Mapped[str] = mapped_column(String(320), default="")
    sender_domain: Mapped[str] = mapped_column(String(255), default="")
    priority: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text, default="")
    action: Mapped[str] = mapped_column(String(16))
    deadline: Mapped[datetime | None]
    deadline_text: Mapped[str | None] = mapped_column(String(255))
    amounts: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    reasons: Mapped[list[str]] = mapped_column(JSONType, default=list)
    auto_action: Mapped[str | None] = mapped_column(String(64))
    classifier: Mapped[str] = mapped_column(String(32), default="offline")
    initial: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TriageFeedback(Base):
    """A user's decision on one triaged message: +1 important, -1 not important."""

    __tablename__ = "triage_feedback"
    __table_args__ = (UniqueConstraint("triage_id", "user_id", name="uq_triage_feedback_triage_user"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    triage_id: Mapped[int] = mapped_column(ForeignKey("mail_triage.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    sender: Mapped[str] = mapped_column(String(320), default="")
    sender_domain: Mapped[str] = mapped_column(String(255), default="")
    vote: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TriageVip(Base):
    """An address or a domain whose mail always matters to the organization."""

    __tablename__ = "triage_vips"
    __table_args__ = (UniqueConstraint("org_id", "value", name="uq_triage_vip_org_value"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    value: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TriageAlert(Base):
    """One alert about one message for one user: sent, or held until quiet hours end."""

    __tablename__ = "triage_alerts"
    __table_args__ = (
        UniqueConstraint("triage_id", "user_id", name="uq_triage_alert_triage_user"),
        Index("ix_triage_alerts_state_due", "state", "due_at"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    triage_id: Mapped[int] = mapped_column(ForeignKey("mail_triage.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16))  # held | queued
    due_at: Mapped[datetime | None]
    teaser: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None]


class Digest(Base):
    """One scheduled digest of one user for one slot (unique: a slot is never sent twice)."""

    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("user_id", "slot", name="uq_digest_user_slot"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    slot: Mapped[str] = mapped_column(String(32))  # the local slot, e.g. 2026-11-20T08:00
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    items: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16))  # queued | empty
    teaser: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DigestPrefs(Base):
    """A user's digest schedule, quiet hours and the items left for ``plus``."""

    __tablename__ = "digest_prefs"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    slots: Mapped[list[str]] = mapped_column(JSONType, default=list)  # ["08:00", "17:00"]
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    quiet_start: Mapped[str | None] = mapped_column(String(5))  # "21:00"
    quiet_end: Mapped[str | None] = mapped_column(String(5))  # "07:00"
    more_ids: Mapped[list[int]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)  # slots before this are not owed
    updated_at: Mapped[datetime | None]


# ---------------------------------------------------------------- repository functions


def insert_ignore_row(session: Session, model: type[Base], values: dict[str, Any], keys: Sequence[str]) -> bool:
    """Insert one row unless its unique key exists; True when inserted."""
    table: Table = model.__table__  # type: ignore[assignment]
    return insert_ignore(session, table, [values], keys) == 1


def triage_of_message(session: Session, message_id: int) -> TriageRecord | None:
    """The triage row of a stored message, if any."""
    return session.scalars(select(TriageRecord).where(TriageRecord.message_id == message_id)).first()


def vips_of(session: Session, org_id: int) -> list[str]:
    """The organization's VIP addresses and domains."""
    return list(session.scalars(select(TriageVip.value).where(TriageVip.org_id == org_id).order_by(TriageVip.value)))


def votes_by(session: Session, org_id: int, column: Any) -> dict[str, int]:
    """Net feedback votes grouped by sender or by domain."""
    stmt = select(column, func.sum(TriageFeedback.vote)).where(TriageFeedback.org_id == org_id).group_by(column)
    return {str(key): int(total) for key, total in session.execute(stmt) if key and total}


def items_between(session: Session, org_id: int, start: datetime, end: datetime,
                  ids: Sequence[int] | None = None) -> list[tuple[TriageRecord, MailMessage]]:
    """Triaged messages of an organization triaged in (start, end] (or with the given ids), with metadata."""
    stmt = select(TriageRecord, MailMessage).join(MailMessage, MailMessage.id == TriageRecord.message_id)
    if ids is not None:
        stmt = stmt.where(TriageRecord.org_id == org_id, TriageRecord.id.in_(list(ids)))
    else:
        stmt = stmt.where(TriageRecord.org_id == org_id, TriageRecord.created_at > start,
                          TriageRecord.created_at <= end)
    return [(t, m) for t, m in session.execute(stmt.order_by(TriageRecord.id))]
