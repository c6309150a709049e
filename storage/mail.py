"""Linked mailboxes, the metadata of synced messages (never their bodies), and one-time link pages."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.models import Base, IdType, JSONType, utcnow
from storage.secretbox import encrypted_column_info

CREDENTIALS_PURPOSE = "mailboxes.credentials"
OAUTH_FLOW_PURPOSE = "mailbox_oauth_states.flow"

PROVIDERS = ("gmail", "outlook", "imap", "maildir")
STATUSES = ("active", "error", "needs_relink", "disabled")
SYNC_RESULTS = ("success", "error", "partial")


class Mailbox(Base):
    """A mailbox linked to an organization: how to reach it, its sync cursor and its health."""

    __tablename__ = "mailboxes"
    __table_args__ = (
        UniqueConstraint("org_id", "provider", "address", name="uq_mailbox_org_provider_address"),
        Index("ix_mailboxes_due", "enabled", "status", "next_sync_at"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(16))  # gmail | outlook | imap | maildir
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(320))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="active")
    # JSON sealed with the secret box: refresh token, MSAL token cache or IMAP password.
    credentials: Mapped[str | None] = mapped_column(Text, info=encrypted_column_info(CREDENTIALS_PURPOSE))
    username: Mapped[str | None] = mapped_column(String(320))
    imap_host: Mapped[str | None] = mapped_column(String(255))
    imap_port: Mapped[int | None] = mapped_column(Integer)
    imap_security: Mapped[str | None] = mapped_column(String(16))  # tls | starttls | plain
    smtp_host: Mapped[str | None] = mapped_column(String(255))
    smtp_port: Mapped[int | None] = mapped_column(Integer)
    smtp_security: Mapped[str | None] = mapped_column(String(16))
    preset: Mapped[str | None] = mapped_column(String(32))
    folders: Mapped[list[str]] = mapped_column(JSONType, default=list)
    cursor: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sync_interval_minutes: Mapped[int] = mapped_column(Integer, default=5)
    next_sync_at: Mapped[datetime | None]
    failures: Mapped[int] = mapped_column(Integer, default=0)
    initial_sync_done: Mapped[bool] = mapped_column(Boolean, default=False)
    last_sync_at: Mapped[datetime | None]
    last_sync_status: Mapped[str | None] = mapped_column(String(16))
    last_sync_error: Mapped[str | None] = mapped_column(Text)
    last_error_kind: Mapped[str | None] = mapped_column(String(32))
    last_sync_count: Mapped[int | None] = mapped_column(Integer)
    relink_requested_at: Mapped[datetime | None]
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]


class MailMessage(Base):
    """What Courrier keeps of one synced message: headers and structure, never the body."""

    __tablename__ = "mail_messages"
    __table_args__ = (
        UniqueConstraint("mailbox_id", "provider_id", name="uq_mail_message_provider_id"),
        Index("ix_mail_messages_mailbox_message_id", "mailbox_id", "message_id"),
        Index("ix_mail_messages_org_date", "org_id", "date"),
        Index("ix_mail_messages_mailbox_pending", "mailbox_id", "delivered_at"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    provider_id: Mapped[str] = mapped_column(String(255))
    folder: Mapped[str | None] = mapped_column(String(255))
    message_id: Mapped[str | None] = mapped_column(String(512))
    thread_id: Mapped[str | None] = mapped_column(String(512))
    from_name: Mapped[str | None] = mapped_column(String(320))
    from_addr: Mapped[str | None] = mapped_column(String(320))
    to_addrs: Mapped[list[str]] = mapped_column(JSONType, default=list)
    cc_addrs: Mapped[list[str]] = mapped_column(JSONType, default=list)
    subject: Mapped[str | None] = mapped_column(Text)
    date: Mapped[datetime | None]
    size: Mapped[int | None] = mapped_column(Integer)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    flags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    parse_warnings: Mapped[list[str]] = mapped_column(JSONType, default=list)
    removed_at: Mapped[datetime | None]
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the new-mail event for this row was handed to the subscribers (the triage). NULL means
    # stored but not yet delivered: a sync cut short there (the process stopped) fetches it again.
    delivered_at: Mapped[datetime | None]
    # Deliveries started and never finished: a message whose delivery keeps killing the process is
    # given up after a few, so it cannot hold its mailbox back forever.
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Stored by a first sync or a resync from its headers alone (the mailbox's backlog): its body is
    # fetched and its new-mail event delivered afterwards by ``MailboxService.deliver_backlog``.
    backlog: Mapped[bool] = mapped_column(default=False, server_default=false())


class MailboxLink(Base):
    """A one-time link page: only the token's SHA-256 is stored; bound to an organization and an admin."""

    __tablename__ = "mailbox_links"
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    provider_hint: Mapped[str | None] = mapped_column(String(16))
    relink_mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MailboxOAuthState(Base):
    """One OAuth round trip started from a link page: the state's hash and the sealed PKCE/MSAL flow."""

    __tablename__ = "mailbox_oauth_states"
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    link_id: Mapped[int] = mapped_column(ForeignKey("mailbox_links.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    flow: Mapped[str] = mapped_column(Text, info=encrypted_column_info(OAUTH_FLOW_PURPOSE))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def _chunks(values: Sequence[Any], size: int = 500) -> Iterator[list[Any]]:
    """``values`` in lists of at most ``size`` (bound parameters per statement stay bounded)."""
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


def known_provider_ids(session: Session, mailbox_id: int, ids: Sequence[str], *,
                       delivered_only: bool = False) -> set[str]:
    """The provider ids among ``ids`` already stored for a mailbox (and, if asked, already handed to
    the new-mail subscribers)."""
    found: set[str] = set()
    for chunk in _chunks(ids):
        query = select(MailMessage.provider_id).where(MailMessage.mailbox_id == mailbox_id,
                                                      MailMessage.provider_id.in_(chunk))
        if delivered_only:
            query = query.where(MailMessage.delivered_at.is_not(None))
        found.update(session.scalars(query))
    return found


def undelivered(session: Session, mailbox_id: int, ids: Sequence[str]) -> dict[str, MailMessage]:
    """Rows among ``ids`` stored for a mailbox whose new-mail event was never delivered, by provider id."""
    found: dict[str, MailMessage] = {}
    for chunk in _chunks(ids):
        found.update((row.provider_id, row) for row in session.scalars(
            select(MailMessage).where(MailMessage.mailbox_id == mailbox_id, MailMessage.provider_id.in_(chunk),
                                      MailMessage.delivered_at.is_(None))
        ))
    return found


def backlog_rows(session: Session, mailbox_id: int, limit: int, *, exclude: Sequence[int] = ()) -> list[MailMessage]:
    """Up to ``limit`` backlog rows of a mailbox still waiting for delivery, newest first (so that
    today's mail is triaged before last week's)."""
    query = (select(MailMessage)
             .where(MailMessage.mailbox_id == mailbox_id, MailMessage.delivered_at.is_(None),
                    MailMessage.backlog.is_(True))
             .order_by(MailMessage.date.desc().nulls_last(), MailMessage.id.desc()).limit(limit))
    if exclude:
        query = query.where(MailMessage.id.not_in(list(exclude)))
    return list(session.scalars(query))


def has_backlog(session: Session, mailbox_id: int) -> bool:
    """Whether some backlog row of a mailbox still waits for delivery."""
    return session.scalar(select(MailMessage.id).where(
        MailMessage.mailbox_id == mailbox_id, MailMessage.delivered_at.is_(None),
        MailMessage.backlog.is_(True)).limit(1)) is not None


def mark_delivered(session: Session, ids: Sequence[int], when: datetime) -> None:
    """Record that the new-mail events of these rows were handed to the subscribers."""
    for chunk in _chunks(ids):
        session.execute(update(MailMessage).where(MailMessage.id.in_(chunk)).values(delivered_at=when))


def known_message_ids(session: Session, mailbox_id: int, message_ids: Sequence[str], *,
                      delivered_only: bool = False) -> set[str]:
    """The Message-IDs among ``message_ids`` already stored for a mailbox (and delivered, if asked)."""
    found: set[str] = set()
    for chunk in _chunks(message_ids):
        query = select(MailMessage.message_id).where(MailMessage.mailbox_id == mailbox_id,
                                                     MailMessage.message_id.in_(chunk))
        if delivered_only:
            query = query.where(MailMessage.delivered_at.is_not(None))
        found.update(m for m in session.scalars(query) if m)
    return found


def due_mailboxes(session: Session, now: datetime) -> list[int]:
    """Ids of enabled mailboxes whose next sync time has come (never those waiting for a re-link)."""
    return list(session.scalars(
        select(Mailbox.id).where(
            Mailbox.enabled.is_(True), Mailbox.status.in_(("active", "error")),
            or_(Mailbox.next_sync_at.is_(None), Mailbox.next_sync_at <= now),
        ).order_by(Mailbox.next_sync_at, Mailbox.id)
    ))


def mailboxes_of(session: Session, org_id: int) -> list[Mailbox]:
    """An organization's mailboxes, oldest first."""
    return list(session.scalars(select(Mailbox).where(Mailbox.org_id == org_id).order_by(Mailbox.id)))
