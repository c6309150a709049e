"""Outlook through MSAL and Microsoft Graph against the local fake Microsoft (HTTPS on loopback)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from handlers.mailboxes.service import MailboxService, NewMail
from integrations.mail import (
    AmbiguousSendError,
    MailAttachment,
    MailAuthError,
    MailRateLimited,
    MailSenderDirectory,
    OutgoingEmail,
    PermanentSendError,
)
from integrations.microsoft import GraphApi, GraphMail, MicrosoftConfig, MicrosoftOAuth
from storage.accounts import ensure_default_org
from storage.mail import CREDENTIALS_PURPOSE, Mailbox, MailMessage
from tests.conftest import Harness
from tests.fake_graph import FakeGraph, form_fields
from tests.mail_fixtures import (
    ProcessStopped,
    connectors_for,
    fail_some_then_resume,
    make_email,
    stop_during_second_page_then_resume,
)
from tests.tls import LoopbackCert

pytestmark = pytest.mark.postgres


def config_for(fake: FakeGraph, cert: LoopbackCert) -> MicrosoftConfig:
    return MicrosoftConfig(fake.client_id, fake.client_secret, "common", fake.authority_url, fake.graph_url,
                           tls_verify=str(cert.ca))


def consent(fake: FakeGraph, cert: LoopbackCert, address: str) -> dict[str, Any]:
    """Credentials as the link flow would store them (MSAL cache after a real code exchange)."""
    oauth = MicrosoftOAuth(config_for(fake, cert))
    flow = oauth.start("http://testserver/link/oauth/microsoft", f"state-{time.monotonic_ns()}")
    fake.consent_email = address
    page = httpx.get(flow["auth_uri"], verify=cert.client_context())
    _, fields = form_fields(page.text)
    found, credentials = oauth.finish(flow, fields)
    assert found == address
    return credentials


@pytest.fixture
def h(make_harness: Any, fake_graph: FakeGraph, test_cert: LoopbackCert, clock: Any) -> Harness:
    harness: Harness = make_harness(build={"mail_connectors": connectors_for(graph=fake_graph, cert=test_cert, clock=clock)})
    return harness


def add_outlook(h: Harness, fake: FakeGraph, cert: LoopbackCert, address: str) -> int:
    import json

    credentials = consent(fake, cert, address)
    with h.services.db.write() as session:
        org = ensure_default_org(session, "Test Org")
        box = Mailbox(org_id=org.id, provider="outlook", name=address, address=address, folders=["INBOX"], cursor={},
                      credentials=h.services.require_secrets().seal(json.dumps(credentials), CREDENTIALS_PURPOSE),
                      is_default=True, status="active", enabled=True, failures=0, initial_sync_done=False,
                      sync_interval_minutes=5)
        session.add(box)
        session.flush()
        return int(box.id)


def unique(prefix: str) -> str:
    return f"{prefix}-{time.monotonic_ns()}@outlook.test"


def rows(h: Harness, box_id: int) -> dict[str, MailMessage]:
    with h.services.db.session() as session:
        return {m.provider_id: m for m in session.scalars(select(MailMessage).where(MailMessage.mailbox_id == box_id))}


def test_delta_pages_removals_updates_and_an_expired_delta_link_resync(
    h: Harness, fake_graph: FakeGraph, test_cert: LoopbackCert
) -> None:
    address = unique("ventes")
    fake_graph.deliver(address, make_email(0, to=address, subject="Trop ancien"),
                       received=datetime.now(UTC) - timedelta(days=30))
    ids = [fake_graph.deliver(address, make_email(i, to=address), received=datetime.now(UTC) - timedelta(hours=2))
           for i in range(1, 121)]
    fake_graph.deliver(address, make_email(500, to=address, subject="Envoyé"), folder="sentitems")
    box_id = add_outlook(h, fake_graph, test_cert, address)
    service = h.services.get(MailboxService)
    events: list[NewMail] = []
    service.subscribe(events.append)

    first = service.sync(box_id)
    assert (first.status, first.new) == ("success", 120)
    assert len(fake_graph.requests_to(r"/messages/delta$")) >= 3  # 50 per page: several pages
    with h.services.db.session() as session:
        box = session.get(Mailbox, box_id)
        assert box is not None and "$deltatoken=" in box.cursor["delta_link"]
    assert "Trop ancien" not in {m.subject for m in rows(h, box_id).values()}

    fake_graph.remove(address, ids[0])
    fake_graph.mark_read(address, ids[1])
    fake_graph.deliver(address, make_email(200, to=address, subject="Nouvelle demande"))
    second = service.sync(box_id)
    assert second.new == 1 and events[-1].message.subject == "Nouvelle demande" and not events[-1].initial
    after = rows(h, box_id)
    assert after[ids[0]].removed_at is not None
    assert after[ids[1]].flags == ["\\Seen"]

    fake_graph.expire_delta_tokens()
    fake_graph.deliver(address, make_email(201, to=address, subject="Après 410"))
    third = service.sync(box_id)
    assert (third.status, third.new) == ("success", 1)
    assert events[-1].message.subject == "Après 410"
    assert len(rows(h, box_id)) == 122


def test_graph_401_after_refresh_marks_needs_relink(h: Harness, fake_graph: FakeGraph, test_cert: LoopbackCert) -> None:
    address = unique("revoked")
    box_id = add_outlook(h, fake_graph, test_cert, address)
    fake_graph.api_rejects_tokens = True
    outcome = h.services.get(MailboxService).sync(box_id)
    assert (outcome.status, outcome.error_kind) == ("needs_relink", "auth")


def test_invalid_grant_on_refresh_marks_needs_relink(h: Harness, fake_graph: FakeGraph, test_cert: LoopbackCert) -> None:
    address = unique("expired")
    box_id = add_outlook(h, fake_graph, test_cert, address)
    fake_graph.revoke(address)  # access token rejected and the refresh token gone
    outcome = h.services.get(MailboxService).sync(box_id)
    assert outcome.status == "needs_relink"


def test_throttled_graph_backs_off_for_retry_after(h: Harness, fake_graph: FakeGraph, test_cert: LoopbackCert) -> None:
    address = unique("throttled")
    box_id = add_outlook(h, fake_graph, test_cert, address)
    fake_graph.fail("GET", r"/messages/delta$", 429, {"error": {"code": "TooManyRequests", "message": "slow down"}},
                    headers={"Retry-After": "120"})
    outcome = h.services.get(MailboxService).sync(box_id)
    assert (outcome.status, outcome.error_kind) == ("error", "rate")
    with h.services.db.session() as session:
        box = session.get(Mailbox, box_id)
        assert box is not None and box.next_sync_at is not None
        assert (box.next_sync_at - h.clock.now()).total_seconds() >= 120


# ---------------------------------------------------------------- sending


def graph_sender(fake: FakeGraph, cert: LoopbackCert, address: str) -> GraphMail:
    config = config_for(fake, cert)
    credentials = consent(fake, cert, address)
    return GraphMail(address, lambda: GraphApi(config, credentials), config.graph_url)


def test_send_mime_and_large_attachments_through_an_upload_session(fake_graph: FakeGraph, test_cert: LoopbackCert) -> None:
    address = unique("sender")
    sender = graph_sender(fake_graph, test_cert, address)
    small = OutgoingEmail(to=("client@exemple.test",), subject="Devis", text="Bonjour")
    sender.send(small)
    fake_graph.requests.clear()
    big = OutgoingEmail(to=("client@exemple.test",), cc=("compta@exemple.test",), subject="Factures", text="Ci-joint",
                        attachments=(MailAttachment("grand.pdf", "application/pdf", b"p" * 4_000_000),
                                     MailAttachment("petit.txt", "text/plain", b"note")))
    receipt = sender.send(big)
    assert receipt.provider_id
    session_calls = fake_graph.requests_to(r"/attachments/createUploadSession$", "POST")
    chunks = fake_graph.requests_to(r"^/upload/", "PUT")
    assert len(session_calls) == 1 and len(chunks) == 2
    assert all("authorization" not in r.headers for r in chunks)
    assert fake_graph.requests_to(r"/send$", "POST")
    sent = {m.internet_message_id: m for m in fake_graph.account(address).sent}
    assert set(sent) == {small.message_id, big.message_id}
    assert b"grand.pdf" in sent[big.message_id].raw
    assert sender.find_sent(big.message_id) and sender.find_sent(small.message_id)
    assert not sender.find_sent("<quote'd@courrier.local>")


def test_graph_send_errors_become_domain_errors(fake_graph: FakeGraph, test_cert: LoopbackCert) -> None:
    address = unique("errors")
    sender = graph_sender(fake_graph, test_cert, address)
    mail = OutgoingEmail(to=("client@exemple.test",), subject="x", text="x")
    fake_graph.fail("POST", r"/me/sendMail$", 400, {"error": {"code": "ErrorInvalidRecipients", "message": "bad"}})
    with pytest.raises(PermanentSendError):
        sender.send(mail)
    fake_graph.fail("POST", r"/me/sendMail$", 429, {"error": {"code": "TooManyRequests", "message": "slow"}},
                    headers={"Retry-After": "7"})
    with pytest.raises(MailRateLimited) as limited:
        sender.send(mail)
    assert limited.value.retry_after == 7
    fake_graph.requests.clear()
    fake_graph.fail("POST", r"/me/sendMail$", disconnect=True, after=True)
    with pytest.raises(AmbiguousSendError):
        sender.send(mail)
    assert len(fake_graph.requests_to(r"/me/sendMail$", "POST")) == 1
    assert sender.find_sent(mail.message_id)
    fake_graph.revoke(address)
    with pytest.raises(MailAuthError):
        sender.send(mail)


def test_directory_gives_the_outlook_sender(h: Harness, fake_graph: FakeGraph, test_cert: LoopbackCert) -> None:
    address = unique("default")
    add_outlook(h, fake_graph, test_cert, address)
    sender = h.services.get(MailSenderDirectory).sender_for(h.org().id)
    mail = OutgoingEmail(to=("client@exemple.test",), subject="Bonjour", text="x")
    sender.send(mail)
    assert sender.find_sent(mail.message_id)


def _numbered_mailbox(h: Harness, fake_graph: FakeGraph, test_cert: LoopbackCert, name: str, count: int) -> tuple[int, list[str]]:
    """A linked mailbox holding ``count`` messages whose subjects are "Message 0", "Message 1", …"""
    address = unique(name)
    subjects = [f"Message {i}" for i in range(count)]
    for i, subject in enumerate(subjects):
        fake_graph.deliver(address, make_email(i, to=address, subject=subject),
                           received=datetime.now(UTC) - timedelta(hours=2))
    return add_outlook(h, fake_graph, test_cert, address), subjects


def test_a_sync_stopped_before_its_subscribers_had_a_page_delivers_that_page_next_time(
    h: Harness, fake_graph: FakeGraph, test_cert: LoopbackCert
) -> None:
    box_id, subjects = _numbered_mailbox(h, fake_graph, test_cert, "stopped", 120)
    first, resumed = stop_during_second_page_then_resume(h.services.get(MailboxService), box_id)
    assert 0 < len(first) < 120
    assert sorted(resumed) == sorted(set(subjects) - set(first))
    after = rows(h, box_id)
    assert len(after) == 120 and all(m.delivered_at is not None for m in after.values())


def test_messages_a_subscriber_failed_on_are_delivered_again_by_the_next_sync(
    h: Harness, fake_graph: FakeGraph, test_cert: LoopbackCert
) -> None:
    box_id, subjects = _numbered_mailbox(h, fake_graph, test_cert, "failed", 120)
    failing = {"Message 3", "Message 4"}
    first, resumed = fail_some_then_resume(h.services.get(MailboxService), box_id, failing)
    assert failing <= set(first) and len(first) < 120
    assert sorted(resumed) == sorted((set(subjects) - set(first)) | failing)


def test_a_message_stored_but_not_delivered_before_a_410_is_delivered_by_the_resync(
    h: Harness, fake_graph: FakeGraph, test_cert: LoopbackCert
) -> None:
    address = unique("resync")
    for i in range(2):
        fake_graph.deliver(address, make_email(i, to=address), received=datetime.now(UTC) - timedelta(hours=2))
    box_id = add_outlook(h, fake_graph, test_cert, address)
    service = h.services.get(MailboxService)
    assert service.sync(box_id).new == 2
    fake_graph.deliver(address, make_email(5, to=address, subject="Pas encore remis"))

    def stop(events: Any) -> None:
        raise ProcessStopped

    unsubscribe = service.subscribe(stop, batch=True)
    with pytest.raises(ProcessStopped):
        service.sync(box_id)
    unsubscribe()
    fake_graph.expire_delta_tokens()  # a long stop: the delta link is gone (410), a resync follows
    fake_graph.deliver(address, make_email(6, to=address, subject="Nouveau"))
    events: list[NewMail] = []
    service.subscribe(events.append)
    assert service.sync(box_id).status == "success"
    assert sorted(e.message.subject for e in events) == ["Nouveau", "Pas encore remis"]
    after = rows(h, box_id)
    assert len(after) == 4 and all(m.delivered_at is not None for m in after.values())
