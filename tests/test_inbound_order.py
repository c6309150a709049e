"""A sender's messages are handled in order even when a crashed process still holds one of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage import inbound as inbound_repo
from storage.db import Database
from storage.models import InboundEvent

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def _store(db: Database, sender: str, n: int) -> list[int]:
    events = [inbound_repo.NewEvent("message", f"wamid.order.{sender}.{i}", "", sender, "1", {"i": i})
              for i in range(n)]
    with db.write() as session:
        inbound_repo.store_events(session, events, NOW)
    with db.session() as session:
        return [e.id for e in session.query(InboundEvent).filter_by(sender=sender).order_by(InboundEvent.id)]


def test_a_live_claim_on_the_oldest_message_holds_back_the_later_ones(db_url: str) -> None:
    db = Database(db_url)
    first, second, _ = _store(db, "+2250700000001", 3)
    with db.write() as session:
        assert inbound_repo.claim(session, first, NOW, timedelta(seconds=60))  # a worker that then dies
    with db.session() as session:
        event = inbound_repo.next_for_sender(session, "+2250700000001")
        assert event is not None and event.id == first  # not the later, still pending one
        assert inbound_repo.pending_senders(session, NOW + timedelta(seconds=30)) == []
    with db.write() as session:
        assert not inbound_repo.claim(session, first, NOW + timedelta(seconds=30), timedelta(seconds=60))
    # Once the lease has run out the same message is taken again, still before the second one.
    later = NOW + timedelta(seconds=61)
    with db.session() as session:
        assert inbound_repo.pending_senders(session, later) == ["+2250700000001"]
    with db.write() as session:
        assert inbound_repo.claim(session, first, later, timedelta(seconds=60))
        row = session.get(InboundEvent, first)
        assert row is not None and row.attempts == 2
        assert session.get(InboundEvent, second).state == "pending"  # type: ignore[union-attr]
    db.dispose()
