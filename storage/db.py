"""Engine and session handling for SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
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
        # No checkpoint inside a committing transaction (it would stall whoever crossed the
        # threshold, often a webhook acknowledgement): the Checkpointer thread does them.
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


class Checkpointer:
    """Keeps a SQLite write-ahead log short from a background thread.

    Auto-checkpoints are off (see ``_configure_sqlite``). Without checkpoints the WAL would grow
    for as long as the process runs, and every read would search a longer WAL index. Every
    ``interval`` seconds, once the WAL is past ``threshold_bytes``, a PASSIVE checkpoint copies
    what it can into the database file without taking the write lock or waiting for readers;
    writers then start the WAL over from its beginning.
    """

    def __init__(self, path: Path, *, interval: float = 1.0, threshold_bytes: int = 4 * 1024 * 1024) -> None:
        self._path = path
        self._wal = Path(f"{path}-wal")
        self._interval = interval
        self._threshold = threshold_bytes
        self._stop = threading.Event()
        self.checkpoints = 0
        self._thread = threading.Thread(target=self._run, name="courrier-wal-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                if self._wal.stat().st_size >= self._threshold:
                    self.checkpoint()
            except FileNotFoundError:
                continue
            except Exception:  # never let maintenance kill the thread: try again next time
                logging.getLogger(__name__).exception("SQLite checkpoint failed")

    def checkpoint(self) -> tuple[int, int, int]:
        """One PASSIVE checkpoint: (busy, frames in the WAL, frames checkpointed)."""
        conn = sqlite3.connect(self._path, timeout=1, isolation_level=None)
        try:
            busy, log_frames, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            conn.close()
        self.checkpoints += 1
        return int(busy), int(log_frames), int(done)

    def stop(self) -> None:
        """Stop the thread (it does not checkpoint again)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


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


class PinnedConnection:
    """A DB-API connection one thread keeps for its own write transactions.

    The webhook's writer commits hundreds of times a second: checking a connection out of the
    pool each time would cost a ping and a reset round trip on PostgreSQL. This one stays out of
    the pool and is replaced after any error. On SQLite its transactions queue on the same write
    lock as ``Database.write``.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._proxy: Any = None

    @contextmanager
    def transaction(self, *, urgent: bool = False, single_statement: bool = False) -> Iterator[Any]:
        """The connection in a write transaction: commits on success, rolls back on error.

        ``single_statement``: the caller runs exactly one statement, which is then its own
        transaction. On PostgreSQL that runs it in autocommit mode: one round trip instead of
        three (BEGIN, the statement, COMMIT), just as atomic and durable.
        """
        db = self._db
        hold = db._write_lock.hold(urgent) if db._write_lock is not None else nullcontext()
        with hold:
            if self._proxy is None:
                self._proxy = db.engine.raw_connection()
            driver = self._proxy.driver_connection
            try:
                autocommit = db.backend == "postgresql" and single_statement
                if db.backend == "sqlite":
                    driver.execute("BEGIN IMMEDIATE")
                elif driver.autocommit != autocommit:
                    driver.autocommit = autocommit
                yield driver
                if not autocommit:
                    driver.commit()
            except BaseException:
                self.close(broken=True)  # a fresh connection next time, whatever went wrong
                raise

    def close(self, *, broken: bool = False) -> None:
        """Give the connection back (``broken``: discard it)."""
        proxy, self._proxy = self._proxy, None
        if proxy is None:
            return
        try:
            if broken:
                proxy.invalidate()
            else:
                if self._db.backend == "postgresql":
                    proxy.driver_connection.autocommit = False  # back to the pool as it came
                proxy.close()
        except Exception:
            logging.getLogger(__name__).debug("closing a pinned connection failed", exc_info=True)


def _json_dumps(value: Any) -> str:
    """``json.dumps``, with the empty list most JSON columns of a message row hold (no CC, no
    attachment, no flag) written without the encoder."""
    if value == [] and isinstance(value, list):
        return "[]"
    return json.dumps(value)


class Database:
    """One database: an engine, a read session factory and a write session factory."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.backend = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo, "future": True, "json_serializer": _json_dumps}
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
        self.checkpointer: Checkpointer | None = None
        path = sqlite_path(url) if self.backend == "sqlite" else None
        if path is not None:
            self.checkpointer = Checkpointer(path)
            weakref.finalize(self, self.checkpointer._stop.set)
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

    def pinned(self) -> PinnedConnection:
        """A DB-API connection for one thread's hot-path writes (see PinnedConnection)."""
        return PinnedConnection(self)

    def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def dispose(self) -> None:
        """Close every pooled connection and stop the checkpoint thread."""
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the session's outermost transaction committed (never if it rolls back).

    A callback that raises is logged, not propagated: the transaction is committed by then, and an
    error surfacing from the commit would make the caller take committed work for failed work
    (a worker would process its event again).
    """
    fired = False

    def fire(committed: Session) -> None:
        nonlocal fired
        # SQLAlchemy also signals a savepoint's commit: wait for the real one.
        if fired or committed.in_nested_transaction():
            return
        fired = True
        try:
            callback()
        except Exception:
            logging.getLogger(__name__).exception("a follow-up of a committed transaction failed")

    event.listen(session, "after_commit", fire)


def throwaway_engine(url: str) -> Engine:
    """An engine without pooling, for one-off administrative work such as migrations."""
    return create_engine(url, poolclass=NullPool)
