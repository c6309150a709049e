"""PostgreSQL advisory locks that order work across processes: a waiting lock serializes its holders."""

from __future__ import annotations

import threading

import pytest

from storage import locks
from storage.db import Database

pytestmark = pytest.mark.postgres


def test_waited_lets_one_holder_in_at_a_time_and_the_next_one_after_it(pg_database: str) -> None:
    """Two workers sending from one mailbox: the second waits for the first, it is not turned away."""
    db = Database(pg_database)
    events: list[str] = []
    first_in = threading.Event()
    release = threading.Event()

    def first() -> None:
        with locks.waited(db.engine, locks.MAILBOX_SEND, "mailbox:7"):
            events.append("first in")
            first_in.set()
            release.wait(10)
            events.append("first out")

    def second() -> None:
        first_in.wait(10)
        with locks.waited(db.engine, locks.MAILBOX_SEND, "mailbox:7"):
            events.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    first_in.wait(10)
    # Another mailbox is not held up meanwhile.
    with locks.waited(db.engine, locks.MAILBOX_SEND, "mailbox:8"):
        events.append("other mailbox")
    threading.Event().wait(0.3)  # the second holder is blocked on the lock, not finished
    assert "second in" not in events
    release.set()
    for t in threads:
        t.join(10)
    assert events == ["first in", "other mailbox", "first out", "second in"]
    db.dispose()
