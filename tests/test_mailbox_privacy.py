"""Awkward real-world MIME through a real sync, bodies never stored, credentials sealed at rest."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from handlers.mailboxes.service import MailboxService, NewMail
from storage.db import Database
from storage.mail import Mailbox, MailMessage
from storage.metadata import metadata
from storage.secretbox import SecretBox, rotate_all
from tests.conftest import Harness
from tests.dovecot import Dovecot
from tests.mail_fixtures import add_imap_mailbox, connectors_for

pytestmark = pytest.mark.postgres

CORPUS = Path(__file__).parent / "data" / "mail"
SECRET_PHRASES = ("phrase-secrete", "cGhyYXNlLXNlY3JldGU", "devis ci-joint", "42 cartons", "12 chairs")


def dump_database(db: Database, *, skip: tuple[str, ...] = ()) -> str:
    """Every row of every table as text (what a backup or a leaked dump would show)."""
    chunks: list[str] = []
    with db.engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in skip:
                continue
            for row in conn.execute(text(f'SELECT * FROM "{table.name}"')):
                chunks.append(repr(tuple(row)))
    return "\n".join(chunks)


@pytest.fixture
def h(make_harness: Any, dovecot: Dovecot, clock: Any) -> Harness:
    harness: Harness = make_harness(build={"mail_connectors": connectors_for(dovecot=dovecot, clock=clock)})
    return harness


def test_awkward_messages_all_sync_and_the_malformed_one_carries_a_warning(h: Harness, dovecot: Dovecot) -> None:
    account = dovecot.new_account()
    raws = [path.read_bytes() for path in sorted(CORPUS.glob("*.eml"))]
    account.append(raws)
    box_id = add_imap_mailbox(h.services, account)
    events: list[NewMail] = []
    h.services.get(MailboxService).subscribe(events.append)

    outcome = h.services.get(MailboxService).sync(box_id)

    assert (outcome.status, outcome.new) == ("success", len(raws))
    with h.services.db.session() as session:
        stored = {m.message_id: m for m in session.scalars(select(MailMessage))}
    latin = stored["<latin1-qp@exemple.test>"]
    assert latin.subject == "Réservation de la salle à Noël"
    assert latin.from_name == "François Müller"
    utf8 = stored["<utf8-b64@exemple.test>"]
    assert utf8.subject == "Facture n° 2026-114 à régler 📄"
    assert utf8.to_addrs == ["contact@atelier.test", "maimouna@atelier.test"] and utf8.cc_addrs == ["compta@atelier.test"]
    assert stored["<alt@exemple.test>"].thread_id == "<root@atelier.test>"
    attachments = stored["<attach@fournisseur.test>"].attachments
    assert {"filename": "devis rénovation.pdf", "content_type": "application/pdf"}.items() <= attachments[0].items()
    assert stored["<malformed@exemple.test>"].parse_warnings
    assert all(not m.parse_warnings for mid, m in stored.items() if mid != "<malformed@exemple.test>"
               and mid != "<fwd@exemple.test>")
    texts = {e.message.message_id: e.parsed.text for e in events}
    assert "réserver la salle pour Noël" in texts["<latin1-qp@exemple.test>"]
    assert "250 € est à régler" in texts["<utf8-b64@exemple.test>"]
    assert "remise de 20" in texts["<html-only@exemple.test>"] and "alert(1)" not in texts["<html-only@exemple.test>"]
    assert "42 cartons" in texts["<fwd@exemple.test>"]


def test_the_database_holds_no_body_text_and_no_credential_in_clear(h: Harness, dovecot: Dovecot) -> None:
    account = dovecot.new_account(password="Tr3s-Secret-Imap-Password")
    account.append([path.read_bytes() for path in sorted(CORPUS.glob("*.eml"))])
    box_id = add_imap_mailbox(h.services, account)
    assert h.services.get(MailboxService).sync(box_id).status == "success"

    dump = dump_database(h.services.db)
    assert "Réservation de la salle à Noël" in dump  # the dump does show metadata
    for phrase in SECRET_PHRASES:
        assert phrase not in dump
    assert "Tr3s-Secret-Imap-Password" not in dump
    assert base64.b64encode(b"Tr3s-Secret-Imap-Password").decode() not in dump
    with h.services.db.session() as session:
        sealed = session.scalar(select(Mailbox.credentials).where(Mailbox.id == box_id))
    assert sealed is not None and sealed.startswith("enc1:")
    assert json.loads(h.services.require_secrets().open(sealed, "mailboxes.credentials")) == {
        "password": "Tr3s-Secret-Imap-Password"}


def test_secret_rotation_re_encrypts_mailbox_credentials(h: Harness, dovecot: Dovecot) -> None:
    account = dovecot.new_account()
    box_id = add_imap_mailbox(h.services, account)
    old_box = h.services.require_secrets()
    new_key = b"n" * 32
    rotated = SecretBox([new_key, b"k" * 32])
    with h.services.db.write() as session:
        count = rotate_all(session, rotated, list(metadata.sorted_tables))
    assert count >= 1
    with h.services.db.session() as session:
        sealed = session.scalar(select(Mailbox.credentials).where(Mailbox.id == box_id))
    assert sealed is not None and old_box.needs_rotation(sealed)
    assert json.loads(SecretBox([new_key]).open(sealed, "mailboxes.credentials"))["password"] == account.password
