"""Gmail through google-api-python-client against the local fake Google (real JSON shapes)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from sqlalchemy import select

from handlers.mailboxes.service import MailboxService, NewMail
from integrations.google import GmailApi, GmailMail, GoogleConfig
from integrations.mail import (
    AmbiguousSendError,
    MailAttachment,
    MailAuthError,
    MailRateLimited,
    MailSenderDirectory,
    OutgoingEmail,
    PermanentSendError,
    TransientMailError,
)
from storage.mail import CREDENTIALS_PURPOSE, Mailbox, MailMessage
from tests.conftest import Harness
from tests.fake_gmail import FakeGmail
from tests.mail_fixtures import (
    add_gmail,
    connectors_for,
    fail_some_then_resume,
    make_email,
    stop_during_second_page_then_resume,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def h(make_harness: Any, fake_gmail: FakeGmail, clock: Any) -> Harness:
    harness: Harness = make_harness(build={"mail_connectors": connectors_for(gmail=fake_gmail, clock=clock)})
    return harness


def unique(prefix: str) -> str:
    return f"{prefix}-{time.monotonic_ns()}@gmail.test"


def stored(h: Harness, box_id: int) -> list[MailMessage]:
    with h.services.db.session() as session:
        return list(session.scalars(select(MailMessage).where(MailMessage.mailbox_id == box_id)))


def test_first_sync_takes_the_recent_window_then_history_and_a_stale_history_resyncs_without_duplicates(
    h: Harness, fake_gmail: FakeGmail
) -> None:
    address = unique("contact")
    old = time.time() - 30 * 86400
    fake_gmail.deliver(address, make_email(0, to=address, subject="Trop ancien"), internal_date=old)
    for i in range(1, 61):
        fake_gmail.deliver(address, make_email(i, to=address), internal_date=time.time() - 3600)
    fake_gmail.deliver(address, make_email(99, to=address, subject="Brouillon"), labels=("DRAFT",))
    box_id = add_gmail(h, fake_gmail, address)
    service = h.services.get(MailboxService)
    events: list[NewMail] = []
    service.subscribe(events.append)
    fake_gmail.requests.clear()

    first = service.sync(box_id)

    assert (first.status, first.new) == ("success", 60)
    subjects = {m.subject for m in stored(h, box_id)}
    assert "Trop ancien" not in subjects and "Brouillon" not in subjects
    # Bodies were fetched in batches on the configured host, never on Google's own batch URL.
    assert len(fake_gmail.requests_to(r"^/batch/gmail/v1$", "POST")) == 2
    assert not fake_gmail.requests_to(r"/gmail/v1/users/me/messages/[^/]+$", "GET")
    with h.services.db.session() as session:
        box = session.get(Mailbox, box_id)
        assert box is not None and box.cursor["history_id"]

    fake_gmail.deliver(address, make_email(100, to=address, subject="Nouveau devis"))
    second = service.sync(box_id)
    assert second.new == 1 and events[-1].message.subject == "Nouveau devis" and not events[-1].initial

    fake_gmail.expire_history(address)
    fake_gmail.deliver(address, make_email(101, to=address, subject="Après expiration"))
    third = service.sync(box_id)
    assert (third.status, third.new) == ("success", 1)
    assert events[-1].message.subject == "Après expiration"
    assert len(stored(h, box_id)) == 62
    assert len({m.provider_id for m in stored(h, box_id)}) == 62


def test_revoked_grant_marks_needs_relink_once(h: Harness, fake_gmail: FakeGmail) -> None:
    admin = h.add_user(admin=True)
    address = unique("revoked")
    box_id = add_gmail(h, fake_gmail, address)
    fake_gmail.revoke(address)
    outcome = h.services.get(MailboxService).sync(box_id)
    assert (outcome.status, outcome.error_kind) == ("needs_relink", "auth")
    h.drain()
    texts = h.whatsapp.texts_to((admin.phone or "").lstrip("+"))
    assert len(texts) == 1 and address in texts[0]


def test_rate_limit_waits_at_least_what_google_asked(h: Harness, fake_gmail: FakeGmail) -> None:
    address = unique("busy")
    fake_gmail.deliver(address, make_email(1, to=address))
    box_id = add_gmail(h, fake_gmail, address)
    fake_gmail.fail("GET", r"/profile$", 429, {"error": {"code": 429, "message": "User-rate limit exceeded.",
                    "errors": [{"reason": "rateLimitExceeded"}], "status": "RESOURCE_EXHAUSTED"}},
                    headers={"Retry-After": "600"})
    outcome = h.services.get(MailboxService).sync(box_id)
    assert (outcome.status, outcome.error_kind) == ("error", "rate")
    with h.services.db.session() as session:
        box = session.get(Mailbox, box_id)
        assert box is not None and box.next_sync_at is not None
        assert (box.next_sync_at - h.clock.now()).total_seconds() >= 600


def test_refreshed_access_token_is_stored_sealed(h: Harness, fake_gmail: FakeGmail) -> None:
    address = unique("tokens")
    box_id = add_gmail(h, fake_gmail, address)
    h.services.get(MailboxService).sync(box_id)
    with h.services.db.session() as session:
        sealed = session.scalar(select(Mailbox.credentials).where(Mailbox.id == box_id))
    creds = json.loads(h.services.require_secrets().open(sealed or "", CREDENTIALS_PURPOSE))
    assert creds["token"] in fake_gmail.access_tokens and "ya29" not in (sealed or "")


# ---------------------------------------------------------------- sending


def gmail_sender(fake: FakeGmail, address: str) -> GmailMail:
    config = GoogleConfig(fake.client_id, fake.client_secret, fake.auth_url, fake.token_url, fake.api_url)
    refresh = fake.grant(address)
    return GmailMail(address, lambda: GmailApi(config, {"refresh_token": refresh}))


def test_send_raw_and_large_through_the_upload_endpoint_then_find_by_message_id(fake_gmail: FakeGmail) -> None:
    address = unique("sender")
    sender = gmail_sender(fake_gmail, address)
    small = OutgoingEmail(to=("client@exemple.test",), subject="Devis 12", text="Bonjour")
    receipt = sender.send(small)
    assert receipt.provider_id and receipt.message_id == small.message_id
    big = OutgoingEmail(to=("client@exemple.test",), subject="Factures", text="Ci-joint",
                        attachments=(MailAttachment("factures.zip", "application/zip", b"z" * 6_000_000),))
    fake_gmail.requests.clear()
    sender.send(big)
    uploads = fake_gmail.requests_to(r"^/upload/gmail/v1/users/me/messages/send$")
    assert [(r.method, r.arg("uploadType")) for r in uploads] == [("POST", "resumable"), ("PUT", "resumable")]
    account = fake_gmail.account(address)
    assert [m.message_id for m in account.sent] == [small.message_id, big.message_id]
    assert sender.find_sent(big.message_id) and sender.find_sent(small.message_id)
    assert not sender.find_sent("<not-sent@courrier.local>")


def test_send_errors_become_domain_errors_and_nothing_is_resent_on_its_own(fake_gmail: FakeGmail) -> None:
    address = unique("errors")
    sender = gmail_sender(fake_gmail, address)
    mail = OutgoingEmail(to=("client@exemple.test",), subject="x", text="x")
    sender.find_sent(mail.message_id)  # refresh the token once, so the counts below are sends only
    send_path = r"/gmail/v1/users/me/messages/send$"

    fake_gmail.fail("POST", send_path, 400, {"error": {"code": 400, "message": "Invalid To header",
                                                        "errors": [{"reason": "invalidArgument"}]}})
    with pytest.raises(PermanentSendError):
        sender.send(mail)
    fake_gmail.fail("POST", send_path, 429, headers={"Retry-After": "30"})
    with pytest.raises(MailRateLimited) as limited:
        sender.send(mail)
    assert limited.value.retry_after == 30
    fake_gmail.fail("POST", send_path, 503)
    with pytest.raises(TransientMailError):
        sender.send(mail)
    fake_gmail.fail("POST", send_path, 500)
    with pytest.raises(AmbiguousSendError):
        sender.send(mail)

    # The server takes the message, then the connection drops before the answer: exactly one POST,
    # an ambiguous error, and the Message-ID check finds it.
    fake_gmail.requests.clear()
    fake_gmail.fail("POST", send_path, disconnect=True, after=True)
    with pytest.raises(AmbiguousSendError):
        sender.send(mail)
    assert len(fake_gmail.requests_to(send_path, "POST")) == 1
    assert sender.find_sent(mail.message_id)

    fake_gmail.revoke(address)
    fake_gmail.expire_access_tokens()
    with pytest.raises(MailAuthError):
        sender.send(mail)


def test_unreachable_api_before_sending_is_transient() -> None:
    config = GoogleConfig("id", "secret", "http://127.0.0.1:9/auth", "http://127.0.0.1:9/token", "http://127.0.0.1:9/")
    sender = GmailMail("x@gmail.test", lambda: GmailApi(config, {"refresh_token": "r", "token": "t",
                                                                   "expiry": "2099-01-01T00:00:00+00:00"}))
    with pytest.raises(TransientMailError) as err:
        sender.send(OutgoingEmail(to=("c@exemple.test",), subject="x", text="x"))
    assert not isinstance(err.value, AmbiguousSendError)


def test_directory_gives_the_gmail_sender_of_the_default_mailbox(h: Harness, fake_gmail: FakeGmail) -> None:
    address = unique("default")
    add_gmail(h, fake_gmail, address)
    sender = h.services.get(MailSenderDirectory).sender_for(h.org().id)
    assert sender.address == address
    mail = OutgoingEmail(to=("client@exemple.test",), subject="Bonjour", text="x")
    sender.send(mail)
    assert sender.find_sent(mail.message_id)


def _numbered_mailbox(h: Harness, fake_gmail: FakeGmail, name: str, count: int) -> tuple[int, list[str]]:
    """A linked mailbox holding ``count`` messages whose subjects are "Message 0", "Message 1", …"""
    address = unique(name)
    subjects = [f"Message {i}" for i in range(count)]
    for i, subject in enumerate(subjects):
        fake_gmail.deliver(address, make_email(i, to=address, subject=subject), internal_date=time.time() - 3600)
    return add_gmail(h, fake_gmail, address), subjects


def test_a_sync_stopped_before_its_subscribers_had_a_page_delivers_that_page_next_time(
    h: Harness, fake_gmail: FakeGmail
) -> None:
    box_id, subjects = _numbered_mailbox(h, fake_gmail, "stopped", 60)
    first, resumed = stop_during_second_page_then_resume(h.services.get(MailboxService), box_id)
    assert 0 < len(first) < 60
    assert sorted(resumed) == sorted(set(subjects) - set(first))
    rows = stored(h, box_id)
    assert len(rows) == 60 and all(m.delivered_at is not None for m in rows)


def test_messages_a_subscriber_failed_on_are_delivered_again_by_the_next_sync(
    h: Harness, fake_gmail: FakeGmail
) -> None:
    box_id, subjects = _numbered_mailbox(h, fake_gmail, "failed", 60)
    failing = {"Message 3", "Message 4"}
    first, resumed = fail_some_then_resume(h.services.get(MailboxService), box_id, failing)
    assert failing <= set(first) and len(first) < 60
    assert sorted(resumed) == sorted((set(subjects) - set(first)) | failing)
