"""End to end through the real HTTP app: signed payloads in, outbox and database checked."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.webhook import sign
from storage.accounts import sha256_hex
from storage.models import InboundEvent, JoinCode, OutboxMessage, User
from tests.conftest import APP_SECRET, VERIFY_TOKEN, Harness, load_payload, text_message

pytestmark = pytest.mark.postgres

AWA_PHONE = "+2250707000001"
AWA_DIGITS = "2250707000001"
AWA_BSUID = "CI.13491208655302741918"
STATUS_WAMID = "wamid.HBgMMjI1MDcwNzAwMDAwMRUCABEYEjQzQjU2RkI3QjY0RkQ1RjM2AA=="


def count(harness: Harness, model: Any, *where: Any) -> int:
    with harness.services.db.session() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


# ------------------------------------------------------------------ verification handshake


def test_handshake_echoes_challenge_with_the_right_token(harness: Harness) -> None:
    r = harness.client.get("/webhooks/whatsapp", params={
        "hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"})
    assert r.status_code == 200
    assert r.text == "1158201444"
    assert r.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("params", [
    {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
    {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
    {"hub.challenge": "1"},
])
def test_handshake_refuses_wrong_token_or_mode(harness: Harness, params: dict[str, str]) -> None:
    assert harness.client.get("/webhooks/whatsapp", params=params).status_code == 403


# ------------------------------------------------------------------ signature, body checks


def test_missing_signature_is_401_and_stores_nothing(harness: Harness) -> None:
    raw = json.dumps(load_payload("text.json")).encode()
    r = harness.client.post("/webhooks/whatsapp", content=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 401
    assert count(harness, InboundEvent) == 0


def test_wrong_signature_is_403_and_stores_nothing(harness: Harness) -> None:
    raw = json.dumps(load_payload("text.json")).encode()
    assert harness.post(raw, signature=sign(raw, "another-secret")).status_code == 403
    assert harness.post(raw, signature="sha256=" + "0" * 64).status_code == 403
    assert harness.post(raw, signature="md5=abc").status_code == 403
    assert count(harness, InboundEvent) == 0


def test_signature_covers_exact_bytes(harness: Harness) -> None:
    raw = json.dumps(load_payload("text.json")).encode()
    tampered = raw.replace(b'"timestamp": "1763712000"', b'"timestamp": "1763712001"')
    assert tampered != raw
    assert harness.post(tampered, signature=sign(raw, APP_SECRET)).status_code == 403
    reformatted = json.dumps(load_payload("text.json"), indent=2).encode()
    assert harness.post(reformatted, signature=sign(raw, APP_SECRET)).status_code == 403
    assert count(harness, InboundEvent) == 0


def test_malformed_json_with_valid_signature_is_400(harness: Harness) -> None:
    assert harness.post(b'{"object": "whatsapp_business_account", "entry": [').status_code == 400
    assert harness.post(b"\xff\xfe not json").status_code == 400
    assert harness.post(b"[1, 2, 3]").status_code == 400
    assert count(harness, InboundEvent) == 0


def test_body_over_3_mb_is_413(harness: Harness) -> None:
    raw = b'{"pad": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    assert harness.post(raw).status_code == 413
    assert count(harness, InboundEvent) == 0


# ------------------------------------------------------------------ messages


def test_text_message_is_answered(harness: Harness) -> None:
    harness.add_user(AWA_PHONE, wa_user_id=AWA_BSUID)
    assert harness.post(text_message("aide", phone=AWA_DIGITS)).status_code == 200
    harness.drain()
    texts = harness.whatsapp.texts_to(AWA_DIGITS)
    assert len(texts) == 1
    assert "Ce que je sais faire" in texts[0]


def test_batched_post_processes_every_message_of_every_entry(harness: Harness) -> None:
    harness.add_user(AWA_PHONE, wa_user_id=AWA_BSUID)
    harness.add_user("+33612345678", "Jean Dupont", admin=False)
    body = load_payload("batched-three-messages.json")
    assert harness.post(body).status_code == 200
    assert count(harness, InboundEvent, InboundEvent.kind == "message") == 3
    harness.drain()
    awa = harness.whatsapp.texts_to(AWA_DIGITS)
    assert len(awa) == 2
    assert "Ce que je sais faire" in awa[0]  # aide, then statut, in order
    assert "État de Courrier" in awa[1]
    assert harness.whatsapp.texts_to("33612345678") == ["Got it, I'll answer in English."]
    assert count(harness, InboundEvent, InboundEvent.state == "done") == 3


def test_same_message_twice_is_processed_once(harness: Harness) -> None:
    harness.add_user(AWA_PHONE, wa_user_id=AWA_BSUID)
    body = load_payload("text-without-user-id.json")
    harness.add_user("+33612345678", "Jean Dupont", admin=False)
    assert harness.post(body).status_code == 200
    harness.drain()
    assert harness.post(body).status_code == 200  # Meta retries: normal
    harness.drain()
    assert len(harness.whatsapp.texts_to("33612345678")) == 1
    assert count(harness, InboundEvent) == 1


def test_concurrent_duplicate_posts_give_one_reply(harness: Harness) -> None:
    harness.add_user(AWA_PHONE, wa_user_id=AWA_BSUID)
    body = json.dumps(text_message("moi", phone=AWA_DIGITS, wamid="wamid.CONCURRENT.1")).encode()
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def post() -> None:
        barrier.wait()
        statuses.append(harness.post(body).status_code)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 8
    harness.drain()
    assert count(harness, InboundEvent) == 1
    assert len(harness.whatsapp.texts_to(AWA_DIGITS)) == 1
    assert count(harness, OutboxMessage) == 1


@pytest.mark.parametrize("failure", ["after the write", "the write refused"])
def test_a_failed_store_answers_500_and_the_retry_is_answered_once(
    harness: Harness, monkeypatch: Any, failure: str
) -> None:
    """The database failing under the writer: Meta gets a 500 (and retries); nothing is half-kept.

    Refused by the database, nothing is stored. Broken after the write: SQLite's transaction rolls
    back; on PostgreSQL a batch that fits one statement is its own transaction (autocommit), so it
    is kept whole and the retry is a duplicate. Either way: one row, one reply.
    """
    import bot.ingest

    harness.add_user(AWA_PHONE, wa_user_id=AWA_BSUID)
    real = bot.ingest.store_events_dbapi
    calls = {"n": 0}

    def failing_once(conn: Any, *args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            if failure == "the write refused":
                conn.execute("SELECT no_such_column FROM inbound_events")  # a real error from the database
            real(conn, *args)  # the rows are written, then the connection breaks
            raise RuntimeError("connection lost")
        return real(conn, *args)

    monkeypatch.setattr(bot.ingest, "store_events_dbapi", failing_once)
    body = json.dumps(text_message("moi", phone=AWA_DIGITS, wamid="wamid.FLAKY.1")).encode()
    response = harness.post(body)
    assert response.status_code == 500
    assert "moi" not in response.text
    kept = failure == "after the write" and harness.services.db.backend == "postgresql"
    assert count(harness, InboundEvent) == (1 if kept else 0)
    retry = harness.post(body)  # Meta's retry, on a fresh connection
    assert retry.status_code == 200
    assert retry.json() == {"stored": 0 if kept else 1}
    harness.drain()
    assert count(harness, InboundEvent) == 1
    assert len(harness.whatsapp.texts_to(AWA_DIGITS)) == 1


def test_messages_of_one_sender_are_answered_in_order(harness: Harness) -> None:
    harness.add_user(AWA_PHONE)
    for index in range(6):
        command = "langue en" if index % 2 == 0 else "langue fr"
        harness.post(text_message(command, phone=AWA_DIGITS, wamid=f"wamid.order.{index}"))
    harness.drain()
    expected = ["Got it, I'll answer in English.", "Entendu, je vous répondrai en français."] * 3
    assert harness.whatsapp.texts_to(AWA_DIGITS) == expected


# ------------------------------------------------------------------ statuses


def _sent_message(harness: Harness, wamid: str = STATUS_WAMID) -> int:
    with harness.services.db.write() as session:
        row = OutboxMessage(idempotency_key="test:1", kind="text", payload={"body": "x"}, state="sent",
                            recipient_phone=AWA_PHONE, provider_message_id=wamid)
        session.add(row)
        session.flush()
        return row.id


def _outbox(harness: Harness, row_id: int) -> OutboxMessage:
    with harness.services.db.session() as session:
        row = session.get(OutboxMessage, row_id)
        assert row is not None
        session.expunge(row)
        return row


def test_status_only_posts_update_the_outbox_without_replying(harness: Harness) -> None:
    row_id = _sent_message(harness)
    for name in ("status-sent.json", "status-delivered.json", "status-read.json"):
        assert harness.post(load_payload(name)).status_code == 200
    harness.drain()
    assert harness.whatsapp.outbox == []
    assert _outbox(harness, row_id).delivery_status == "read"
    # A late "delivered" never moves a read message backwards.
    late = load_payload("status-delivered.json")
    late["entry"][0]["changes"][0]["value"]["statuses"][0]["timestamp"] = "1763712999"
    harness.post(late)
    harness.drain()
    assert _outbox(harness, row_id).delivery_status == "read"


def test_failed_status_without_contacts_keeps_code_and_title(harness: Harness) -> None:
    row_id = _sent_message(harness)
    assert harness.post(load_payload("status-failed-131047-no-contacts.json")).status_code == 200
    harness.drain()
    row = _outbox(harness, row_id)
    assert row.delivery_status == "failed"
    assert row.delivery_error_code == 131047
    assert row.delivery_error_title == "Re-engagement message"
    assert row.state == "window_closed"
    assert harness.whatsapp.outbox == []


# ------------------------------------------------------------------ senders


def test_username_only_sender_joins_with_a_code(harness: Harness) -> None:
    org = harness.org()
    with harness.services.db.write() as session:
        session.add(JoinCode(org_id=org.id, code_hash=sha256_hex("483920"), name="Moussa Diallo",
                             role="manager", expires_at=harness.clock.now().replace(year=2027)))
    assert harness.post(load_payload("text-username-only.json")).status_code == 200
    harness.drain()
    bsuid = "SN.55512208655302741000"
    assert harness.whatsapp.texts_to(bsuid) == [
        "Bienvenue Moussa Diallo ! Votre compte WhatsApp est lié. Tapez *aide* pour commencer."]
    with harness.services.db.session() as session:
        user = session.scalars(select(User).where(User.wa_user_id == bsuid)).one()
        assert user.phone is None and user.username == "moussa.diallo" and user.org_id == org.id
    # From now on the username-only user is recognised by the business-scoped id alone.
    harness.post(text_message("moi", phone=None, user_id=bsuid, name="Moussa"))
    harness.drain()
    assert "Nom : Moussa Diallo" in harness.whatsapp.texts_to(bsuid)[-1]


def test_a_used_or_unknown_code_is_refused(harness: Harness) -> None:
    harness.post(load_payload("text-username-only.json"))
    harness.drain()
    assert harness.whatsapp.texts_to("SN.55512208655302741000") == [
        "Ce code n'est pas valable (inconnu, déjà utilisé ou expiré). Demandez-en un nouveau à votre administrateur."]


def test_payload_without_user_id_still_identifies_by_phone(harness: Harness) -> None:
    harness.add_user("+33612345678", "Jean Dupont", admin=False)
    harness.post(load_payload("text-without-user-id.json"))
    harness.drain()
    assert "What I can do" in harness.whatsapp.texts_to("33612345678")[0]


def test_user_id_is_learned_when_a_known_phone_writes(harness: Harness) -> None:
    user = harness.add_user(AWA_PHONE)
    harness.post(load_payload("text.json"))
    harness.drain()
    with harness.services.db.session() as session:
        assert session.get(User, user.id).wa_user_id == AWA_BSUID  # type: ignore[union-attr]


def test_unknown_sender_gets_one_polite_refusal_per_day(harness: Harness) -> None:
    harness.add_user(AWA_PHONE, "Awa Kouassi")
    stranger = "2250700000099"
    for index in range(3):
        harness.post(text_message(f"bonjour {index}", phone=stranger, name="Inconnu"))
    harness.drain()
    replies = harness.whatsapp.texts_to(stranger)
    assert len(replies) == 1
    assert "Awa" not in replies[0] and "Test Org" not in replies[0]
    harness.clock.advance(hours=25)
    harness.post(text_message("encore", phone=stranger))
    harness.drain()
    assert len(harness.whatsapp.texts_to(stranger)) == 2


# ------------------------------------------------------------------ durability


def test_stored_but_unprocessed_rows_are_processed_after_a_restart(make_harness: Any) -> None:
    first = make_harness(background=False)  # a process that stores, then dies before its worker runs
    first.add_user(AWA_PHONE, wa_user_id=AWA_BSUID)
    assert first.post(load_payload("batched-three-messages.json")).status_code == 200
    assert first.whatsapp.outbox == []
    first.client.__exit__(None, None, None)
    second = make_harness()
    second.drain()
    assert len(second.whatsapp.texts_to(AWA_DIGITS)) == 2


def test_message_texts_are_not_kept_after_processing(harness: Harness) -> None:
    harness.add_user(AWA_PHONE, wa_user_id=AWA_BSUID)
    harness.post(text_message("langue en", phone=AWA_DIGITS))
    harness.drain()
    with harness.services.db.session() as session:
        payloads = [json.dumps(e.payload) for e in session.scalars(select(InboundEvent))]
    assert payloads and all("langue" not in p for p in payloads)
