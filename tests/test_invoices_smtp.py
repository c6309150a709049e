"""Invoice batches over a real SMTP server on loopback (aiosmtpd), driven by the ``courrier invoices`` CLI."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from typer.testing import CliRunner

from bot.cli import app
from tests.conftest import TEST_KEY, Harness
from tests.dovecot import Account, Dovecot, free_port
from tests.invoice_support import invoice_numbers, make_folder
from tests.mail_fixtures import add_imap_mailbox, connectors_for


@dataclass
class Sink:
    """Accepts mail; can refuse a recipient, answer DATA with queued replies, or hang up at MAIL FROM."""

    received: list[bytes] = field(default_factory=list)
    logins: dict[str, str] = field(default_factory=dict)
    refuse_rcpt: set[str] = field(default_factory=set)
    data_answers: deque[str] = field(default_factory=deque)
    drop_at_mail: set[int] = field(default_factory=set)  # transaction numbers at which to hang up
    transactions: int = 0
    connections: int = 0

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
                          responses: list[str]) -> list[str]:
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        self.transactions += 1
        if self.transactions in self.drop_at_mail:
            assert server.transport is not None
            server.transport.close()  # an idle connection the server closed: nothing was sent
            return "421 closing"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.refuse_rcpt:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_answers:
            return self.data_answers.popleft()
        self.received.append(envelope.original_content or b"")
        return "250 2.0.0 queued"

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and \
            self.logins.get(auth_data.login.decode()) == auth_data.password.decode()
        return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def sink_server() -> Iterator[tuple[Sink, int]]:
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port(), authenticator=sink.authenticate,
                            auth_require_tls=False, ready_timeout=10.0)
    controller.start()
    yield sink, controller.port
    controller.stop()


@pytest.fixture
def sink(sink_server: tuple[Sink, int]) -> Sink:
    s = sink_server[0]
    s.received.clear()
    s.refuse_rcpt.clear()
    s.data_answers.clear()
    s.drop_at_mail.clear()
    s.transactions = s.connections = 0
    return s


@pytest.fixture
def h(make_harness: Any, dovecot: Dovecot, clock: Any) -> Harness:
    harness: Harness = make_harness(build={"mail_connectors": connectors_for(dovecot=dovecot, clock=clock)})
    return harness


@pytest.fixture
def cli(h: Harness, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("COURRIER_DATABASE_URL", db_url)
    monkeypatch.setenv("COURRIER_SECRET_KEYS", TEST_KEY)
    monkeypatch.setenv("COURRIER_SANDBOX", "true")
    monkeypatch.setenv("COURRIER_INVOICE_RETRY_BASE", "0.05")
    monkeypatch.setenv("COURRIER_INVOICE_RATE_LIMITS", json.dumps({"imap": {"units_per_minute": 60000}}))
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Any:
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return invoke


def mailbox(h: Harness, dovecot: Dovecot, sink: Sink, port: int) -> tuple[int, Account]:
    account = dovecot.new_account()
    sink.logins[account.user] = account.password
    box = add_imap_mailbox(h.services, account, security="plain", smtp=("127.0.0.1", port, "plain"))
    return box, account


def test_cli_checks_asks_sends_once_and_reports(h: Harness, dovecot: Dovecot, sink: Sink,
                                                sink_server: tuple[Sink, int], cli: Any, tmp_path: Path) -> None:
    box, account = mailbox(h, dovecot, sink, sink_server[1])
    folder = make_folder(tmp_path / "batch", 30)
    (folder / "subject.txt").write_text("Votre facture {{ invoice_number }}", "utf-8")

    bad = make_folder(tmp_path / "bad", 2, extra_rows=["oops,X,F-0001,1,2026-12-31,missing.pdf,"])
    result = cli("invoices", "send", str(bad), "--mailbox", str(box), "--yes")
    assert result.exit_code == 1
    assert "line 4" in result.output or "ligne 4" in result.output
    assert sink.received == []

    result = cli("invoices", "send", str(folder), "--mailbox", str(box), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "30 invoice(s)" in result.output and sink.received == []
    result = cli("invoices", "send", str(folder), "--mailbox", str(box), input="n\n")
    assert result.exit_code == 1 and sink.received == []

    # Faults: a refused recipient, a transient 451 on DATA, and the server hanging up an idle connection.
    sink.refuse_rcpt.add("client4@client.example")
    sink.data_answers.append("451 4.3.0 try again later")
    sink.drop_at_mail.add(10)
    result = cli("invoices", "send", str(folder), "--mailbox", str(box), "--yes")
    assert result.exit_code == 1, result.output  # one invoice failed
    assert "29 sent, 1 failed" in result.output

    numbers = invoice_numbers(sink.received)
    assert len(numbers) == 29 and set(numbers.values()) == {1}
    assert "F-0004" not in numbers
    assert sink.connections <= 4  # one connection reused; reconnects after the faults only

    result = cli("invoices", "status", "1")
    assert "29 sent, 1 failed" in result.output
    result = cli("invoices", "report", "1", "--csv")
    lines = result.output.splitlines()
    assert lines[0].startswith("line,invoice_number")
    assert len(lines) == 31
    assert any(",F-0004," in line and ",failed," in line and "550" in line for line in lines)

    # Sending the same folder again does not make a second batch; resuming a finished one sends nothing.
    result = cli("invoices", "send", str(folder), "--mailbox", str(box), "--yes")
    assert result.exit_code == 2 and "already made into batch 1" in result.output
    result = cli("invoices", "send", "--resume", "1")
    assert result.exit_code == 0
    assert len(sink.received) == 29
    with h.services.db.session():
        assert account.address
