"""PostgreSQL advisory locks: one sender handled at a time, one scheduler leader, across processes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, text

# Namespaces (the first key of the two-integer advisory lock form).
SENDER = 1001
RECIPIENT = 1002
LEADER = 1003
JOB = 1004
BULK = 1005
MAILBOX_SEND = 1006


def try_lock(conn: Connection, namespace: int, key: str) -> bool:
    """Take a session-level advisory lock on (namespace, hash of key) if free."""
    got = conn.execute(text("SELECT pg_try_advisory_lock(:ns, hashtext(:key))"), {"ns": namespace, "key": key}).scalar()
    conn.commit()
    return bool(got)


def unlock(conn: Connection, namespace: int, key: str) -> None:
    """Release a lock taken with ``try_lock`` on the same connection."""
    conn.execute(text("SELECT pg_advisory_unlock(:ns, hashtext(:key))"), {"ns": namespace, "key": key})
    conn.commit()


@contextmanager
def waited(engine: Engine, namespace: int, key: str) -> Iterator[None]:
    """Wait for the lock on a dedicated connection and hold it for the block (PostgreSQL only;
    elsewhere one process owns the database and the block just runs)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:ns, hashtext(:key))"), {"ns": namespace, "key": key})
        conn.commit()
        try:
            yield
        finally:
            unlock(conn, namespace, key)


@contextmanager
def held(engine: Engine, namespace: int, key: str) -> Iterator[bool]:
    """Try the lock on a dedicated connection for the duration of the block; yields whether it was taken.

    The connection is closed at the end either way, so a crashed holder releases the lock too.
    """
    with engine.connect() as conn:
        got = try_lock(conn, namespace, key)
        try:
            yield got
        finally:
            if got:
                unlock(conn, namespace, key)
