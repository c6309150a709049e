"""The one entry for inbound updates: the webhook and the sandboxes all come through here."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot.clock import Clock
from bot.payload import MalformedPayload, extract_events
from storage.db import Database
from storage.inbound import store_events

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    """What one POST contained: updates stored now, duplicates ignored, malformed ones skipped."""

    stored: int
    duplicates: int
    skipped: int


class Ingest:
    """Parses a raw webhook body and stores every update in the durable inbound log."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._listeners: list[Callable[[], None]] = []

    def on_stored(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (thread-safe) whenever new updates were stored."""
        self._listeners.append(listener)

    def off_stored(self, listener: Callable[[], None]) -> None:
        """Stop calling ``listener``."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def receive(self, raw: bytes) -> IngestResult:
        """Parse and store a raw body in one transaction; raises MalformedPayload for bad JSON."""
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise MalformedPayload("the body is not valid JSON") from exc
        events, skipped = extract_events(body)
        if skipped:
            log.warning("webhook: skipped %d malformed update(s)", skipped)
        if not events:
            return IngestResult(0, 0, skipped)
        with self._db.write() as session:
            stored = store_events(session, events, self._clock.now())
        if stored:
            for listener in self._listeners:
                listener()
        return IngestResult(stored, len(events) - stored, skipped)
