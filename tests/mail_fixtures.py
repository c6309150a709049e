"""Fixtures for mailbox tests: Dovecot, the fake Gmail and Graph servers, connectors and messages."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from integrations.connectors import MailConnectors
from integrations.google import GoogleConfig
from integrations.microsoft import MicrosoftConfig
from tests.dovecot import Dovecot, DovecotUnavailable
from tests.fake_gmail import FakeGmail
from tests.fake_graph import FakeGraph
from tests.tls import LoopbackCert, make_cert


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A private Dovecot for the whole run; CI fails rather than skips when it cannot run."""
    try:
        server = Dovecot.start()
    except DovecotUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Dovecot is required when CI is set: {exc}")
        pytest.skip(f"Dovecot unavailable: {exc} (run `make test`, which installs dovecot-imapd)")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def test_cert() -> Iterator[LoopbackCert]:
    """A certificate for loopback HTTPS fakes."""
    folder = Path(tempfile.mkdtemp(prefix="courrier-cert-"))
    yield make_cert(folder)


@pytest.fixture(scope="session")
def gmail_server() -> Iterator[FakeGmail]:
    """One fake Google for the session (tests use their own addresses)."""
    server = FakeGmail().start()
    yield server
    server.stop()


@pytest.fixture
def fake_gmail(gmail_server: FakeGmail) -> Iterator[FakeGmail]:
    """The fake Google with no faults queued and consent defaults restored."""
    gmail_server.faults.clear()
    gmail_server.consent = "allow"
    gmail_server.consent_email = None
    yield gmail_server
    gmail_server.faults.clear()


@pytest.fixture(scope="session")
def graph_server(test_cert: LoopbackCert) -> Iterator[FakeGraph]:
    """One fake Microsoft for the session (HTTPS: MSAL only accepts https authorities)."""
    server = FakeGraph(test_cert).start()
    yield server
    server.stop()


@pytest.fixture
def fake_graph(graph_server: FakeGraph) -> Iterator[FakeGraph]:
    """The fake Microsoft with no faults queued and consent defaults restored."""
    graph_server.faults.clear()
    graph_server.consent = "allow"
    graph_server.consent_email = None
    graph_server.api_rejects_tokens = False
    yield graph_server
    graph_server.faults.clear()
    graph_server.api_rejects_tokens = False


def connectors_for(*, gmail: FakeGmail | None = None, graph: FakeGraph | None = None, cert: LoopbackCert | None = None,
                   dovecot: Dovecot | None = None, clock: Any = None, imap_timeout: float = 20.0,
                   sync_limit: int = 10_000) -> MailConnectors:
    """Connectors pointed at the fakes (Google and Microsoft unconfigured when not given)."""
    google = GoogleConfig(None)
    if gmail is not None:
        google = GoogleConfig(gmail.client_id, gmail.client_secret, gmail.auth_url, gmail.token_url, gmail.api_url)
    microsoft = MicrosoftConfig(None)
    if graph is not None:
        assert cert is not None
        microsoft = MicrosoftConfig(graph.client_id, graph.client_secret, "common", graph.authority_url,
                                    graph.graph_url, tls_verify=str(cert.ca))
    context = dovecot.cert.client_context() if dovecot is not None else None
    return MailConnectors(google, microsoft, imap_ssl_context=context, smtp_ssl_context=context,
                          imap_timeout=imap_timeout, sync_limit=sync_limit,
                          clock=clock.now if clock is not None else None)


def make_email(i: int = 0, *, to: str = "contact@atelier.test", subject: str | None = None, body: str | None = None,
               sender: str = "Client Exemple <client@exemple.test>", message_id: str | None = None,
               date: str = "Fri, 20 Nov 2026 08:00:00 +0000") -> bytes:
    """A small plain-text message."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject if subject is not None else f"Demande numéro {i}"
    message["Message-ID"] = message_id or f"<msg-{i}-{os.urandom(4).hex()}@exemple.test>"
    message["Date"] = date
    message.set_content(body if body is not None else f"Bonjour, ceci est le message {i}.")
    return bytes(message)


def add_imap_mailbox(services: Any, account: Any, *, security: str = "tls", org_id: int | None = None,
                     folders: list[str] | None = None, smtp: tuple[str, int, str] | None = None,
                     address: str | None = None) -> int:
    """Store an IMAP mailbox for a Dovecot account directly (no link page, no automatic first sync)."""
    import json

    from storage.accounts import ensure_default_org
    from storage.mail import CREDENTIALS_PURPOSE, Mailbox

    port = account.server.tls_port if security == "tls" else account.server.plain_port
    with services.db.write() as session:
        org = ensure_default_org(session, "Test Org") if org_id is None else None
        box = Mailbox(
            org_id=org_id if org_id is not None else org.id, provider="imap", name=address or account.address,
            address=address or account.address, username=account.user, imap_host="127.0.0.1", imap_port=port,
            imap_security=security, smtp_host=smtp[0] if smtp else None, smtp_port=smtp[1] if smtp else None,
            smtp_security=smtp[2] if smtp else None, folders=folders or ["INBOX"], cursor={},
            credentials=services.require_secrets().seal(json.dumps({"password": account.password}),
                                                        CREDENTIALS_PURPOSE),
            is_default=True, status="active", enabled=True, failures=0, initial_sync_done=False,
            sync_interval_minutes=5,
        )
        session.add(box)
        session.flush()
        return int(box.id)


def add_gmail(h: Any, fake: FakeGmail, address: str, *, synced: bool = False) -> int:
    """A Gmail mailbox of the default organization, granted by the fake; ``synced`` skips its first sync."""
    import json

    from handlers.mailboxes.service import CREDENTIALS_PURPOSE
    from storage.accounts import ensure_default_org
    from storage.mail import Mailbox

    refresh = fake.grant(address)
    with h.services.db.write() as session:
        org = ensure_default_org(session, "Test Org")
        box = Mailbox(org_id=org.id, provider="gmail", name=address, address=address, folders=["INBOX"], cursor={},
                      credentials=h.services.require_secrets().seal(json.dumps({"refresh_token": refresh}),
                                                                     CREDENTIALS_PURPOSE),
                      is_default=True, status="active", enabled=True, failures=0, initial_sync_done=synced,
                      sync_interval_minutes=5)
        session.add(box)
        session.flush()
        return int(box.id)


def _resume(service: Any, box_id: int) -> list[str]:
    """Sync twice more with a recording subscriber: the subjects the first of those delivered (the
    second must deliver nothing again)."""
    resumed: list[str] = []
    unsubscribe = service.subscribe(lambda event: resumed.append(event.message.subject))
    try:
        assert service.sync(box_id).status == "success"
        assert service.sync(box_id).status == "success"  # a sync after that delivers nothing again
    finally:
        unsubscribe()
    return resumed


class ProcessStopped(BaseException):
    """Stands for the process stopping (a deploy, the OOM killer) in the middle of a sync."""


def stop_during_second_page_then_resume(service: Any, box_id: int) -> tuple[list[str], list[str]]:
    """Sync until the subscribers get the second page, stop there, then sync again.

    Returns the subjects delivered before the stop (the first page) and those delivered by the
    sync after it, so a test can check that every message was delivered once the stop is over,
    and that nothing delivered before it was delivered again.
    """
    pages: list[list[str]] = []

    def stop_on_second_page(events: Any) -> None:
        pages.append([e.message.subject for e in events])
        if len(pages) == 2:
            raise ProcessStopped

    unsubscribe = service.subscribe(stop_on_second_page, batch=True)
    try:
        service.sync(box_id)
    except ProcessStopped:
        pass
    else:
        raise AssertionError("the sync never reached a second page")
    finally:
        unsubscribe()
    return pages[0], _resume(service, box_id)


def fail_some_then_resume(service: Any, box_id: int, failing: set[str]) -> tuple[list[str], list[str]]:
    """Sync with a batch subscriber that fails (``NotDelivered``) on the messages whose subject is in
    ``failing``, then sync again with a working one.

    Returns the subjects the first sync delivered and those the next sync delivered, so a test
    can check that the next sync delivered again exactly the failed ones and what the first sync
    never reached, and nothing the first sync had delivered.
    """
    from handlers.mailboxes.service import NotDelivered

    first: list[str] = []

    def failing_subscriber(events: Any) -> None:
        first.extend(e.message.subject for e in events)
        bad = [e.message.id for e in events if e.message.subject in failing]
        if bad:
            raise NotDelivered(bad)

    unsubscribe = service.subscribe(failing_subscriber, batch=True)
    try:
        outcome = service.sync(box_id)
    finally:
        unsubscribe()
    assert (outcome.status, outcome.error_kind) == ("error", "delivery"), outcome
    return first, _resume(service, box_id)
