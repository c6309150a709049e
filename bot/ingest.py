"""The one entry for inbound updates: the webhook and the sandboxes all come through here.

The webhook path uses group commit: concurrent POSTs hand their updates to one writer thread,
which stores everything waiting in a single transaction and then releases all those requests.
Each POST's updates are stored together, durably, before its 200; under load many POSTs share
a commit, which is what keeps acknowledgements fast on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.clock import Clock
from bot.payload import MalformedPayload, extract_events
from storage.db import Database
from storage.inbound import NewEvent, one_statement, store_events, store_events_dbapi

log = logging.getLogger(__name__)

MAX_BATCH_EVENTS = 2000
# Arrivals closer together than this form one burst (the worker waits for a pause that long).
QUIET_SECONDS = 0.02


@dataclass(frozen=True)
class IngestResult:
    """What one POST contained: updates stored now, duplicates ignored, malformed ones skipped."""

    stored: int
    duplicates: int
    skipped: int


_Waiter = tuple[list[NewEvent], asyncio.AbstractEventLoop, "asyncio.Future[int]"]


def _settle(results: list[tuple[asyncio.Future[int], int | BaseException]]) -> None:
    for future, result in results:
        if future.done():  # the request was cancelled (client gone): nothing to tell
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


class _GroupWriter:
    """One thread that stores the updates of every waiting request in one transaction."""

    def __init__(self, db: Database, clock: Clock, stored: Callable[[set[str]], None]) -> None:
        self._db = db
        self._clock = clock
        self._stored = stored
        self._queue: queue.SimpleQueue[_Waiter | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._connection = db.pinned()

    def submit(self, events: list[NewEvent]) -> asyncio.Future[int]:
        """Queue a request's updates (from the event loop); the future gives how many were new."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        if self._thread is None:  # (checking is_alive() on every request costs a lock)
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="courrier-ingest", daemon=True)
                    self._thread.start()
        self._queue.put((events, loop, future))
        return future

    def stop(self) -> None:
        """Let the writer thread finish what is queued and exit."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                self._queue.put(None)
                self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                self._connection.close()
                return
            batch = [first]
            size = len(first[0])
            while size < MAX_BATCH_EVENTS:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
                size += len(item[0])
            self._write(batch)

    @staticmethod
    def _wake_requests(batch: list[_Waiter], results: list[int | BaseException]) -> None:
        """Hand the results back: one thread-safe call per event loop, not one per request."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[int], int | BaseException]]] = {}
        for (_, loop, future), result in zip(batch, results, strict=True):
            by_loop.setdefault(loop, []).append((future, result))
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: its requests are gone
                loop.call_soon_threadsafe(_settle, settled)

    def _write(self, batch: list[_Waiter]) -> None:
        events = [event for request_events, _, _ in batch for event in request_events]
        try:
            with self._connection.transaction(urgent=True, single_statement=one_statement(events)) as conn:
                inserted = store_events_dbapi(conn, self._db.backend, events, self._clock.now())
        except Exception as exc:
            log.exception("webhook: could not store %d update(s)", len(events))
            self._wake_requests(batch, [exc] * len(batch))
            return
        senders: set[str] = set()
        results: list[int | BaseException] = []
        for request_events, _, _ in batch:
            mine = 0
            for event in request_events:
                key = (event.kind, event.wa_message_id, event.status)
                if key in inserted:
                    inserted.discard(key)  # a duplicate in a later request of the same batch is not new
                    senders.add(event.sender)
                    mine += 1
            results.append(mine)
        self._wake_requests(batch, results)
        # Acknowledge first, then wake whoever processes (in distributed mode that is a broker round trip).
        if senders:
            self._stored(senders)


class Ingest:
    """Parses a raw webhook body and stores every update in the durable inbound log."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._listeners: list[Callable[[set[str]], None]] = []
        self._writer = _GroupWriter(db, clock, self._notify)
        self.last_post = float("-inf")
        self.burst_started = float("-inf")  # first POST after a pause of at least QUIET_SECONDS

    def on_stored(self, listener: Callable[[set[str]], None]) -> None:
        """Call ``listener`` (from any thread) with the senders of newly stored updates."""
        self._listeners.append(listener)

    def off_stored(self, listener: Callable[[set[str]], None]) -> None:
        """Stop calling ``listener``."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _notify(self, senders: set[str]) -> None:
        for listener in list(self._listeners):
            try:
                listener(senders)
            except Exception:
                # The updates are stored: a sweep will find them even if this wake-up is lost.
                log.exception("webhook: could not wake the worker")

    @staticmethod
    def parse(raw: bytes) -> tuple[list[NewEvent], int]:
        """The updates of a raw body and how many were skipped; MalformedPayload for bad JSON."""
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise MalformedPayload("the body is not valid JSON") from exc
        events, skipped = extract_events(body)
        if skipped:
            log.warning("webhook: skipped %d malformed update(s)", skipped)
        return events, skipped

    def receive(self, raw: bytes) -> IngestResult:
        """Parse and store a raw body in one transaction (blocking; the sandboxes use this)."""
        events, skipped = self.parse(raw)
        if not events:
            return IngestResult(0, 0, skipped)
        with self._db.write() as session:
            inserted = store_events(session, events, self._clock.now())
        if inserted:
            self._notify({e.sender for e in events if (e.kind, e.wa_message_id, e.status) in inserted})
        return IngestResult(len(inserted), len(events) - len(inserted), skipped)

    async def receive_async(self, raw: bytes) -> IngestResult:
        """Parse on the event loop, store through the group-commit writer, return once durable."""
        now = time.monotonic()
        if now - self.last_post >= QUIET_SECONDS:
            self.burst_started = now
        self.last_post = now
        events, skipped = self.parse(raw)
        if not events:
            return IngestResult(0, 0, skipped)
        stored = await self._writer.submit(events)
        return IngestResult(stored, len(events) - stored, skipped)

    def close(self) -> None:
        """Stop the group-commit writer."""
        self._writer.stop()
