"""Secrets at rest: AES-256-GCM with the key id stored beside each ciphertext.

Format of a sealed value: ``enc1:<key id>:<base64(nonce || ciphertext || tag)>``. The first key
encrypts and every key decrypts, so a new key can be put first, ``courrier secrets rotate`` run,
and the old key removed later, without downtime.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Column, select, update
from sqlalchemy.orm import Session

PREFIX = "enc1"


class SecretBoxError(Exception):
    """A value cannot be decrypted (unknown key id, tampered data, wrong purpose)."""


def key_id(key: bytes) -> str:
    """A short, stable, non-secret identifier for a key."""
    return hashlib.sha256(b"courrier-key-id:" + key).hexdigest()[:12]


def generate_key() -> str:
    """A fresh 256-bit key as base64 text, as COURRIER_SECRET_KEYS expects."""
    return base64.b64encode(os.urandom(32)).decode()


class SecretBox:
    """Encrypts with the first key, decrypts with any."""

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("SecretBox needs at least one key")
        self._keys = {key_id(k): AESGCM(k) for k in keys}
        self.current_id = key_id(keys[0])

    def seal(self, plaintext: str | bytes, purpose: str) -> str:
        """Encrypt; ``purpose`` (e.g. "mailboxes.credentials") is bound as associated data."""
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        nonce = os.urandom(12)
        ciphertext = self._keys[self.current_id].encrypt(nonce, data, purpose.encode())
        return f"{PREFIX}:{self.current_id}:{base64.b64encode(nonce + ciphertext).decode()}"

    def open_bytes(self, sealed: str, purpose: str) -> bytes:
        """Decrypt a sealed value back to bytes."""
        try:
            prefix, kid, blob = sealed.split(":", 2)
        except ValueError:
            raise SecretBoxError("not a sealed value") from None
        if prefix != PREFIX:
            raise SecretBoxError("not a sealed value")
        aead = self._keys.get(kid)
        if aead is None:
            raise SecretBoxError(f"no key with id {kid} is configured (COURRIER_SECRET_KEYS)")
        raw = base64.b64decode(blob)
        try:
            return aead.decrypt(raw[:12], raw[12:], purpose.encode())
        except InvalidTag:
            raise SecretBoxError("the value was tampered with or sealed for another purpose") from None

    def open(self, sealed: str, purpose: str) -> str:
        """Decrypt a sealed value back to text."""
        return self.open_bytes(sealed, purpose).decode()

    def needs_rotation(self, sealed: str) -> bool:
        """True when the value is not sealed under the current key."""
        parts = sealed.split(":", 2)
        return len(parts) != 3 or parts[1] != self.current_id


def encrypted_column_info(purpose: str) -> dict[str, str]:
    """Column ``info`` marking a Text column as holding values sealed for ``purpose``."""
    return {"sealed_purpose": purpose}


def rotate_all(session: Session, box: SecretBox, tables: Sequence[object]) -> int:
    """Re-encrypt under the current key every sealed column of the given tables; returns the count."""
    changed = 0
    for table in tables:
        columns: list[Column[str]] = [
            c for c in table.columns if c.info.get("sealed_purpose")  # type: ignore[attr-defined]
        ]
        if not columns:
            continue
        pk = next(iter(table.primary_key.columns))  # type: ignore[attr-defined]
        for column in columns:
            purpose = column.info["sealed_purpose"]
            rows = session.execute(select(pk, column).where(column.is_not(None))).all()
            for row_id, sealed in rows:
                if not box.needs_rotation(sealed):
                    continue
                fresh = box.seal(box.open_bytes(sealed, purpose), purpose)
                session.execute(update(table).where(pk == row_id).values({column.name: fresh}))  # type: ignore[arg-type]
                changed += 1
    return changed
