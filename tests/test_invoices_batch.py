"""Invoice batches end to end on the real service and database: checks, exactly once, retries, pause, report."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from handlers.invoices.manifest import load
from handlers.invoices.runner import BatchRunner
from handlers.invoices.service import BatchExists, InvoiceService
from integrations.mail import (
    AmbiguousSendError,
    MailRateLimited,
    PermanentSendError,
    TransientMailError,
)
from storage.invoices import InvoiceEmail
from tests.conftest import Harness
from tests.invoice_support import Directory, FakeTimer, add_mailbox, make_folder, pdf_bytes


@pytest.fixture
def directory() -> Directory:
    return Directory()


@pytest.fixture
def h(make_harness: Any, directory: Directory) -> Harness:
    harness: Harness = make_harness(build={"mail_directory": directory}, invoice_retry_base=0.01)
    return harness


def prepared(h: Harness, folder: Path, *, limits: dict[str, Any] | None = None) -> tuple[InvoiceService, int]:
    service = h.services.get(InvoiceService)
    box = add_mailbox(h.services)
    if limits:
        h.services.settings.invoice_rate_limits["imap"] = limits
    manifest, mailbox = service.check(h.org().id, folder, box)
    assert manifest.valid, manifest.problems
    assert mailbox is not None
    return service, service.create(h.org().id, manifest, mailbox, confirmed=True)


def run(service: InvoiceService, batch_id: int, timer: FakeTimer) -> Any:
    runner = service.runner(batch_id)
    runner.timer = timer
    return runner.run()


def test_every_problem_is_reported_by_line_and_nothing_is_created(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "b", 3, extra_rows=[
        "not-an-address,Bad,F-9001,10,2026-12-31,F-0000.pdf,",
        "ok@client.example,Missing,F-9002,10,2026-12-31,nope.pdf,",
        "ok@client.example;also@client.example,Dup,F-0001,10,2026-12-31,F-0001.pdf,",
        "ok@client.example,Amount,F-9003,ten,31/12/2026,F-9003.pdf,bad cc",
    ])
    (folder / "F-9003.pdf").write_bytes(b"not a pdf")
    manifest = load(folder, provider="gmail")
    assert not manifest.valid
    found = {(p.line, p.key.rsplit(".", 1)[-1]) for p in manifest.problems}
    assert (5, "email") in found
    assert (5, "duplicate_pdf") in found
    assert (6, "pdf_missing") in found
    assert (7, "duplicate_number") in found
    assert (8, "amount") in found and (8, "pdf_not_pdf") in found and (8, "email") in found
    assert len(manifest.rows) == 3  # the three good rows, but the batch is refused as a whole


def test_attachment_over_the_provider_limit_and_templates(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "b", 1)
    (folder / "F-0000.pdf").write_bytes(pdf_bytes(26 * 1024 * 1024))
    assert [p.key for p in load(folder, provider="gmail").problems] == ["invoices.problem.too_large"]
    assert load(folder, provider="outlook").valid
    ok = load(folder, provider="outlook", subject="Votre facture {{ invoice_number }}")
    assert ok.rows[0].subject == "Votre facture F-0000"
    unknown = load(folder, provider="outlook", subject="Facture {{ numero }}")
    assert [p.key for p in unknown.problems] == ["invoices.problem.template"]


def test_semicolon_manifest_with_several_addresses(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "b", 1, delimiter=";")
    (folder / "manifest.csv").write_text(
        'email;name;invoice_number;amount;due_date;pdf;cc\n'
        '"a@client.example;b@client.example";Client;F-1;"1 200,50";31/12/2026;F-0000.pdf;c@client.example\n', "utf-8")
    manifest = load(folder)
    assert manifest.valid, manifest.problems
    assert manifest.rows[0].to == ["a@client.example", "b@client.example"] and manifest.rows[0].cc == ["c@client.example"]


def test_sends_every_invoice_once_through_faults(h: Harness, directory: Directory, tmp_path: Path) -> None:
    mail = directory.mail
    service, batch_id = prepared(h, make_folder(tmp_path / "b", 12), limits={"units_per_minute": 600})
    mail.faults.extend([
        ("before", TransientMailError("503")),
        ("after", AmbiguousSendError("reset after sending")),  # delivered, answer lost: must not resend
        ("before", MailRateLimited("429", retry_after=3.0)),
        ("after", AmbiguousSendError("timeout")),
    ])
    mail.permanent["client7@client.example"] = PermanentSendError("550 no such user")
    timer = FakeTimer()
    outcome = run(service, batch_id, timer)
    assert outcome.kind == "done"
    numbers = Counter(e.attachments[0].filename for e in mail.delivered)
    assert len(numbers) == 11 and set(numbers.values()) == {1}
    assert "F-0007.pdf" not in numbers
    status = service.status(None, batch_id)
    assert (status.sent, status.failed, status.pending) == (11, 1, 0)
    assert mail.lookups == 2  # one Message-ID lookup per ambiguous failure
    assert any(s >= 3.0 for s in timer.slept)  # Retry-After honoured
    rows = {r["invoice_number"]: r for r in service.rows(None, batch_id)}
    assert rows["F-0007"]["status"] == "failed" and "550" in rows["F-0007"]["error"]
    csv_text = service.report_csv(None, batch_id)
    assert csv_text.splitlines()[0].startswith("line,invoice_number,name,email")
    assert len(csv_text.splitlines()) == 13
    assert "11 sent, 1 failed" in service.report_text(batch_id, "en")


def test_gives_up_after_five_retries(h: Harness, directory: Directory, tmp_path: Path) -> None:
    mail = directory.mail
    service, batch_id = prepared(h, make_folder(tmp_path / "b", 2))
    mail.faults.extend([("before", TransientMailError("502"))] * 6)
    timer = FakeTimer()
    assert run(service, batch_id, timer).kind == "done"
    rows = service.rows(None, batch_id)
    assert [r["status"] for r in rows] == ["failed", "sent"]
    assert "gave up after 6 attempts" in rows[0]["error"]
    assert len(mail.delivered) == 1


def test_a_crash_between_send_and_record_is_settled_by_message_id(h: Harness, directory: Directory,
                                                                  tmp_path: Path) -> None:
    """A runner that died with rows in 'sending' (one delivered, one not) is taken over after its lease."""
    mail = directory.mail
    service, batch_id = prepared(h, make_folder(tmp_path / "b", 4))
    timer = FakeTimer()
    first = service.runner(batch_id)
    first.timer = timer
    with h.services.db.write() as session:
        from storage.invoices import claim_email, take_batch

        assert take_batch(session, batch_id, first.token, timer.now(), first.lease)
        rows = session.query(InvoiceEmail).filter_by(batch_id=batch_id).order_by(InvoiceEmail.id).all()
        claim_email(session, rows[0].id, timer.now())
        claim_email(session, rows[1].id, timer.now())
    # Row 0 reached the provider before the "crash"; row 1 did not.
    runner_email = first._email(rows[0].recipients, rows[0].fields, rows[0].pdf_path, rows[0].message_id)
    mail.delivered.append(runner_email)
    second = service.runner(batch_id)
    second.timer = timer
    assert second.run().kind == "busy"  # the first runner's lease is still live
    timer.current += first.lease + timedelta(seconds=1)
    assert second.run().kind == "done"
    assert sorted(e.attachments[0].filename for e in mail.delivered) == [f"F-{i:04d}.pdf" for i in range(4)]
    assert mail.lookups == 2


def test_daily_cap_pauses_tells_the_chat_and_resumes_the_next_day(h: Harness, directory: Directory,
                                                                   tmp_path: Path) -> None:
    user = h.add_user()
    service, batch_id = prepared(h, make_folder(tmp_path / "b", 5),
                                 limits={"units_per_minute": 600, "daily_messages": 3})
    with h.services.db.write() as session:
        from storage.invoices import InvoiceBatch

        batch = session.get(InvoiceBatch, batch_id)
        assert batch is not None
        batch.user_id = user.id
    timer = FakeTimer()
    service.timer = timer
    outcome = run(service, batch_id, timer)
    assert outcome.kind == "paused" and outcome.until is not None
    service._notify_outcome(batch_id, outcome)
    assert len(directory.mail.delivered) == 3
    assert service.status(None, batch_id).status == "paused"
    assert service.resume_due() == 0  # not yet
    timer.current = outcome.until + timedelta(minutes=1)  # the rolling day of the first three sends is over
    assert service.resume_due() == 1
    service.wait_idle()
    assert service.status(None, batch_id).status == "done"
    assert len(directory.mail.delivered) == 5
    h.drain()
    texts = [s.text for s in h.whatsapp.outbox]
    assert any("plafond quotidien" in t for t in texts)


def test_the_same_folder_is_not_made_into_a_second_batch(h: Harness, tmp_path: Path) -> None:
    service, batch_id = prepared(h, make_folder(tmp_path / "b", 2))
    manifest, box = service.check(h.org().id, tmp_path / "b", None)
    assert box is not None
    with pytest.raises(BatchExists) as caught:
        service.create(h.org().id, manifest, box, confirmed=True)
    assert caught.value.batch_id == batch_id


def test_runner_without_mailbox_helpers_is_usable_directly(h: Harness, directory: Directory, tmp_path: Path) -> None:
    service, batch_id = prepared(h, make_folder(tmp_path / "b", 1))
    runner = BatchRunner(h.services.db, batch_id, directory.mail, service.limiters.get("x", service.limits("imap", "")),
                         timer=FakeTimer())
    assert runner.run().kind == "done"


def test_the_scheduler_takes_over_a_batch_whose_runner_died(h: Harness, directory: Directory, tmp_path: Path) -> None:
    service, batch_id = prepared(h, make_folder(tmp_path / "b", 3), limits={"units_per_minute": 600})
    timer = FakeTimer()
    service.timer = timer
    dead = service.runner(batch_id)
    with h.services.db.write() as session:
        from storage.invoices import take_batch

        assert take_batch(session, batch_id, dead.token, timer.now(), dead.lease)
    assert service.resume_due() == 0  # its lease is still live
    timer.current += dead.lease + timedelta(seconds=1)
    assert service.resume_due() == 1
    service.wait_idle()
    assert service.status(None, batch_id).status == "done"
    assert len(directory.mail.delivered) == 3


def test_info_logs_carry_no_personal_data(h: Harness, directory: Directory, tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    directory.mail.faults.extend([("before", TransientMailError("451 client3@client.example busy")),
                                  ("after", AmbiguousSendError("reset"))])
    directory.mail.permanent["client1@client.example"] = PermanentSendError("550 client1@client.example unknown")
    caplog.set_level("INFO")
    service, batch_id = prepared(h, make_folder(tmp_path / "b", 5))
    runner = service.runner(batch_id)
    runner.timer = FakeTimer()
    runner.log_every = 0.0
    assert runner.run().kind == "done"
    text = "\n".join(r.getMessage() for r in caplog.records if r.levelname == "INFO")
    assert "settled" in text and "emails/s" in text and "left" in text  # progress with rate and time left
    assert "@client.example" not in text and "Client " not in text
