"""The sandbox sender and channel: transcript, documents, the simulated 24-hour window."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from bot.sandbox import SandboxChannel
from integrations.whatsapp import Document, Recipient, Template, Text, WindowClosed
from integrations.whatsapp_sandbox import SandboxWhatsApp
from storage.db import Database
from tests.conftest import Harness

pytestmark = pytest.mark.postgres


@pytest.fixture
def sandbox(make_harness: Any, clock: Any, db_url: str) -> Iterator[Harness]:
    db = Database(db_url)
    h: Harness = make_harness(whatsapp=SandboxWhatsApp(db, clock.now), sandbox=True)
    yield h
    db.dispose()


def test_page_and_terminal_share_the_webhook_pipeline(sandbox: Harness) -> None:
    user = sandbox.add_user("+2250707000001", "Awa Kouassi")
    channel = SandboxChannel(sandbox.services)
    channel.send_text(user, "aide")
    sandbox.drain()
    transcript = channel.transcript(user)
    assert [m["direction"] for m in transcript] == ["in", "out"]
    assert "Ce que je sais faire" in transcript[1]["body"]
    # The same message id twice is deduplicated like a webhook retry would be.
    r = sandbox.client.post("/sandbox/api/send", json={"user_id": user.id, "text": "moi"})
    assert r.status_code == 200
    sandbox.drain()
    messages = sandbox.client.get("/sandbox/api/messages", params={"user_id": user.id}).json()
    assert messages[-1]["body"].startswith("Nom : Awa Kouassi")
    assert sandbox.client.get("/sandbox").status_code == 200
    assert sandbox.client.post("/sandbox/api/send", json={"user_id": 999, "text": "x"}).status_code == 404


def test_window_is_simulated_from_the_users_last_message(sandbox: Harness, clock: Any) -> None:
    user = sandbox.add_user("+2250707000001", "Awa Kouassi")
    sender = sandbox.whatsapp
    to = Recipient(phone=user.phone)
    with pytest.raises(WindowClosed):  # never wrote: only templates may be sent
        asyncio.run(sender.send(to, Text("digest")))
    assert asyncio.run(sender.send(to, Template("courrier_digest", "fr", ("3 critiques",)))).startswith("wamid.")
    SandboxChannel(sandbox.services).send_text(user, "aide")
    sandbox.drain()
    assert asyncio.run(sender.send(to, Text("within the window"))).startswith("wamid.")
    clock.advance(hours=24, minutes=1)
    with pytest.raises(WindowClosed) as caught:
        asyncio.run(sender.send(to, Text("too late")))
    assert caught.value.code == 131047


def test_documents_are_stored_as_media(sandbox: Harness) -> None:
    user = sandbox.add_user("+2250707000001", "Awa Kouassi")
    SandboxChannel(sandbox.services).send_text(user, "aide")
    sandbox.drain()
    asyncio.run(sandbox.whatsapp.send(Recipient(phone=user.phone), Document("devis.pdf", b"%PDF-1.7 x")))
    last = SandboxChannel(sandbox.services).transcript(user)[-1]
    assert last["kind"] == "document" and last["filename"] == "devis.pdf"
    r = sandbox.client.get(f"/sandbox/media/{last['media_id']}")
    assert r.status_code == 200 and r.content == b"%PDF-1.7 x"
    assert r.headers["content-type"] == "application/pdf"
