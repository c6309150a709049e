"""Invoice batches: one ``invoice_batches`` row per mailing, one ``invoice_emails`` outbox row per invoice.

An email row moves ``pending`` → ``sending`` → ``sent`` / ``failed`` (or ``skipped``). It carries
its own Message-ID, chosen when the batch is created, so that after an ambiguous failure or a
crash (``uncertain``) the mailbox's sent mail can be searched for it before sending again.
Only the runner holding the batch's lease sends its rows; a runner that takes over an expired
lease turns the rows left in ``sending`` into ``pending`` + ``uncertain``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, func, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.models import Base, IdType, JSONType, utcnow

BATCH_STATUSES = ("draft", "confirmed", "running", "paused", "done", "cancelled")
EMAIL_STATES = ("pending", "sending", "sent", "failed", "skipped")
ACTIVE = ("confirmed", "running", "paused")


class InvoiceBatch(Base):
    """One bulk invoice mailing: its manifest's rows, templates, mailbox and progress."""

    __tablename__ = "invoice_batches"
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    mailbox_id: Mapped[int | None] = mapped_column(Integer)
    provider: Mapped[str] = mapped_column(String(16), default="imap")
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    folder: Mapped[str] = mapped_column(Text)
    subject_template: Mapped[str] = mapped_column(Text)
    body_template: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8), default="fr")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    total: Mapped[int] = mapped_column(Integer, default=0)
    runner_token: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column()
    paused_until: Mapped[datetime | None] = mapped_column()
    pause_reason: Mapped[str | None] = mapped_column(String(64))
    notified_step: Mapped[int] = mapped_column(Integer, default=0)  # last 10 % step told to the chat
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    active_seconds: Mapped[float] = mapped_column(default=0.0)  # time spent sending, pauses excluded


class InvoiceEmail(Base):
    """One invoice to send: the outbox row with its Message-ID and delivery state."""

    __tablename__ = "invoice_emails"
    __table_args__ = (Index("ix_invoice_emails_batch_state", "batch_id", "state"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("invoice_batches.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)
    fields: Mapped[dict[str, Any]] = mapped_column(JSONType)
    recipients: Mapped[dict[str, Any]] = mapped_column(JSONType)  # {"to": [...], "cc": [...]}
    pdf_path: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # claims (each may have sent)
    retries: Mapped[int] = mapped_column(Integer, default=0)  # failed attempts retried so far
    next_attempt_at: Mapped[datetime | None] = mapped_column()  # a row backing off waits until then
    uncertain: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(String(255))
    sent_at: Mapped[datetime | None] = mapped_column(index=True)
    updated_at: Mapped[datetime | None] = mapped_column()


# ---------------------------------------------------------------- repository


def take_batch(session: Session, batch_id: int, token: str, now: datetime, lease: timedelta) -> bool:
    """Become the batch's runner when nobody holds a live lease; rows a dead runner left in
    'sending' become pending and uncertain (they may have gone out)."""
    taken = session.execute(
        update(InvoiceBatch)
        .where(InvoiceBatch.id == batch_id, InvoiceBatch.status.in_(ACTIVE),
               or_(InvoiceBatch.lease_until.is_(None), InvoiceBatch.lease_until < now,
                   InvoiceBatch.runner_token == token))
        .values(runner_token=token, lease_until=now + lease, status="running", paused_until=None, pause_reason=None)
    ).rowcount  # type: ignore[attr-defined]
    if not taken:
        return False
    session.execute(
        update(InvoiceEmail).where(InvoiceEmail.batch_id == batch_id, InvoiceEmail.state == "sending")
        .values(state="pending", uncertain=True, next_attempt_at=None, updated_at=now)
    )
    return True


def renew(session: Session, batch_id: int, token: str, now: datetime, lease: timedelta) -> bool:
    """Extend the runner's lease; False when another runner took the batch."""
    return bool(session.execute(
        update(InvoiceBatch).where(InvoiceBatch.id == batch_id, InvoiceBatch.runner_token == token)
        .values(lease_until=now + lease)
    ).rowcount)  # type: ignore[attr-defined]


def release(session: Session, batch_id: int, token: str, **values: Any) -> None:
    """Give the lease back, setting the batch's new status and fields."""
    session.execute(
        update(InvoiceBatch).where(InvoiceBatch.id == batch_id, InvoiceBatch.runner_token == token)
        .values(runner_token=None, lease_until=None, **values)
    )


def next_due(session: Session, batch_id: int, now: datetime) -> InvoiceEmail | None:
    """The batch's first pending row that is not backing off, in manifest order."""
    return session.scalars(
        select(InvoiceEmail).where(InvoiceEmail.batch_id == batch_id, InvoiceEmail.state == "pending",
                                   or_(InvoiceEmail.next_attempt_at.is_(None), InvoiceEmail.next_attempt_at <= now))
        .order_by(InvoiceEmail.id).limit(1)
    ).first()


def next_wakeup(session: Session, batch_id: int) -> datetime | None:
    """When the earliest row backing off is due (None when no row is pending)."""
    stmt = select(func.count(), func.min(InvoiceEmail.next_attempt_at)).where(
        InvoiceEmail.batch_id == batch_id, InvoiceEmail.state == "pending")
    count, earliest = session.execute(stmt).one()
    if not count:
        return None
    if earliest is None:
        return datetime.min.replace(tzinfo=UTC)
    return earliest.replace(tzinfo=UTC) if earliest.tzinfo is None else earliest


def claim_email(session: Session, email_id: int, now: datetime) -> bool:
    """pending → sending (the runner holding the lease is the only writer of its rows)."""
    return bool(session.execute(
        update(InvoiceEmail).where(InvoiceEmail.id == email_id, InvoiceEmail.state == "pending")
        .values(state="sending", attempts=InvoiceEmail.attempts + 1, updated_at=now)
    ).rowcount)  # type: ignore[attr-defined]


def counts(session: Session, batch_id: int) -> dict[str, int]:
    """Rows per state."""
    rows = session.execute(
        select(InvoiceEmail.state, func.count()).where(InvoiceEmail.batch_id == batch_id).group_by(InvoiceEmail.state)
    )
    result = dict.fromkeys(EMAIL_STATES, 0)
    for state, count in rows:
        result[str(state)] = int(count)
    return result


def sent_since(session: Session, mailbox_id: int | None, since: datetime) -> list[tuple[datetime, int]]:
    """(sent_at, recipients) of invoices this mailbox sent since ``since`` (seeds the rate limiter)."""
    stmt = (
        select(InvoiceEmail.sent_at, InvoiceEmail.recipients)
        .join(InvoiceBatch, InvoiceBatch.id == InvoiceEmail.batch_id)
        .where(InvoiceEmail.state == "sent", InvoiceEmail.sent_at >= since)
        .order_by(InvoiceEmail.sent_at)
    )
    stmt = stmt.where(InvoiceBatch.mailbox_id.is_(None) if mailbox_id is None else InvoiceBatch.mailbox_id == mailbox_id)
    out: list[tuple[datetime, int]] = []
    for sent_at, recipients in session.execute(stmt):
        if sent_at is not None:
            out.append((sent_at, len(recipients.get("to", [])) + len(recipients.get("cc", []))))
    return out


def batches_of(session: Session, org_id: int, limit: int = 10) -> list[InvoiceBatch]:
    """An organization's recent batches, newest first."""
    return list(session.scalars(select(InvoiceBatch).where(InvoiceBatch.org_id == org_id)
                                .order_by(InvoiceBatch.id.desc()).limit(limit)))


def due_paused(session: Session, now: datetime) -> list[int]:
    """Batches paused at a daily cap whose pause is over, and running batches whose runner died."""
    stmt = select(InvoiceBatch.id).where(or_(
        (InvoiceBatch.status == "paused") & InvoiceBatch.paused_until.is_not(None) & (InvoiceBatch.paused_until <= now),
        (InvoiceBatch.status == "running") & (InvoiceBatch.lease_until < now),
    ))
    return [int(i) for i in session.scalars(stmt)]
