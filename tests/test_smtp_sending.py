"""Sending from an IMAP mailbox: SMTP (aiosmtpd on loopback, TLS and STARTTLS), Sent copy and lookup in Dovecot."""

from __future__ import annotations

import email
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from sqlalchemy import select

from handlers.mailboxes.service import MailboxService
from integrations.mail import (
    AmbiguousSendError,
    MailAttachment,
    MailAuthError,
    MailboxNeedsRelink,
    MailSenderDirectory,
    NoLinkedMailbox,
    OutgoingEmail,
    PermanentSendError,
    TransientMailError,
)
from storage.mail import Mailbox
from tests.conftest import Harness
from tests.dovecot import Account, Dovecot, free_port
from tests.mail_fixtures import add_imap_mailbox, connectors_for


@dataclass
class Recorder:
    """An aiosmtpd handler that records what it accepted and can refuse or hang up on command."""

    received: list[Envelope] = field(default_factory=list)
    logins: dict[str, str] = field(default_factory=dict)
    refuse_rcpt: set[str] = field(default_factory=set)
    data_answer: str | None = None  # e.g. "451 4.3.0 try later"
    hang_up_in_data: bool = False

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.refuse_rcpt:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.hang_up_in_data:
            self.received.append(envelope)  # the server got it, the client will never know
            assert server.transport is not None
            server.transport.close()
            return "250 never seen"
        if self.data_answer:
            return self.data_answer
        self.received.append(envelope)
        return "250 2.0.0 queued"


    def authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and \
            self.logins.get(auth_data.login.decode()) == auth_data.password.decode()
        return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServers:
    recorder: Recorder
    tls_port: int
    starttls_port: int


@pytest.fixture(scope="module")
def smtp(dovecot: Dovecot) -> Iterator[SmtpServers]:
    recorder = Recorder()
    server_context = dovecot.cert.server_context()
    # aiosmtpd only counts STARTTLS as "TLS" for AUTH: on the implicit-TLS port the whole session is TLS.
    implicit = Controller(recorder, hostname="127.0.0.1", port=free_port(), ssl_context=server_context,
                          authenticator=recorder.authenticate, auth_require_tls=False, server_hostname="smtp.test",
                          ready_timeout=10.0)
    starttls = Controller(recorder, hostname="127.0.0.1", port=free_port(), tls_context=server_context,
                          require_starttls=True, authenticator=recorder.authenticate, server_hostname="smtp.test",
                          ready_timeout=10.0)
    implicit.start()
    starttls.start()
    yield SmtpServers(recorder, implicit.port, starttls.port)
    implicit.stop()
    starttls.stop()


@pytest.fixture
def servers(smtp: SmtpServers) -> SmtpServers:
    smtp.recorder.received.clear()
    smtp.recorder.refuse_rcpt.clear()
    smtp.recorder.data_answer = None
    smtp.recorder.hang_up_in_data = False
    smtp.recorder.logins.clear()
    return smtp


@pytest.fixture
def h(make_harness: Any, dovecot: Dovecot, clock: Any) -> Harness:
    harness: Harness = make_harness(build={"mail_connectors": connectors_for(dovecot=dovecot, clock=clock)})
    return harness


def linked(h: Harness, account: Account, port: int, security: str) -> int:
    """An IMAP mailbox on Dovecot that sends through the loopback SMTP server (same login, like providers)."""
    return add_imap_mailbox(h.services, account, smtp=("127.0.0.1", port, security))


@pytest.fixture
def account(dovecot: Dovecot, servers: SmtpServers) -> Account:
    created = dovecot.new_account()
    servers.recorder.logins[created.user] = created.password
    return created


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_send_through_smtp_files_a_copy_in_sent_and_finds_it_by_message_id(
    h: Harness, servers: SmtpServers, account: Account, security: str
) -> None:
    port = servers.tls_port if security == "tls" else servers.starttls_port
    box_id = linked(h, account, port, security)
    sender = h.services.get(MailSenderDirectory).sender_for(h.org().id)
    assert sender.address == account.address
    outgoing = OutgoingEmail(to=("client@exemple.test",), cc=("compta@exemple.test",), subject="Votre devis n° 12",
                             text="Bonjour, voici le devis.", html="<p>Bonjour, voici le devis.</p>",
                             attachments=(MailAttachment("devis.pdf", "application/pdf", b"%PDF-1.4 test"),))

    receipt = sender.send(outgoing)

    assert receipt.message_id == outgoing.message_id
    envelope = servers.recorder.received[-1]
    assert envelope.mail_from == account.address
    assert sorted(envelope.rcpt_tos) == ["client@exemple.test", "compta@exemple.test"]
    message = email.message_from_bytes(envelope.original_content or b"", policy=policy.default)
    assert message["Message-ID"] == outgoing.message_id and message["Subject"] == "Votre devis n° 12"
    assert sender.find_sent(outgoing.message_id) is True
    assert sender.find_sent("<never-sent@courrier.local>") is False
    assert box_id


def test_smtp_errors_become_domain_errors(h: Harness, servers: SmtpServers, account: Account) -> None:
    linked(h, account, servers.tls_port, "tls")
    sender = h.services.get(MailSenderDirectory).sender_for(h.org().id)
    base = OutgoingEmail(to=("client@exemple.test",), subject="Test", text="x")

    servers.recorder.refuse_rcpt.add("nobody@exemple.test")
    with pytest.raises(PermanentSendError):
        sender.send(OutgoingEmail(to=("nobody@exemple.test",), subject="Test", text="x"))

    servers.recorder.data_answer = "451 4.3.0 mailbox busy, try later"
    with pytest.raises(TransientMailError):
        sender.send(base)
    servers.recorder.data_answer = "554 5.7.1 message refused"
    with pytest.raises(PermanentSendError):
        sender.send(base)
    servers.recorder.data_answer = None

    servers.recorder.hang_up_in_data = True
    with pytest.raises(AmbiguousSendError):
        sender.send(base)
    assert len(servers.recorder.received) == 1  # it did reach the server: hence "ambiguous"


def test_a_refused_smtp_login_marks_the_mailbox_for_relinking(h: Harness, servers: SmtpServers,
                                                              dovecot: Dovecot) -> None:
    account = dovecot.new_account()
    servers.recorder.logins[account.user] = "a-different-smtp-password"
    box_id = linked(h, account, servers.tls_port, "tls")
    h.add_user(admin=True)
    directory = h.services.get(MailSenderDirectory)
    with pytest.raises(MailAuthError):
        directory.sender_for(h.org().id).send(OutgoingEmail(to=("c@exemple.test",), subject="x", text="x"))
    h.services.get(MailboxService).wait_idle()  # the mailbox is marked in the background
    with h.services.db.session() as session:
        assert session.scalar(select(Mailbox.status).where(Mailbox.id == box_id)) == "needs_relink"
    with pytest.raises(MailboxNeedsRelink) as err:
        directory.sender_for(h.org().id)
    assert err.value.address == account.address


def test_directory_without_mailbox_or_sending_server(h: Harness, dovecot: Dovecot) -> None:
    directory = h.services.get(MailSenderDirectory)
    with pytest.raises(NoLinkedMailbox):
        directory.sender_for(h.org().id)
    account = dovecot.new_account()
    box_id = add_imap_mailbox(h.services, account)  # no SMTP settings
    with pytest.raises(NoLinkedMailbox):
        directory.sender_for(h.org().id)
    with pytest.raises(NoLinkedMailbox):
        directory.sender_for(h.org().id + 1000, box_id)
