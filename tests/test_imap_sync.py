"""IMAP sync against a real Dovecot on loopback (TLS and plain ports): incremental, never marks read."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from handlers.mailboxes.service import MailboxService, NewMail
from integrations.imap import ImapSettings, ImapSource
from storage.mail import Mailbox, MailMessage
from tests.conftest import Harness
from tests.dovecot import Account, Dovecot
from tests.mail_fixtures import (
    ProcessStopped,
    add_imap_mailbox,
    connectors_for,
    make_email,
    stop_during_second_page_then_resume,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def account(dovecot: Dovecot) -> Account:
    return dovecot.new_account()


@pytest.fixture
def h(make_harness: Any, dovecot: Dovecot, clock: Any) -> Harness:
    harness: Harness = make_harness(build={"mail_connectors": connectors_for(dovecot=dovecot, clock=clock)})
    return harness


def service_of(h: Harness) -> MailboxService:
    return h.services.get(MailboxService)


def rows(h: Harness, mailbox_id: int) -> list[MailMessage]:
    with h.services.db.session() as session:
        found = list(session.scalars(select(MailMessage).where(MailMessage.mailbox_id == mailbox_id)
                                     .order_by(MailMessage.id)))
        for row in found:
            session.expunge(row)
        return found


def mailbox(h: Harness, mailbox_id: int) -> Mailbox:
    with h.services.db.session() as session:
        box = session.get(Mailbox, mailbox_id)
        assert box is not None
        session.expunge(box)
        return box


class Recorder:
    """A new-mail subscriber that keeps what it was given."""

    def __init__(self) -> None:
        self.events: list[NewMail] = []

    def __call__(self, event: NewMail) -> None:
        self.events.append(event)


def test_first_sync_stores_metadata_hands_bodies_to_subscribers_and_marks_nothing_read(
    h: Harness, account: Account
) -> None:
    account.append([make_email(i, to=account.address, body=f"Corps secret numéro {i} à ne pas stocker")
                    for i in range(5)])
    before = account.flags()
    box_id = add_imap_mailbox(h.services, account)
    recorder = Recorder()
    service_of(h).subscribe(recorder)

    outcome = service_of(h).sync(box_id)

    assert (outcome.status, outcome.new) == ("success", 5)
    stored = rows(h, box_id)
    assert [r.subject for r in stored] == [f"Demande numéro {i}" for i in range(5)]
    first = stored[0]
    assert first.from_addr == "client@exemple.test" and first.from_name == "Client Exemple"
    assert first.to_addrs == [account.address]
    assert first.message_id and first.message_id.startswith("<msg-0-")
    assert first.provider_id.startswith("INBOX/") and first.size and first.date is not None
    # The backlog was indexed from headers, then its bodies were fetched and delivered newest first.
    assert [e.message.subject for e in recorder.events] == [f"Demande numéro {i}" for i in reversed(range(5))]
    assert recorder.events[-1].parsed.text.startswith("Corps secret numéro 0")
    assert all(e.initial for e in recorder.events)
    assert recorder.events[-1].message.id == first.id
    assert all(r.backlog and r.delivered_at is not None and r.delivery_attempts == 1 for r in stored)
    # The server's flags did not change: nothing became \Seen.
    after = account.flags()
    assert after == before
    assert all(b"\\Seen" not in flags for flags in after.values())
    box = mailbox(h, box_id)
    assert box.last_sync_status == "success" and box.last_sync_count == 5 and box.initial_sync_done
    assert box.cursor["folders"]["INBOX"]["last_uid"] == 5


def test_incremental_sync_reads_only_new_mail_and_costs_three_commands_when_nothing_is_new(
    h: Harness, account: Account, dovecot: Dovecot
) -> None:
    account.append([make_email(i, to=account.address) for i in range(3)])
    box_id = add_imap_mailbox(h.services, account)
    recorder = Recorder()
    service_of(h).subscribe(recorder)
    assert service_of(h).sync(box_id).new == 3

    box = mailbox(h, box_id)
    settings = ImapSettings("127.0.0.1", dovecot.tls_port, "tls", account.user, account.password,
                            ssl_context=dovecot.cert.client_context())
    source = ImapSource(account.address, settings)
    pages = list(source.pages(box.cursor, h.clock.now() - timedelta(days=7), _NoneKnown()))
    source.close()
    assert pages == []
    assert source.commands == 3  # LOGIN, STATUS, LOGOUT: no SELECT, SEARCH or FETCH

    assert service_of(h).sync(box_id).new == 0
    account.append([make_email(10, to=account.address, subject="Nouvelle commande")])
    outcome = service_of(h).sync(box_id)
    assert outcome.new == 1
    assert [e.message.subject for e in recorder.events][-1] == "Nouvelle commande"
    assert recorder.events[-1].initial is False
    assert len(rows(h, box_id)) == 4


def test_the_uid_range_trap_is_dropped_when_uidnext_moved_without_new_mail(h: Harness, account: Account) -> None:
    account.append([make_email(i, to=account.address) for i in range(2)])
    box_id = add_imap_mailbox(h.services, account)
    assert service_of(h).sync(box_id).new == 2
    # A message arrives and is deleted before the next sync: UIDNEXT moves, nothing new is visible,
    # and "3:*" on the server still answers with message 2.
    account.append([make_email(99, to=account.address)])
    with account.client() as client:
        client.select_folder("INBOX")
        client.delete_messages([3])
        client.expunge()
    recorder = Recorder()
    service_of(h).subscribe(recorder)
    outcome = service_of(h).sync(box_id)
    assert (outcome.status, outcome.new) == ("success", 0)
    assert recorder.events == []
    assert len(rows(h, box_id)) == 2
    assert mailbox(h, box_id).cursor["folders"]["INBOX"]["last_uid"] == 3


@pytest.mark.parametrize("security", ["starttls", "plain"])
def test_plain_port_with_starttls_or_plain_text_on_loopback(h: Harness, account: Account, security: str) -> None:
    account.append([make_email(1, to=account.address)])
    box_id = add_imap_mailbox(h.services, account, security=security)
    outcome = service_of(h).sync(box_id)
    assert (outcome.status, outcome.new) == ("success", 1)


def test_uidvalidity_change_resyncs_and_deduplicates_by_message_id(h: Harness, account: Account) -> None:
    with account.client() as client:
        client.create_folder("Projets")
    old = [make_email(i, to=account.address, message_id=f"<projet-{i}@exemple.test>") for i in range(3)]
    account.append(old, folder="Projets")
    box_id = add_imap_mailbox(h.services, account, folders=["Projets"])
    assert service_of(h).sync(box_id).new == 3
    validity = mailbox(h, box_id).cursor["folders"]["Projets"]["uidvalidity"]

    # Recreating the folder gives it a new UIDVALIDITY: every UID changes meaning.
    with account.client() as client:
        client.delete_folder("Projets")
        client.create_folder("Projets")
    account.append([*old, make_email(7, to=account.address, message_id="<projet-7@exemple.test>")], folder="Projets")
    recorder = Recorder()
    service_of(h).subscribe(recorder)
    outcome = service_of(h).sync(box_id)

    assert outcome.new == 1
    assert [e.message.message_id for e in recorder.events] == ["<projet-7@exemple.test>"]
    stored = rows(h, box_id)
    assert len(stored) == 4
    fresh = mailbox(h, box_id).cursor["folders"]["Projets"]["uidvalidity"]
    assert fresh != validity
    # Known messages now carry their new UIDs (so later changes map to them).
    assert all(r.provider_id.startswith(f"Projets/{fresh}/") for r in stored)


def test_wrong_password_marks_needs_relink_and_sends_the_admins_one_fresh_link(h: Harness, account: Account) -> None:
    admin = h.add_user("+2250707000001", "Awa Kouassi", admin=True)
    h.add_user("+2250707000002", "Koffi Manager", admin=False)
    box_id = add_imap_mailbox(h.services, account)
    with h.services.db.write() as session:
        box = session.get(Mailbox, box_id)
        assert box is not None
        box.credentials = h.services.require_secrets().seal('{"password": "not-the-password"}', "mailboxes.credentials")

    outcome = service_of(h).sync(box_id)
    assert outcome.status == "needs_relink"
    box = mailbox(h, box_id)
    assert (box.status, box.last_error_kind, box.next_sync_at) == ("needs_relink", "auth", None)
    # Not retried in a loop: the scheduler does not pick it up, a manual sync does not hit the server.
    h.clock.advance(hours=2)
    assert service_of(h).run_due() == 0
    assert service_of(h).sync(box_id).status == "needs_relink"
    h.drain()
    texts = h.whatsapp.texts_to(admin.phone.lstrip("+"))  # type: ignore[union-attr]
    assert len(texts) == 1
    assert account.address in texts[0] and "http://testserver/link/" in texts[0]
    assert h.whatsapp.texts_to("2250707000002") == []


def test_unreachable_server_backs_off_with_jitter_and_shows_a_readable_error(h: Harness, account: Account) -> None:
    box_id = add_imap_mailbox(h.services, account)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    with h.services.db.write() as session:
        box = session.get(Mailbox, box_id)
        assert box is not None
        box.imap_port = closed_port

    delays = []
    for _ in range(7):
        outcome = service_of(h).sync(box_id)
        assert (outcome.status, outcome.error_kind) == ("error", "host")
        box = mailbox(h, box_id)
        assert box.status == "error" and box.next_sync_at is not None
        delays.append((box.next_sync_at - h.clock.now()).total_seconds())
        assert "Could not reach the mail server" in (box.last_sync_error or "")
    assert 30 <= delays[0] <= 30
    assert all(30 <= d <= 1800 for d in delays)
    assert delays[-1] >= 900  # the ceiling grew to 30 minutes (jitter keeps it within the upper half)
    assert service_of(h).run_due() == 0  # not due yet
    h.clock.advance(minutes=31)
    with h.services.db.write() as session:
        box = session.get(Mailbox, box_id)
        assert box is not None
        box.imap_port = account.server.tls_port
    assert service_of(h).run_due() == 1
    service_of(h).wait_idle()
    box = mailbox(h, box_id)
    assert (box.status, box.failures, box.last_sync_error) == ("active", 0, None)


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never says anything."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_hanging_mailbox_times_out_and_never_holds_up_the_others(
    make_harness: Any, dovecot: Dovecot, clock: Any, silent_server: int
) -> None:
    h = make_harness(build={"mail_connectors": connectors_for(dovecot=dovecot, clock=clock, imap_timeout=1.0)})
    good = dovecot.new_account()
    good.append([make_email(1, to=good.address)])
    stuck = dovecot.new_account()
    stuck_id = add_imap_mailbox(h.services, stuck, address="stuck@courrier.test")
    with h.services.db.write() as session:
        box = session.get(Mailbox, stuck_id)
        assert box is not None
        box.imap_port, box.is_default = silent_server, False
    good_id = add_imap_mailbox(h.services, good)
    service = service_of(h)

    assert service.run_due() == 2
    service.wait_idle()
    assert mailbox(h, good_id).last_sync_status == "success"
    stuck_box = mailbox(h, stuck_id)
    assert (stuck_box.status, stuck_box.last_error_kind) == ("error", "timeout")


def new_mail_after_linking(h: Harness, account: Account, messages: list[bytes], *, backlog: bool) -> int:
    """A mailbox whose ``messages`` are either its backlog (there before its first sync, which is
    left to the test) or new mail (arriving after a first sync of the empty mailbox, so the next
    sync downloads and delivers them at once)."""
    if backlog:
        account.append(messages)
        return add_imap_mailbox(h.services, account)
    box_id = add_imap_mailbox(h.services, account)
    assert service_of(h).sync(box_id).status == "success"
    account.append(messages)
    return box_id


@pytest.mark.parametrize("backlog", [True, False], ids=["backlog", "new-mail"])
def test_messages_a_subscriber_failed_on_are_delivered_again_by_the_next_sync(
    h: Harness, account: Account, backlog: bool
) -> None:
    """A subscriber that raises (a database error while storing a verdict, say) does not lose its
    messages: the others are delivered, the sync ends as an error with a backoff and a plain
    reason, and the next sync delivers again exactly the messages some subscriber failed on."""
    from handlers.mailboxes.service import NotDelivered

    box_id = new_mail_after_linking(h, account, [make_email(i, to=account.address) for i in range(3)],
                                    backlog=backlog)
    recorder = Recorder()
    pages: list[list[str]] = []
    failures = {"each": 1, "batch": 1}

    def broken_once(event: NewMail) -> None:
        if event.message.subject == "Demande numéro 0" and failures["each"]:
            failures["each"] -= 1
            raise RuntimeError("database is locked")

    def batch_once(events: Sequence[NewMail]) -> None:
        pages.append([e.message.subject for e in events])
        if failures["batch"]:
            failures["batch"] -= 1
            raise NotDelivered([e.message.id for e in events if e.message.subject == "Demande numéro 1"])

    service = service_of(h)
    service.subscribe(broken_once)
    service.subscribe(batch_once, batch=True)
    service.subscribe(recorder)
    outcome = service.sync(box_id)
    assert (outcome.status, outcome.error_kind, outcome.new) == ("error", "delivery", 3)
    assert len(recorder.events) == 3  # every subscriber had the whole page
    box = mailbox(h, box_id)
    assert box.last_error_kind == "delivery" and box.failures == 1
    assert box.next_sync_at is not None and box.next_sync_at > h.clock.now()

    account.append([make_email(9, to=account.address)])
    outcome = service.sync(box_id)
    assert (outcome.status, outcome.new) == ("success", 1)  # the replays are not counted as new mail
    again = ["Demande numéro 0", "Demande numéro 1", "Demande numéro 9"]
    assert sorted(e.message.subject for e in recorder.events[3:]) == again
    if backlog:  # the new message first, as it arrives; then the backlog's rest, newest first
        assert pages[1:] == [["Demande numéro 9"], ["Demande numéro 1", "Demande numéro 0"]]
    else:
        assert pages[1:] == [again]
    box = mailbox(h, box_id)
    assert box.last_error_kind is None and box.failures == 0
    assert service.sync(box_id).new == 0
    assert len(recorder.events) == 6


@pytest.mark.parametrize("backlog", [True, False], ids=["backlog", "new-mail"])
def test_a_message_a_subscriber_always_fails_on_is_given_up_and_newer_mail_flows(
    h: Harness, account: Account, backlog: bool
) -> None:
    box_id = new_mail_after_linking(h, account, [make_email(i, to=account.address) for i in range(2)],
                                    backlog=backlog)
    recorder = Recorder()

    def poison(event: NewMail) -> None:
        if event.message.subject == "Demande numéro 1":
            raise RuntimeError("classifier bug")

    service = service_of(h)
    service.subscribe(poison)
    service.subscribe(recorder)
    statuses = [service.sync(box_id).status for _ in range(4)]
    # Delivered three times in all (the first sync and two replays), then given up.
    assert statuses == ["error", "error", "error", "success"]
    assert sorted(e.message.subject for e in recorder.events) == ["Demande numéro 0", *["Demande numéro 1"] * 3]
    account.append([make_email(5, to=account.address)])
    assert service.sync(box_id).status == "success"
    assert [e.message.subject for e in recorder.events[4:]] == ["Demande numéro 5"]


def test_gmail_over_imap_deduplicates_on_x_gm_msgid(make_harness: Any, clock: Any) -> None:
    import json

    from storage.accounts import ensure_default_org
    from storage.mail import CREDENTIALS_PURPOSE
    from tests.fake_gmail_imap import FakeGmailImap

    fake = FakeGmailImap("awa@gmail.test", "app-password-1234").start()
    try:
        h = make_harness(build={"mail_connectors": connectors_for(clock=clock)})
        for i in range(3):
            fake.deliver(make_email(i, to="awa@gmail.test"))
        with h.services.db.write() as session:
            org = ensure_default_org(session, "Test Org")
            box = Mailbox(org_id=org.id, provider="imap", name="awa@gmail.test", address="awa@gmail.test",
                          username="awa@gmail.test", imap_host="127.0.0.1", imap_port=fake.port,
                          imap_security="plain", folders=["INBOX"], cursor={}, is_default=True, status="active",
                          enabled=True, failures=0, initial_sync_done=False, sync_interval_minutes=5,
                          credentials=h.services.require_secrets().seal(
                              json.dumps({"password": "app-password-1234"}), CREDENTIALS_PURPOSE))
            session.add(box)
            session.flush()
            box_id = box.id
        recorder = Recorder()
        service_of(h).subscribe(recorder)
        assert service_of(h).sync(box_id).new == 3
        stored = rows(h, box_id)
        assert all(r.provider_id.startswith("gm:") and (r.thread_id or "").startswith("gm:") for r in stored)

        # Gmail rebuilt the label: new UIDVALIDITY, new UIDs, same X-GM-MSGID. One message is new.
        fake.renumber()
        fake.deliver(make_email(3, to="awa@gmail.test", subject="Vraiment nouveau"))
        fake.commands.clear()
        outcome = service_of(h).sync(box_id)

        assert outcome.new == 1 and [e.message.subject for e in recorder.events][-1] == "Vraiment nouveau"
        assert len(rows(h, box_id)) == 4
        body_fetches = [c for c in fake.commands if c.startswith("UID FETCH") and "BODY.PEEK[]" in c]
        assert len(body_fetches) == 1 and body_fetches[0].split(" ")[2] == str(fake.folder.uidnext - 1)
    finally:
        fake.stop()


class _NoneKnown:
    def known_provider_ids(self, ids: Any) -> set[str]:
        return set()

    def known_message_ids(self, ids: Any) -> set[str]:
        return set()


@pytest.mark.parametrize("backlog", [True, False], ids=["backlog", "new-mail"])
def test_a_sync_stopped_before_its_subscribers_had_a_page_delivers_that_page_next_time(
    h: Harness, account: Account, backlog: bool
) -> None:
    subjects = [f"Message {i}" for i in range(150)]  # two FETCH pages of up to 100
    box_id = new_mail_after_linking(h, account, [make_email(i, to=account.address, subject=s)
                                                 for i, s in enumerate(subjects)], backlog=backlog)
    first, resumed = stop_during_second_page_then_resume(service_of(h), box_id)
    assert len(first) == 100
    # New mail is delivered in arrival order; a backlog newest first.
    assert first == (subjects[50:][::-1] if backlog else subjects[:100])
    assert sorted(resumed) == sorted(set(subjects) - set(first))
    stored = rows(h, box_id)
    assert len(stored) == 150 and all(m.delivered_at is not None for m in stored)
    assert mailbox(h, box_id).initial_sync_done


def test_a_message_stored_but_not_delivered_before_a_uidvalidity_change_is_delivered_by_the_resync(
    h: Harness, account: Account
) -> None:
    with account.client() as client:
        client.create_folder("Dossiers")
    old = [make_email(i, to=account.address, message_id=f"<dossier-{i}@exemple.test>") for i in range(2)]
    account.append(old, folder="Dossiers")
    box_id = add_imap_mailbox(h.services, account, folders=["Dossiers"])
    assert service_of(h).sync(box_id).new == 2
    late = make_email(5, to=account.address, message_id="<dossier-5@exemple.test>")
    account.append([late], folder="Dossiers")

    def stop(events: Sequence[NewMail]) -> None:
        raise ProcessStopped

    unsubscribe = service_of(h).subscribe(stop, batch=True)
    with pytest.raises(ProcessStopped):
        service_of(h).sync(box_id)
    unsubscribe()
    assert [r.delivered_at is None for r in rows(h, box_id)] == [False, False, True]

    # The folder is rebuilt meanwhile (new UIDVALIDITY): the resync matches by Message-ID, and the
    # message never delivered is downloaded again and delivered, not just rebound to its new UID.
    with account.client() as client:
        client.delete_folder("Dossiers")
        client.create_folder("Dossiers")
    account.append([*old, late, make_email(7, to=account.address, message_id="<dossier-7@exemple.test>")],
                   folder="Dossiers")
    recorder = Recorder()
    service_of(h).subscribe(recorder)
    assert service_of(h).sync(box_id).status == "success"
    # A resync indexes the folder again: both come as its backlog, newest first.
    assert [e.message.message_id for e in recorder.events] == ["<dossier-7@exemple.test>", "<dossier-5@exemple.test>"]
    stored = rows(h, box_id)
    assert len(stored) == 4 and all(r.delivered_at is not None for r in stored)


def test_a_page_whose_delivery_keeps_stopping_the_process_is_given_up_after_three(
    h: Harness, account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    account.append([make_email(i, to=account.address) for i in range(2)])
    box_id = add_imap_mailbox(h.services, account)
    deliveries: list[int] = []

    def crash(events: Sequence[NewMail]) -> None:
        deliveries.append(len(events))
        raise ProcessStopped

    unsubscribe = service_of(h).subscribe(crash, batch=True)
    for _ in range(3):  # the first delivery and two replays, each stopping the process
        with pytest.raises(ProcessStopped):
            service_of(h).sync(box_id)
    with caplog.at_level("WARNING", logger="handlers.mailboxes.service"):
        assert service_of(h).sync(box_id).status == "success"  # given up: the mailbox moves on
    unsubscribe()
    assert deliveries == [2, 2, 2]
    assert sum("given up after 3 unfinished deliveries" in r.getMessage() for r in caplog.records) == 2
    stored = rows(h, box_id)
    assert all(r.delivered_at is not None and r.delivery_attempts == 3 for r in stored)

    recorder = Recorder()
    service_of(h).subscribe(recorder)
    account.append([make_email(9, to=account.address, subject="Après")])
    assert service_of(h).sync(box_id).new == 1
    assert [e.message.subject for e in recorder.events] == ["Après"]


def _fetched_items(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the data items of every FETCH the IMAP source sends."""
    from integrations.imap import ImapClient

    seen: list[str] = []
    original = ImapClient.fetch

    def fetch(self: Any, messages: Any, data: Any, modifiers: Any = None) -> Any:
        seen.extend(str(item) for item in data)
        return original(self, messages, data, modifiers)

    monkeypatch.setattr(ImapClient, "fetch", fetch)
    return seen


def test_a_first_sync_indexes_the_backlog_from_headers_and_its_bodies_follow_newest_first(
    h: Harness, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first sync downloads no body: metadata comes from the header fields and BODYSTRUCTURE,
    and the messages wait as backlog. Delivering the backlog fetches the bodies (with PEEK), hands
    them to the subscribers newest first and replaces the attachments read from the structure with
    those read from the body. The awkward MIME corpus (charsets, encodings, HTML only, attachments, a
    malformed message) gives the same attachment names and types both ways."""
    from pathlib import Path

    from integrations.mime import parse_email

    corpus = sorted(Path(__file__).parent.joinpath("data", "mail").glob("*.eml"))
    raws = [p.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") for p in corpus]
    account.append(raws)
    before = account.flags()
    box_id = add_imap_mailbox(h.services, account)
    recorder = Recorder()
    service_of(h).subscribe(recorder)
    items = _fetched_items(monkeypatch)

    outcome = service_of(h).sync(box_id, backlog=False)

    assert (outcome.status, outcome.new) == ("success", len(raws))
    assert items and not any(item == "BODY.PEEK[]" for item in items)
    assert "BODYSTRUCTURE" in items
    assert recorder.events == []
    indexed = rows(h, box_id)
    assert all(r.backlog and r.delivered_at is None and r.delivery_attempts == 0 for r in indexed)
    box = mailbox(h, box_id)
    assert box.initial_sync_done and box.last_sync_count == len(raws)
    assert box.cursor["folders"]["INBOX"]["last_uid"] == len(raws)

    items.clear()
    assert service_of(h).deliver_backlog(box_id, outcome) is None
    assert items and all(item == "BODY.PEEK[]" for item in items)
    newest_first = sorted(indexed, key=lambda r: (r.date is None, -(r.date.timestamp() if r.date else 0), -r.id))
    assert [e.message.id for e in recorder.events] == [r.id for r in newest_first]
    delivered = rows(h, box_id)
    assert all(r.delivered_at is not None and r.delivery_attempts == 1 for r in delivered)
    for raw, before_row, after_row in zip(raws, indexed, delivered, strict=True):
        parsed = parse_email(raw)
        expected = [{"filename": a.filename, "content_type": a.content_type, "size": a.size} for a in parsed.attachments]
        assert after_row.attachments == expected
        assert [(a["filename"], a["content_type"]) for a in before_row.attachments] == \
            [(a["filename"], a["content_type"]) for a in expected]
        assert (before_row.subject, before_row.from_addr, before_row.to_addrs, before_row.message_id, before_row.date) \
            == (parsed.subject, parsed.from_addr or None, list(parsed.to), parsed.message_id, parsed.date or before_row.date)
    assert account.flags() == before  # nothing became \Seen
    assert service_of(h).deliver_backlog(box_id) is None and len(recorder.events) == len(raws)


def test_a_backlog_message_deleted_on_the_server_before_its_delivery_is_given_up(
    h: Harness, account: Account
) -> None:
    account.append([make_email(i, to=account.address) for i in range(3)])
    box_id = add_imap_mailbox(h.services, account)
    recorder = Recorder()
    service_of(h).subscribe(recorder)
    assert service_of(h).sync(box_id, backlog=False).new == 3
    with account.client() as client:
        client.select_folder("INBOX")
        client.delete_messages([2])
        client.expunge()

    assert service_of(h).deliver_backlog(box_id) is None
    assert [e.message.subject for e in recorder.events] == ["Demande numéro 2", "Demande numéro 0"]
    stored = rows(h, box_id)
    assert all(r.delivered_at is not None for r in stored)
    assert [r.removed_at is not None for r in stored] == [False, True, False]


def test_a_scheduled_first_sync_answers_before_delivering_its_backlog(h: Harness, account: Account) -> None:
    """The job the scheduler (and the link page) runs reports the first sync as soon as the backlog
    is indexed, then delivers the backlog on the same worker."""
    account.append([make_email(i, to=account.address) for i in range(4)])
    box_id = add_imap_mailbox(h.services, account)
    recorder = Recorder()
    service_of(h).subscribe(recorder)
    seen: list[tuple[int, int]] = []

    def after(outcome: Any) -> None:
        seen.append((outcome.new, len(recorder.events)))

    assert service_of(h).submit(box_id, after)
    service_of(h).wait_idle()
    assert seen == [(4, 0)]
    assert len(recorder.events) == 4
    assert all(r.delivered_at is not None for r in rows(h, box_id))
