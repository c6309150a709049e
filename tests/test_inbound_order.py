"""A sender's messages are handled in order even when a crashed process still holds one of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

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


@pytest.mark.postgres
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


@pytest.mark.postgres
def test_a_batch_is_stored_in_arrival_order_once_per_update(db_url: str) -> None:
    """The webhook writer's batch insert: arrival order kept in the ids, duplicates (earlier or in
    the same batch) skipped, each status a row of its own, missing fields and payloads kept."""
    db = Database(db_url)
    new = inbound_repo.NewEvent
    with db.write() as session:
        assert inbound_repo.store_events(session, [new("message", "wamid.seen", "", "+1", "9", {"n": 0})], NOW) == {
            ("message", "wamid.seen", "")}
    batch = [
        new("message", "wamid.b", "", "+2", None, {"text": "deuxième é"}),
        new("message", "wamid.seen", "", "+1", "9", {"n": 0}),  # stored by an earlier POST
        new("message", "wamid.a", "", "+2", "9", {"text": "troisième"}),
        new("message", "wamid.b", "", "+2", None, {"text": "deuxième é"}),  # twice in this batch
        new("status", "wamid.out", "delivered", "+2", "9", {"status": "delivered"}),
        new("status", "wamid.out", "read", "+2", "9", {"status": "read"}),
    ]
    with db.write() as session:
        inserted = inbound_repo.store_events(session, batch, NOW)
    assert inserted == {("message", "wamid.b", ""), ("message", "wamid.a", ""),
                        ("status", "wamid.out", "delivered"), ("status", "wamid.out", "read")}
    with db.session() as session:
        rows = session.query(InboundEvent).order_by(InboundEvent.id).all()
        assert [(r.wa_message_id, r.status) for r in rows] == [
            ("wamid.seen", ""), ("wamid.b", ""), ("wamid.a", ""), ("wamid.out", "delivered"), ("wamid.out", "read")]
        assert rows[1].phone_number_id is None and rows[1].payload == {"text": "deuxième é"}
        assert all(r.state == "pending" and r.attempts == 0 for r in rows)
        assert {r.received_at.replace(tzinfo=UTC) if r.received_at.tzinfo is None else r.received_at
                for r in rows} == {NOW}
    db.dispose()
