"""No personal data in INFO logs: a full conversation leaves no phone, name or text behind."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from storage.accounts import sha256_hex
from storage.models import JoinCode
from tests.conftest import Harness, load_payload, text_message

pytestmark = pytest.mark.postgres


def test_info_logs_of_a_conversation_contain_no_personal_data(harness: Harness,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    harness.add_user("+2250707000001", "Awa Kouassi", wa_user_id="CI.13491208655302741918")
    harness.add_user("+33612345678", "Jean Dupont", admin=False)
    org = harness.org()
    with harness.services.db.write() as session:
        session.add(JoinCode(org_id=org.id, code_hash=sha256_hex("483920"), name="Moussa Diallo",
                             role="manager", expires_at=harness.clock.now().replace(year=2027)))
    bodies: list[dict[str, Any]] = [
        load_payload("batched-three-messages.json"),
        load_payload("text.json"),
        load_payload("text-username-only.json"),
        text_message("moi", phone="2250707000001"),
        text_message("Bonjour, je suis Fatou Sow de la société Cacao Plus", phone="2250799999999",
                     name="Fatou Sow"),
        load_payload("status-failed-131047-no-contacts.json"),
    ]
    for body in bodies:
        assert harness.post(body).status_code == 200
    harness.drain()
    assert len(harness.whatsapp.outbox) >= 6

    logged = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records if r.levelno >= logging.INFO)
    assert logged, "the conversation should have produced INFO logs to inspect"
    forbidden = [
        "2250707000001", "+2250707000001", "33612345678", "2250799999999", "CI.13491208655302741918",
        "SN.55512208655302741000", "moussa.diallo",
        "Awa", "Kouassi", "Jean Dupont", "Moussa", "Fatou", "Sow",
        "résumé du jour", "langue en", "Cacao Plus", "rejoindre", "483920",
    ]
    leaks = [word for word in forbidden if word in logged]
    assert leaks == [], f"personal data in INFO logs: {leaks}"
