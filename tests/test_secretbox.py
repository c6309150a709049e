"""Secrets at rest: AES-256-GCM with key ids, purpose binding, and rotation."""

from __future__ import annotations

import base64
import os

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, insert, select
from sqlalchemy.orm import Session

from storage.secretbox import (
    SecretBox,
    SecretBoxError,
    encrypted_column_info,
    generate_key,
    key_id,
    rotate_all,
)


def key() -> bytes:
    return os.urandom(32)


def test_round_trip_and_key_id_is_stored_beside_the_ciphertext() -> None:
    k = key()
    box = SecretBox([k])
    sealed = box.seal("refresh-token-123", "mailboxes.credentials")
    assert sealed.startswith(f"enc1:{key_id(k)}:")
    assert "refresh-token-123" not in sealed
    assert box.open(sealed, "mailboxes.credentials") == "refresh-token-123"
    assert box.seal("x", "p") != box.seal("x", "p")  # fresh nonce each time


def test_tampering_and_wrong_purpose_are_refused() -> None:
    box = SecretBox([key()])
    sealed = box.seal("secret", "a")
    with pytest.raises(SecretBoxError):
        box.open(sealed, "b")
    raw = bytearray(base64.b64decode(sealed.split(":")[2]))
    raw[-1] ^= 1
    forged = ":".join(sealed.split(":")[:2] + [base64.b64encode(bytes(raw)).decode()])
    with pytest.raises(SecretBoxError):
        box.open(forged, "a")
    with pytest.raises(SecretBoxError):
        box.open("plain text", "a")


def test_old_keys_decrypt_new_key_encrypts() -> None:
    old, new = key(), key()
    sealed_old = SecretBox([old]).seal("v", "p")
    box = SecretBox([new, old])
    assert box.open(sealed_old, "p") == "v"
    assert box.needs_rotation(sealed_old)
    assert not box.needs_rotation(box.seal("v", "p"))
    with pytest.raises(SecretBoxError, match="no key"):
        SecretBox([new]).open(sealed_old, "p")


def test_rotate_all_reencrypts_every_marked_column() -> None:
    metadata = MetaData()
    table = Table(
        "things", metadata, Column("id", Integer, primary_key=True),
        Column("secret", Text, info=encrypted_column_info("things.secret")), Column("plain", Text),
    )
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    old, new = key(), key()
    old_box = SecretBox([old])
    with Session(engine) as session, session.begin():
        for i in range(3):
            session.execute(insert(table).values(id=i, secret=old_box.seal(f"s{i}", "things.secret"), plain="p"))
        session.execute(insert(table).values(id=9, secret=None, plain="p"))
    box = SecretBox([new, old])
    with Session(engine) as session, session.begin():
        assert rotate_all(session, box, [table]) == 3
    new_only = SecretBox([new])
    with Session(engine) as session:
        values = [new_only.open(v, "things.secret") for (v,) in session.execute(
            select(table.c.secret).where(table.c.secret.is_not(None)).order_by(table.c.id))]
    assert values == ["s0", "s1", "s2"]
    with Session(engine) as session, session.begin():
        assert rotate_all(session, box, [table]) == 0


def test_generated_keys_are_256_bits() -> None:
    assert len(base64.b64decode(generate_key())) == 32
