"""Invoice batches from the API (multipart upload) and the chat (Confirm button, progress every 10 %, report)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from handlers.invoices.service import InvoiceService
from integrations.whatsapp import Buttons
from storage.accounts import create_api_token, ensure_default_org
from tests.conftest import Harness, button_message, text_message
from tests.invoice_support import Directory, add_mailbox, make_folder


@pytest.fixture
def directory() -> Directory:
    return Directory()


@pytest.fixture
def h(make_harness: Any, directory: Directory, tmp_path: Path) -> Harness:
    harness: Harness = make_harness(build={"mail_directory": directory}, invoice_upload_dir=tmp_path / "uploads",
                                    invoice_rate_limits={"imap": {"units_per_minute": 6000}})
    return harness


def upload(h: Harness, token: str, folder: Path, **form: str) -> Any:
    files: list[tuple[str, tuple[str, bytes, str]]] = [
        ("manifest", ("manifest.csv", (folder / "manifest.csv").read_bytes(), "text/csv"))]
    files += [("files", (p.name, p.read_bytes(), "application/pdf")) for p in sorted(folder.glob("*.pdf"))]
    return h.client.post("/api/invoice-batches", files=files, data=form, headers={"Authorization": f"Bearer {token}"})


def texts(h: Harness) -> list[str]:
    return [getattr(s.message, "body", "") for s in h.whatsapp.outbox]


def test_upload_confirm_in_chat_progress_and_report(h: Harness, directory: Directory, tmp_path: Path) -> None:
    h.add_user()
    add_mailbox(h.services)
    with h.services.db.write() as session:
        token = create_api_token(session, ensure_default_org(session, "Test Org"), "tests")

    bad = make_folder(tmp_path / "bad", 2, extra_rows=["x@client.example,X,F-0000,1,2026-12-31,F-0001.pdf,"])
    answer = upload(h, token, bad, language="en")
    assert answer.status_code == 422
    problems = answer.json()["problems"]
    assert {(p["line"], p["code"]) for p in problems} == {(4, "duplicate_number"), (4, "duplicate_pdf")}
    assert problems[0]["message"].startswith("line 4: ")
    assert h.client.post("/api/invoice-batches", files=[], headers={"Authorization": "Bearer nope"}).status_code == 401

    folder = make_folder(tmp_path / "good", 10)
    answer = upload(h, token, folder, subject="Facture {{ invoice_number }} — {{ name }}")
    assert answer.status_code == 201, answer.text
    batch_id = answer.json()["id"]
    assert answer.json()["status"] == "draft"
    assert directory.mail.delivered == []

    h.post(text_message("envoie les factures"))
    h.drain()
    ask = h.whatsapp.outbox[-1].message
    assert isinstance(ask, Buttons) and "10 factures" in ask.body
    assert [b.title for b in ask.buttons] == ["Confirmer", "Annuler"]

    h.post(button_message(f"invoice:confirm:{batch_id}", "Confirmer"))
    h.drain()
    h.services.get(InvoiceService).wait_idle()
    h.drain()
    said = texts(h)
    assert any(t.startswith("C'est parti") for t in said)
    assert len([t for t in said if t.startswith(f"Lot {batch_id} :") and "%" in t]) == 9  # 10 % … 90 %
    assert any(t.startswith(f"Lot {batch_id} terminé") and "10 envoyées" in t for t in said)
    subjects = sorted(e.subject for e in directory.mail.delivered)
    assert subjects[0] == "Facture F-0000 — Client 0" and len(subjects) == 10

    h.post(text_message("factures statut"))
    h.drain()
    assert "10 envoyées" in texts(h)[-1]
    h.post(text_message("invoices status"))
    h.drain()
    assert "10 sent" in texts(h)[-1]

    report = h.client.get(f"/api/invoice-batches/{batch_id}/report.csv", headers={"Authorization": f"Bearer {token}"})
    assert report.status_code == 200 and len(report.text.splitlines()) == 11
    detail = h.client.get(f"/api/invoice-batches/{batch_id}", headers={"Authorization": f"Bearer {token}"}).json()
    assert detail["sent"] == 10 and all(r["status"] == "sent" for r in detail["rows"])
    # The same upload again is recognised, not made into a second batch.
    again = upload(h, token, folder, subject="Facture {{ invoice_number }} — {{ name }}")
    assert again.status_code == 409 and again.json()["existing_batch"] == batch_id


def test_nothing_ready_and_cancel(h: Harness, tmp_path: Path) -> None:
    h.add_user()
    add_mailbox(h.services)
    h.post(text_message("send invoices"))
    h.drain()
    assert "No batch of invoices is ready" in texts(h)[-1] or "Aucun lot" in texts(h)[-1]
    service = h.services.get(InvoiceService)
    manifest, box = service.check(h.org().id, make_folder(tmp_path / "b", 2), None)
    assert box is not None
    batch_id = service.create(h.org().id, manifest, box)
    h.post(button_message(f"invoice:cancel:{batch_id}", "Annuler"))
    h.drain()
    assert "Batch 1 cancelled" in texts(h)[-1]  # the user spoke English
    assert service.status(None, batch_id).status == "cancelled"


def test_upload_with_confirm_starts_at_once_and_a_lost_authorization_pauses(h: Harness, directory: Directory,
                                                                            tmp_path: Path) -> None:
    from integrations.mail import MailAuthError
    from storage.invoices import InvoiceBatch

    user = h.add_user()
    add_mailbox(h.services)
    with h.services.db.write() as session:
        token = create_api_token(session, ensure_default_org(session, "Test Org"), "tests")
    directory.mail.faults.append(("before", MailAuthError("invalid_grant")))
    answer = upload(h, token, make_folder(tmp_path / "b", 4), confirm="true")
    assert answer.status_code == 201, answer.text
    batch_id = answer.json()["id"]
    service = h.services.get(InvoiceService)
    service.wait_idle()
    status = service.status(None, batch_id)
    assert (status.status, status.pause_reason, status.sent) == ("paused", "auth", 0)
    # The mailbox linked again: confirming resumes it and it finishes.
    with h.services.db.write() as session:
        batch = session.get(InvoiceBatch, batch_id)
        assert batch is not None
        batch.user_id = user.id
    resumed = h.client.post(f"/api/invoice-batches/{batch_id}/confirm", headers={"Authorization": f"Bearer {token}"})
    assert resumed.status_code == 202
    service.wait_idle()
    assert service.status(None, batch_id).sent == 4
    assert len(directory.mail.delivered) == 4
    h.drain()
    assert any("terminé" in t for t in texts(h))


def test_in_the_distributed_mode_a_confirmed_batch_goes_to_the_bulk_queue(h: Harness, directory: Directory,
                                                                          tmp_path: Path) -> None:
    """The web or chat process only hands the batch over; the bulk worker's task runs it to the end."""
    h.add_user()
    add_mailbox(h.services)
    with h.services.db.write() as session:
        token = create_api_token(session, ensure_default_org(session, "Test Org"), "tests")
    handed: list[tuple[str, int]] = []
    h.services.bulk_launcher = lambda kind, ident: handed.append((kind, ident)) is None
    answer = upload(h, token, make_folder(tmp_path / "q", 3), confirm="true")
    assert answer.status_code == 201, answer.text
    batch_id = answer.json()["id"]
    service = h.services.get(InvoiceService)
    service.wait_idle()
    assert handed == [("invoices", batch_id)]
    assert directory.mail.delivered == []  # nothing ran in this process
    # What the `bulk` queue's task does in a worker:
    h.services.bulk_handlers["invoices"](h.services, batch_id)
    assert service.status(None, batch_id).sent == 3
    assert len(directory.mail.delivered) == 3
