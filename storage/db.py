"""Engine and session handling for SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool, StaticPool


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for memory or other databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event own transactions (pysqlite's own handling is broken).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=15000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the lock up front: a deferred transaction that read first cannot
        # wait for the lock later (SQLITE_BUSY_SNAPSHOT) once another writer committed.
        if conn.get_execution_options().get("sqlite_immediate"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


class PriorityLock:
    """A mutex where urgent holders go before the others waiting."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held = False
        self._urgent_waiting = 0
        self._owner: int | None = None

    @contextmanager
    def hold(self, urgent: bool) -> Iterator[None]:
        """Hold the lock; urgent callers overtake non-urgent ones in the queue."""
        me = threading.get_ident()
        if self._owner == me:
            # Waiting here would never end: say so instead of hanging.
            raise RuntimeError("nested write transaction on SQLite in the same thread")
        with self._cond:
            if urgent:
                self._urgent_waiting += 1
            try:
                while self._held or (not urgent and self._urgent_waiting):
                    self._cond.wait()
            finally:
                if urgent:
                    self._urgent_waiting -= 1
            self._held = True
            self._owner = me
        try:
            yield
        finally:
            with self._cond:
                self._held = False
                self._owner = None
                self._cond.notify_all()


class Database:
    """One database: an engine, a read session factory and a write session factory."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.backend = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.backend == "sqlite":
            path = sqlite_path(url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                kwargs["connect_args"] = {"check_same_thread": False, "timeout": 15}
                kwargs["pool_size"] = pool_size
                kwargs["max_overflow"] = 20
            else:
                kwargs["connect_args"] = {"check_same_thread": False}
                kwargs["poolclass"] = StaticPool
        elif self.backend == "postgresql":
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = 10
            kwargs["pool_pre_ping"] = True
        self.engine = create_engine(url, **kwargs)
        if self.backend == "sqlite":
            _configure_sqlite(self.engine)
        self._write_lock = PriorityLock() if self.backend == "sqlite" else None
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(
            self.engine.execution_options(sqlite_immediate=True), expire_on_commit=False
        )

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite database."""
        return self.backend == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session for reading (and light writes on PostgreSQL); commits on success."""
        with self._read.begin() as session:
            yield session

    @contextmanager
    def write(self, *, urgent: bool = False) -> Iterator[Session]:
        """A session that holds the write lock from its first statement; commits on success.

        ``urgent`` writers (webhook acknowledgements) go before the others waiting for SQLite's
        single write lock.
        """
        if self._write_lock is None:
            with self._write.begin() as session:
                yield session
            return
        # SQLite has one writer at a time. Queue this process's writers on a Python lock:
        # SQLite's own busy handler sleeps up to 100 ms between retries, which ruins latency.
        with self._write_lock.hold(urgent), self._write.begin() as session:
            yield session

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def throwaway_engine(url: str) -> Engine:
    """An engine without pooling, for one-off administrative work such as migrations."""
    return create_engine(url, poolclass=NullPool)
