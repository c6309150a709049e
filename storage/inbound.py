"""The durable inbound log: store webhook updates once, claim them for processing."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import InboundEvent


@dataclass(frozen=True)
class NewEvent:
    """One update ready to be stored."""

    kind: str
    wa_message_id: str
    status: str
    sender: str
    phone_number_id: str | None
    payload: dict[str, Any]


def insert_ignore_returning(session: Session, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str],
                            returning: str | None = None) -> list[Any]:
    """INSERT … ON CONFLICT DO NOTHING on SQLite and PostgreSQL, 500 rows per statement (SQLite
    allows 32,766 variables); the ``returning`` column (default: the primary key) of the rows inserted."""
    dialect = session.get_bind().dialect.name
    column = table.c[returning] if returning else next(iter(table.primary_key.columns))
    out: list[Any] = []
    for start in range(0, len(rows), 500):
        ins = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
        stmt = ins.values(list(rows[start : start + 500])).on_conflict_do_nothing(index_elements=list(keys))
        out.extend(session.scalars(stmt.returning(column)))
    return out


def insert_ignore(session: Session, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> int:
    """INSERT … ON CONFLICT DO NOTHING on SQLite and PostgreSQL; returns rows inserted."""
    # Count what RETURNING gives back: rowcount is not reliable for multi-row inserts on every driver.
    return len(insert_ignore_returning(session, table, rows, keys))


_COLUMNS = "kind, wa_message_id, status, sender, phone_number_id, payload, state, attempts, received_at"


@functools.lru_cache(maxsize=64)
def _store_sql(dialect: str, rows: int) -> str:
    """INSERT … ON CONFLICT DO NOTHING RETURNING the keys, for ``rows`` rows, in the driver's style.

    PostgreSQL gets numbered placeholders for a raw cursor: psycopg would otherwise re-split the
    statement on every call, since it caches the conversion of short statements only.
    """
    if dialect == "postgresql":
        rows_sql = ", ".join(
            f"(${7 * i + 1}, ${7 * i + 2}, ${7 * i + 3}, ${7 * i + 4}, ${7 * i + 5}, ${7 * i + 6}::jsonb, "
            f"'pending', 0, ${7 * i + 7})"
            for i in range(rows)
        )
    else:
        rows_sql = ", ".join(["(?, ?, ?, ?, ?, ?, 'pending', 0, ?)"] * rows)
    # Only placeholders are joined in; every value travels as a parameter.
    return (f"INSERT INTO inbound_events ({_COLUMNS}) VALUES {rows_sql} "  # noqa: S608
            "ON CONFLICT (kind, wa_message_id, status) DO NOTHING RETURNING kind, wa_message_id, status")


# SQLite allows 32,766 variables per statement; 7 per row.
_ROWS_PER_STATEMENT = 2000


def one_statement(events: Sequence[NewEvent]) -> bool:
    """True when ``store_events_dbapi`` stores these updates with a single statement."""
    return len(events) <= _ROWS_PER_STATEMENT


def store_events_dbapi(conn: Any, dialect: str, events: Sequence[NewEvent], now: datetime) -> set[tuple[str, str, str]]:
    """Store updates through a DB-API connection already in a transaction; returns the new keys.

    This is the webhook's hot path, so it skips the ORM and the SQL compiler: one multi-row
    INSERT … ON CONFLICT DO NOTHING … RETURNING per 2,000 updates. Values are written exactly as
    the models' types write them (JSON text; on SQLite, naive UTC timestamps with microseconds).
    """
    if not events:
        return set()
    when: Any = now.astimezone(UTC)
    if dialect != "postgresql":
        when = when.strftime("%Y-%m-%d %H:%M:%S.%f")
    dumps = json.dumps
    inserted: set[tuple[str, str, str]] = set()
    if dialect == "postgresql":
        from psycopg import RawCursor  # (not imported by SQLite-only processes)

        cursor = RawCursor(conn)
    else:
        cursor = conn.cursor()
    try:
        for start in range(0, len(events), _ROWS_PER_STATEMENT):
            chunk = events[start:start + _ROWS_PER_STATEMENT]
            params: list[Any] = []
            for e in chunk:
                params += (e.kind, e.wa_message_id, e.status, e.sender, e.phone_number_id, dumps(e.payload), when)
            cursor.execute(_store_sql(dialect, len(chunk)), params)
            inserted.update((k, m, s) for k, m, s in cursor.fetchall())
    finally:
        cursor.close()
    return inserted


def store_events(session: Session, events: Sequence[NewEvent], now: datetime) -> set[tuple[str, str, str]]:
    """Store updates in the session's transaction, ignoring ids seen before; returns the new keys."""
    if not events:
        return set()
    connection = session.connection()
    return store_events_dbapi(connection.connection.driver_connection, connection.dialect.name, events, now)


def pending_senders(
    session: Session, now: datetime, limit: int = 200, among: Sequence[str] | None = None
) -> list[str]:
    """Senders whose oldest unfinished event is ready to process, oldest first.

    A sender whose oldest event waits for a retry (or is held by a live claim) is not listed:
    their later events wait behind it, in order.
    """
    unfinished: ColumnElement[bool] = InboundEvent.state.in_(("pending", "processing"))
    if among is not None:
        unfinished = and_(unfinished, InboundEvent.sender.in_(list(among)))
    first = (
        select(InboundEvent.sender, func.min(InboundEvent.id).label("first_id"))
        .where(unfinished)
        .group_by(InboundEvent.sender)
        .subquery()
    )
    ready = or_(
        and_(
            InboundEvent.state == "pending",
            or_(InboundEvent.available_at.is_(None), InboundEvent.available_at <= now),
        ),
        and_(InboundEvent.state == "processing", InboundEvent.available_at <= now),
    )
    stmt = (
        select(InboundEvent.sender)
        .join(first, InboundEvent.id == first.c.first_id)
        .where(ready)
        .order_by(InboundEvent.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def next_for_sender(session: Session, sender: str) -> InboundEvent | None:
    """The sender's oldest unfinished event (pending or stuck in processing)."""
    stmt = (
        select(InboundEvent)
        # A claimed event (a crashed worker's, until its lease runs out) still comes first:
        # skipping it would answer the sender's later messages before it.
        .where(InboundEvent.sender == sender, InboundEvent.state.in_(("pending", "processing")))
        .order_by(InboundEvent.id)
        .limit(1)
    )
    return session.scalars(stmt).first()


def claim(session: Session, event_id: int, now: datetime, lease: timedelta) -> bool:
    """Move one event to processing unless someone else holds a live claim on it."""
    stmt = (
        update(InboundEvent)
        .where(
            InboundEvent.id == event_id,
            or_(
                and_(
                    InboundEvent.state == "pending",
                    or_(InboundEvent.available_at.is_(None), InboundEvent.available_at <= now),
                ),
                and_(InboundEvent.state == "processing", InboundEvent.available_at <= now),
            ),
        )
        .values(state="processing", attempts=InboundEvent.attempts + 1, available_at=now + lease)
    )
    return bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def release_stale(session: Session, now: datetime) -> int:
    """Put back events whose processing lease ran out (a crashed worker)."""
    stmt = (
        update(InboundEvent)
        .where(InboundEvent.state == "processing", InboundEvent.available_at <= now)
        .values(state="pending", available_at=None)
    )
    return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


def queue_depth(session: Session) -> int:
    """How many inbound events wait to be processed."""
    stmt = select(func.count()).select_from(InboundEvent).where(InboundEvent.state == "pending")
    return int(session.scalar(stmt) or 0)
