"""Contact messages, client invitations and their one-time tokens, client accounts and sessions.

Client accounts are the prospects and customers who sign up through an invitation link; they are
a separate model from ``users`` (the people who talk to the bot). Tokens of invitations and
sessions are stored only as SHA-256 hashes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.accounts import sha256_hex
from storage.models import Base, IdType, RateEvent, utcnow

TOKEN_BYTES = 32  # 256 bits, 64 hex characters in links

STATUSES = ("pending", "used", "expired", "cancelled")
MAIL_STATES = ("none", "queued", "sending", "sent", "no_mailbox", "relink", "failed")


class ContactMessage(Base):
    """A message sent through the public contact form or API."""

    __tablename__ = "contact_messages"
    __table_args__ = (Index("ix_contact_org_created", "org_id", "created_at"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str] = mapped_column(String(8), default="fr")
    source: Mapped[str] = mapped_column(String(16), default="form")  # form | api | admin
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClientAccount(Base):
    """A client who signed up through an invitation (not a bot user)."""

    __tablename__ = "client_accounts"
    __table_args__ = (UniqueConstraint("org_id", "email", name="uq_client_account_org_email"),)
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(8), default="fr")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]


class Invitation(Base):
    """An invitation to create a client account: who, by whom, its state and its email's state."""

    __tablename__ = "invitations"
    __table_args__ = (
        Index("ix_invitation_org_email", "org_id", "email"),
        Index("ix_invitation_status_expires", "status", "expires_at"),
        Index("ix_invitation_mail_state", "mail_state", "mail_next_at"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254))
    name: Mapped[str | None] = mapped_column(String(120))
    language: Mapped[str] = mapped_column(String(8), default="fr")
    personal_message: Mapped[str | None] = mapped_column(Text)
    contact_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_messages.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_via: Mapped[str] = mapped_column(String(16), default="chat")  # chat | api | contact
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The invitation email: queued by the chat, sent by the mailer (exactly once per send_seq).
    mail_state: Mapped[str] = mapped_column(String(16), default="none")
    mail_send_seq: Mapped[int] = mapped_column(Integer, default=0)
    mail_attempts: Mapped[int] = mapped_column(Integer, default=0)
    mail_next_at: Mapped[datetime | None]
    mail_claimed_at: Mapped[datetime | None]
    mail_message_id: Mapped[str | None] = mapped_column(String(255))
    mail_from: Mapped[str | None] = mapped_column(String(254))
    mail_error: Mapped[str | None] = mapped_column(String(500))
    mail_requested_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_sent_at: Mapped[datetime | None]
    # Redemption.
    used_at: Mapped[datetime | None]
    used_ip: Mapped[str | None] = mapped_column(String(64))
    used_user_agent: Mapped[str | None] = mapped_column(String(300))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("client_accounts.id", ondelete="SET NULL"))
    cancelled_at: Mapped[datetime | None]
    cancelled_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    def effective_status(self, now: datetime) -> str:
        """The status, with a pending invitation past its expiry counted as expired."""
        if self.status == "pending" and self.expires_at <= now:
            return "expired"
        return self.status


class InvitationToken(Base):
    """One link of an invitation (the emailed one, or one handed out in the chat); hash only."""

    __tablename__ = "invitation_tokens"
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    invitation_id: Mapped[int] = mapped_column(ForeignKey("invitations.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(8), default="email")  # email | link
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class ClientSession(Base):
    """A signed-in client's browser session; only the cookie's hash is stored."""

    __tablename__ = "client_sessions"
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("client_accounts.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


# ---------------------------------------------------------------- tokens


def new_token() -> str:
    """A fresh 256-bit token as 64 hex characters."""
    return secrets.token_hex(TOKEN_BYTES)


def is_token_shaped(token: str) -> bool:
    """True for exactly 64 lower-case hex characters (anything else is never looked up)."""
    return len(token) == 2 * TOKEN_BYTES and all(c in "0123456789abcdef" for c in token)


def issue_token(session: Session, invitation: Invitation, purpose: str, now: datetime) -> str:
    """Add a live link to an invitation; returns the token in clear (only its hash is stored)."""
    token = new_token()
    session.add(InvitationToken(invitation_id=invitation.id, token_hash=sha256_hex(token), purpose=purpose,
                                created_at=now))
    session.flush()
    return token


def revoke_tokens(session: Session, invitation_id: int, now: datetime, *, purpose: str | None = None) -> int:
    """Make every live link of an invitation stop working; returns how many were revoked."""
    stmt = update(InvitationToken).where(
        InvitationToken.invitation_id == invitation_id, InvitationToken.revoked_at.is_(None)
    )
    if purpose is not None:
        stmt = stmt.where(InvitationToken.purpose == purpose)
    result = session.execute(stmt.values(revoked_at=now).execution_options(synchronize_session=False))
    return int(result.rowcount) if isinstance(result, CursorResult) else 0


def revoke_token(session: Session, token: str, now: datetime) -> None:
    """Make one link stop working (a link whose email never left)."""
    session.execute(
        update(InvitationToken).where(InvitationToken.token_hash == sha256_hex(token))
        .values(revoked_at=now).execution_options(synchronize_session=False)
    )


def invitation_by_token(session: Session, token: str) -> Invitation | None:
    """The invitation a live link points to (whatever its status), or None."""
    if not is_token_shaped(token):
        return None
    return session.scalars(
        select(Invitation)
        .join(InvitationToken, InvitationToken.invitation_id == Invitation.id)
        .where(InvitationToken.token_hash == sha256_hex(token), InvitationToken.revoked_at.is_(None))
        .execution_options(populate_existing=True)
    ).first()


def claim_invitation(
    session: Session, invitation_id: int, *, now: datetime, ip: str | None, user_agent: str | None
) -> bool:
    """Mark a pending, unexpired invitation used; False when another request got there first.

    The conditional UPDATE is the claim: on PostgreSQL concurrent claimers wait on the row lock
    and then see the new status; on SQLite the write transaction already serializes them.
    """
    result = session.execute(
        update(Invitation)
        .where(Invitation.id == invitation_id, Invitation.status == "pending", Invitation.expires_at > now)
        .values(status="used", used_at=now, used_ip=ip, used_user_agent=user_agent)
        .execution_options(synchronize_session=False)
    )
    claimed = isinstance(result, CursorResult) and result.rowcount == 1
    if claimed:
        revoke_tokens(session, invitation_id, now)
    return claimed


# ---------------------------------------------------------------- queries


def expire_due(session: Session, now: datetime, org_id: int | None = None) -> int:
    """Mark pending invitations past their expiry as expired and revoke their links."""
    ids_stmt = select(Invitation.id).where(Invitation.status == "pending", Invitation.expires_at <= now)
    if org_id is not None:
        ids_stmt = ids_stmt.where(Invitation.org_id == org_id)
    ids = list(session.scalars(ids_stmt))
    if not ids:
        return 0
    session.execute(
        update(Invitation).where(Invitation.id.in_(ids), Invitation.status == "pending")
        .values(status="expired").execution_options(synchronize_session=False)
    )
    session.execute(
        update(InvitationToken).where(InvitationToken.invitation_id.in_(ids), InvitationToken.revoked_at.is_(None))
        .values(revoked_at=now).execution_options(synchronize_session=False)
    )
    return len(ids)


def recent_invitations(session: Session, org_id: int, *, limit: int = 15, status: str | None = None) -> list[Invitation]:
    """An organization's invitations, newest first."""
    stmt = select(Invitation).where(Invitation.org_id == org_id)
    if status:
        stmt = stmt.where(Invitation.status == status)
    return list(session.scalars(stmt.order_by(Invitation.id.desc()).limit(limit)))


def org_invitation(session: Session, org_id: int, invitation_id: int, *, lock: bool = False) -> Invitation | None:
    """One invitation of an organization."""
    stmt = select(Invitation).where(Invitation.id == invitation_id, Invitation.org_id == org_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def live_invitation_for(session: Session, org_id: int, email: str, now: datetime) -> Invitation | None:
    """A pending, unexpired invitation already out for this address."""
    return session.scalars(
        select(Invitation).where(
            Invitation.org_id == org_id, Invitation.email == email, Invitation.status == "pending",
            Invitation.expires_at > now,
        ).order_by(Invitation.id.desc())
    ).first()


def account_for(session: Session, org_id: int, email: str) -> ClientAccount | None:
    """The client account of an address in an organization."""
    return session.scalars(
        select(ClientAccount).where(ClientAccount.org_id == org_id, ClientAccount.email == email)
    ).first()


def recent_contacts(session: Session, org_id: int, *, limit: int = 10) -> list[ContactMessage]:
    """An organization's latest contact messages, newest first."""
    return list(session.scalars(
        select(ContactMessage).where(ContactMessage.org_id == org_id)
        .order_by(ContactMessage.id.desc()).limit(limit)
    ))


def invitation_of_contact(session: Session, contact_id: int) -> Invitation | None:
    """The latest invitation made from a contact message."""
    return session.scalars(
        select(Invitation).where(Invitation.contact_message_id == contact_id).order_by(Invitation.id.desc())
    ).first()


# ---------------------------------------------------------------- sessions


@dataclass(frozen=True)
class SignedIn:
    """The account behind a valid session cookie."""

    account_id: int
    org_id: int
    email: str
    name: str
    language: str


def open_session(
    session: Session, account: ClientAccount, *, now: datetime, ttl: timedelta, ip: str | None, user_agent: str | None
) -> str:
    """Start a browser session for an account; returns the cookie value (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    session.add(ClientSession(account_id=account.id, token_hash=sha256_hex(token), created_at=now,
                              expires_at=now + ttl, ip=ip, user_agent=user_agent))
    account.last_login_at = now
    session.flush()
    return token


def session_account(session: Session, token: str, now: datetime) -> SignedIn | None:
    """The active account of a live session cookie, or None."""
    if not token or len(token) > 128:
        return None
    row = session.execute(
        select(ClientAccount)
        .join(ClientSession, ClientSession.account_id == ClientAccount.id)
        .where(ClientSession.token_hash == sha256_hex(token), ClientSession.revoked_at.is_(None),
               ClientSession.expires_at > now, ClientAccount.active.is_(True))
    ).scalars().first()
    if row is None:
        return None
    return SignedIn(row.id, row.org_id, row.email, row.name, row.language)


def close_session(session: Session, token: str, now: datetime) -> None:
    """Revoke a session cookie."""
    session.execute(
        update(ClientSession).where(ClientSession.token_hash == sha256_hex(token), ClientSession.revoked_at.is_(None))
        .values(revoked_at=now).execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------- rate limits


def rate_exceeded(session: Session, key: str, *, limit: int, window: timedelta, now: datetime) -> bool:
    """True when ``limit`` hits on ``key`` happened within ``window`` (counts nothing)."""
    count = session.scalar(
        select(func.count()).select_from(RateEvent).where(RateEvent.key == key, RateEvent.at >= now - window)
    ) or 0
    return count >= limit


def rate_record(session: Session, key: str, *, window: timedelta, now: datetime) -> None:
    """Count one hit on ``key`` (and forget hits older than ``window``)."""
    session.execute(delete(RateEvent).where(RateEvent.key == key, RateEvent.at < now - window))
    session.add(RateEvent(key=key, at=now))
