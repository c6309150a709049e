"""Clients, quotes and contracts: models and repository functions.

A quote or contract is one ``quotes`` row (``kind`` tells which). Its number comes from a
per-organization, per-kind, per-year counter row that is only ever incremented inside the
transaction creating the document, so two documents never share a number and a cancelled
one's number is never handed out again. Slow work on a document (rendering its PDF, sending
it) is requested by setting ``job`` on the row and done by a runner outside any transaction.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from storage.inbound import insert_ignore
from storage.models import Base, IdType, JSONType, utcnow

DOCUMENT_KINDS = ("quote", "contract")
STATUSES = ("draft", "sent", "accepted", "declined", "cancelled")
JOBS = ("render", "send")


def fold(text: str) -> str:
    """Casefold, drop accents, keep letters, digits and single spaces (the search form)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[^\w@.+-]+", " ", plain).split())


class Client(Base):
    """A client or prospect of an organization."""

    __tablename__ = "clients"
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    company: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    city: Mapped[str] = mapped_column(String(120), default="")
    project_type: Mapped[str] = mapped_column(String(200), default="")
    mission_context: Mapped[str] = mapped_column(Text, default="")
    search_key: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]

    @property
    def display_name(self) -> str:
        """The name, with the company when it says something more."""
        if self.company and fold(self.company) != fold(self.name):
            return f"{self.name} ({self.company})"
        return self.name

    def refresh_search_key(self) -> None:
        """Recompute the folded text lookups match against."""
        self.search_key = fold(" ".join(filter(None, (self.name, self.company, self.email or ""))))


class DocumentCounter(Base):
    """The last number given to a kind of document, per organization and year."""

    __tablename__ = "document_counters"
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class Quote(Base):
    """A quote or a contract: its variables, its PDF, its status and any pending job."""

    __tablename__ = "quotes"
    __table_args__ = (
        UniqueConstraint("org_id", "number", name="uq_quotes_org_number"),
        Index("ix_quotes_job", "job", "job_not_before"),
        Index("ix_quotes_org_kind_created", "org_id", "kind", "created_at"),
    )
    id: Mapped[int] = mapped_column(IdType, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="SET NULL"), index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))
    number: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    language: Mapped[str] = mapped_column(String(8))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    total_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    issue_date: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    recipient_email: Mapped[str | None] = mapped_column(String(320))
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    pdf_revision: Mapped[int | None] = mapped_column(Integer)
    email_message_id: Mapped[str | None] = mapped_column(String(255))
    send_uncertain: Mapped[bool] = mapped_column(Boolean, default=False)
    sent_from: Mapped[str | None] = mapped_column(String(320))
    sent_to: Mapped[str | None] = mapped_column(String(320))
    sent_at: Mapped[datetime | None]
    provider_id: Mapped[str | None] = mapped_column(String(255))
    job: Mapped[str | None] = mapped_column(String(16))
    job_token: Mapped[str | None] = mapped_column(String(40))
    job_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    job_language: Mapped[str | None] = mapped_column(String(8))
    job_not_before: Mapped[datetime | None]
    job_lease_until: Mapped[datetime | None]
    job_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None]

    @property
    def pdf_fresh(self) -> bool:
        """True when the stored PDF shows the current revision."""
        return self.pdf_revision == self.revision


# ---------------------------------------------------------------- clients


def add_client(session: Session, org_id: int, now: datetime, **fields: Any) -> Client:
    """Store a new client (fields already validated)."""
    client = Client(org_id=org_id, created_at=now, **fields)
    client.refresh_search_key()
    session.add(client)
    session.flush()
    return client


def get_client(session: Session, org_id: int, client_id: int) -> Client | None:
    """A client of this organization, or None."""
    client = session.get(Client, client_id)
    return client if client is not None and client.org_id == org_id else None


def clients_of(session: Session, org_id: int, limit: int | None = None) -> list[Client]:
    """Clients of an organization, by name."""
    stmt = select(Client).where(Client.org_id == org_id).order_by(func.lower(Client.name), Client.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def count_clients(session: Session, org_id: int) -> int:
    """How many clients an organization has."""
    return int(session.scalar(select(func.count()).select_from(Client).where(Client.org_id == org_id)) or 0)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def candidates(session: Session, org_id: int, words: list[str], limit: int = 200) -> list[Client]:
    """Clients whose folded name, company or email contains every word (a coarse SQL filter)."""
    stmt = select(Client).where(Client.org_id == org_id)
    for word in words:
        stmt = stmt.where(Client.search_key.like(f"%{_like_escape(word)}%", escape="\\"))
    return list(session.scalars(stmt.order_by(Client.id).limit(limit)))


def find_duplicate(session: Session, org_id: int, name: str, company: str, exclude_id: int | None = None) -> Client | None:
    """A client with the same name and company, accents and case ignored."""
    key_name, key_company = fold(name), fold(company)
    for client in candidates(session, org_id, key_name.split()[:3]):
        if client.id != exclude_id and fold(client.name) == key_name and fold(client.company) == key_company:
            return client
    return None


# ---------------------------------------------------------------- numbering


def next_number(session: Session, org_id: int, kind: str, year: int) -> int:
    """The next number of a kind of document for this organization and year.

    The counter row is updated in place (UPDATE … RETURNING), which locks it until the
    transaction ends: concurrent creators on PostgreSQL wait for each other instead of reading
    the same value, and SQLite serializes writers anyway.
    """
    bump = (
        update(DocumentCounter)
        .where(DocumentCounter.org_id == org_id, DocumentCounter.kind == kind, DocumentCounter.year == year)
        .values(value=DocumentCounter.value + 1)
        .returning(DocumentCounter.value)
    )
    value = session.execute(bump).scalar()
    if value is None:
        table: Table = DocumentCounter.__table__  # type: ignore[assignment]
        insert_ignore(session, table, [{"org_id": org_id, "kind": kind, "year": year, "value": 0}],
                      ["org_id", "kind", "year"])
        value = session.execute(bump).scalar()
    assert value is not None
    return int(value)


# ---------------------------------------------------------------- documents


def get_quote(session: Session, org_id: int, quote_id: int) -> Quote | None:
    """A document of this organization, or None."""
    quote = session.get(Quote, quote_id)
    return quote if quote is not None and quote.org_id == org_id else None


def quote_by_number(session: Session, org_id: int, number: str) -> Quote | None:
    """A document by its number (case ignored)."""
    return session.scalars(
        select(Quote).where(Quote.org_id == org_id, func.upper(Quote.number) == number.strip().upper())
    ).first()


def recent_quotes(session: Session, org_id: int, kind: str | None, limit: int = 10) -> list[Quote]:
    """The latest documents of an organization (cancelled ones left out), newest first."""
    stmt = select(Quote).where(Quote.org_id == org_id, Quote.status != "cancelled")
    if kind is not None:
        stmt = stmt.where(Quote.kind == kind)
    return list(session.scalars(stmt.order_by(Quote.id.desc()).limit(limit)))


def latest_draft_for(session: Session, org_id: int, kind: str, client_id: int) -> Quote | None:
    """The newest unsent draft of a kind for a client."""
    return session.scalars(
        select(Quote)
        .where(Quote.org_id == org_id, Quote.kind == kind, Quote.client_id == client_id, Quote.status == "draft")
        .order_by(Quote.id.desc())
    ).first()


def count_by_status(session: Session, org_id: int) -> dict[tuple[str, str], int]:
    """How many documents per (kind, status)."""
    rows = session.execute(
        select(Quote.kind, Quote.status, func.count()).where(Quote.org_id == org_id).group_by(Quote.kind, Quote.status)
    )
    return {(kind, status): int(n) for kind, status, n in rows}


def due_jobs(session: Session, now: datetime, limit: int = 20) -> list[int]:
    """Ids of documents with a job due now and not held by another runner."""
    stmt = (
        select(Quote.id)
        .where(
            Quote.job.is_not(None),
            or_(Quote.job_not_before.is_(None), Quote.job_not_before <= now),
            or_(Quote.job_lease_until.is_(None), Quote.job_lease_until <= now),
        )
        .order_by(Quote.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def claim_job(session: Session, quote_id: int, now: datetime, lease: timedelta) -> bool:
    """Take a due job for this runner (a lease, so a crashed runner's job comes back)."""
    stmt = (
        update(Quote)
        .where(
            Quote.id == quote_id,
            Quote.job.is_not(None),
            or_(Quote.job_not_before.is_(None), Quote.job_not_before <= now),
            or_(Quote.job_lease_until.is_(None), Quote.job_lease_until <= now),
        )
        .values(job_lease_until=now + lease, job_attempts=Quote.job_attempts + 1)
    )
    return bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]
