"""Invoice batches through the Gmail API fake: per-user quota with 429s, 5xx, connections dropped after
accepting a message, and a sending process killed with SIGKILL and started again. Every invoice
must reach the sent mail exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from handlers.invoices.service import InvoiceService
from integrations.mail import AmbiguousSendError, MailAttachment, MailSenderDirectory, OutgoingEmail
from tests.conftest import TEST_KEY, Harness
from tests.fake_gmail import FakeGmail
from tests.invoice_support import invoice_numbers, make_folder, pdf_bytes
from tests.mail_fixtures import add_gmail, connectors_for

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def gmail(fake_gmail: FakeGmail) -> Any:
    yield fake_gmail
    fake_gmail.send_quota = None
    fake_gmail.chaos = 0.0
    fake_gmail.quota_rejections = fake_gmail.chaos_injected = 0


@pytest.fixture
def h(make_harness: Any, gmail: FakeGmail) -> Harness:
    harness: Harness = make_harness(build={"mail_connectors": connectors_for(gmail=gmail)}, invoice_retry_base=0.05)
    return harness


def batch(h: Harness, gmail: FakeGmail, tmp_path: Path, count: int, limits: dict[str, float],
          large: dict[int, int] | None = None) -> tuple[InvoiceService, int, str]:
    address = f"factures-{time.monotonic_ns()}@atelier.example"
    box_id = add_gmail(h, gmail, address, synced=True)
    h.services.settings.invoice_rate_limits["gmail"] = limits
    service = h.services.get(InvoiceService)
    folder = make_folder(tmp_path / "b", count)
    for index, size in (large or {}).items():
        (folder / f"F-{index:04d}.pdf").write_bytes(pdf_bytes(size, index))
    manifest, box = service.check(h.org().id, folder, box_id)
    assert manifest.valid and box is not None, manifest.problems
    return service, service.create(h.org().id, manifest, box, confirmed=True), address


def delivered(gmail: FakeGmail, address: str) -> Counter[str]:
    return invoice_numbers([m.raw for m in gmail.account(address).sent])


def test_a_dropped_connection_is_ambiguous_and_never_resent_by_the_transport(h: Harness, gmail: FakeGmail,
                                                                             tmp_path: Path) -> None:
    """httplib2 would resend silently (RETRIES = 2); the one-attempt transport reports an ambiguous send."""
    address = f"factures-{time.monotonic_ns()}@atelier.example"
    add_gmail(h, gmail, address, synced=True)
    sender = h.services.get(MailSenderDirectory).sender_for(h.org().id)  # type: ignore[type-abstract]
    before = len(gmail.requests_to(r"/messages/send$", "POST"))
    gmail.fail("POST", r"/messages/send$", disconnect=True, after=True)
    email = OutgoingEmail(to=("client@client.example",), subject="Facture F-1", text="Bonjour",
                          attachments=(MailAttachment("F-1.pdf", "application/pdf", b"%PDF-1.4"),))
    with pytest.raises(AmbiguousSendError):
        sender.send(email)
    assert len(gmail.requests_to(r"/messages/send$", "POST")) == before + 1
    assert len(gmail.account(address).sent) == 1
    assert sender.find_sent(email.message_id) is True


def test_over_quota_answers_429_and_every_invoice_goes_once(h: Harness, gmail: FakeGmail, tmp_path: Path) -> None:
    # The provider allows 10 sends a second; Courrier is (mis)configured for 30: Gmail answers 429.
    gmail.send_quota = (1000.0, 1.0)
    service, batch_id, address = batch(h, gmail, tmp_path, 25, {"units_per_minute": 3000, "window": 1},
                                       large={3: 5_500_000})
    outcome = service.run(batch_id)
    assert outcome.kind == "done"
    assert gmail.quota_rejections > 0
    assert gmail.requests_to(r"^/upload/gmail/v1/users/me/messages/send$")  # the 5.5 MB invoice: upload endpoint
    numbers = delivered(gmail, address)
    assert len(numbers) == 25 and set(numbers.values()) == {1}
    assert service.status(None, batch_id).failed == 0


def test_5xx_and_dropped_connections_after_accepting(h: Harness, gmail: FakeGmail, tmp_path: Path) -> None:
    gmail.send_quota = (2000.0, 1.0)
    gmail.chaos = 0.3
    gmail.chaos_rng.seed(11)
    service, batch_id, address = batch(h, gmail, tmp_path, 30, {"units_per_minute": 2000, "window": 1})
    assert service.run(batch_id).kind == "done"
    assert gmail.chaos_injected >= 5
    numbers = delivered(gmail, address)
    assert len(numbers) == 30 and set(numbers.values()) == {1}, numbers
    lookups = [r for r in gmail.requests_to(r"/messages$", "GET") if "rfc822msgid" in (r.arg("q") or "")]
    assert lookups  # ambiguous failures were checked by Message-ID before any resend
    assert gmail.quota_rejections == 0  # Courrier's limiter keeps within the quota by itself


def test_sigkill_in_the_middle_then_restart_sends_each_invoice_once(h: Harness, gmail: FakeGmail, tmp_path: Path,
                                                                    db_url: str) -> None:
    gmail.chaos = 0.1
    gmail.chaos_rng.seed(5)
    service, batch_id, address = batch(h, gmail, tmp_path, 60, {"units_per_minute": 4000, "window": 1})
    env = {
        **os.environ,
        "COURRIER_DATABASE_URL": db_url, "COURRIER_SECRET_KEYS": TEST_KEY, "COURRIER_SANDBOX": "true",
        "COURRIER_GOOGLE_CLIENT_ID": gmail.client_id, "COURRIER_GOOGLE_CLIENT_SECRET": gmail.client_secret,
        "COURRIER_GOOGLE_AUTH_URL": gmail.auth_url, "COURRIER_GOOGLE_TOKEN_URL": gmail.token_url,
        "COURRIER_GMAIL_API_URL": gmail.api_url, "COURRIER_INVOICE_LEASE_SECONDS": "1",
        "COURRIER_INVOICE_RETRY_BASE": "0.05", "COURRIER_LOG_LEVEL": "WARNING",
        "COURRIER_INVOICE_RATE_LIMITS": json.dumps({"gmail": {"units_per_minute": 4000, "window": 1}}),
    }
    command = [sys.executable, "-m", "bot", "invoices", "send", "--resume", str(batch_id)]
    kills = 0
    for target in (8, 20, 35, 50):
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while sum(delivered(gmail, address).values()) < target and process.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.005)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(10)
        assert process.stderr is not None
        process.stderr.close()
        time.sleep(1.2)  # the dead runner's lease (1 s) expires
    final = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert final.returncode == 0, final.stderr[-2000:]
    assert kills >= 3
    numbers = delivered(gmail, address)
    assert len(numbers) == 60, sorted(set(f"F-{i:04d}" for i in range(60)) - set(numbers))
    assert set(numbers.values()) == {1}, {k: v for k, v in numbers.items() if v > 1}
    assert service.status(None, batch_id).sent == 60
