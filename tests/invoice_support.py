"""Helpers for invoice tests: batch folders, mailbox rows, a fake timer and a flaky recording sender."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from integrations.mail import MailError, OutgoingEmail, SentReceipt


def pdf_bytes(size: int = 2000, seed: int = 0) -> bytes:
    """Bytes that pass for a PDF (the header is what the check reads)."""
    head = b"%PDF-1.4\n% invoice " + str(seed).encode() + b"\n"
    return head + b"0" * max(0, size - len(head))


def make_folder(root: Path, count: int, *, pdf_size: int = 2000, domain: str = "client.example",
                extra_rows: list[str] | None = None, delimiter: str = ",") -> Path:
    """A batch folder: ``count`` PDFs and a manifest with one row each."""
    root.mkdir(parents=True, exist_ok=True)
    d = delimiter
    lines = [d.join(["email", "name", "invoice_number", "amount", "due_date", "pdf", "cc"])]
    for i in range(count):
        (root / f"F-{i:04d}.pdf").write_bytes(pdf_bytes(pdf_size, i))
        lines.append(d.join([f"client{i}@{domain}", f"Client {i}", f"F-{i:04d}", f"{100 + i}.50", "2026-12-31",
                             f"F-{i:04d}.pdf", ""]))
    lines.extend(extra_rows or [])
    (root / "manifest.csv").write_text("\n".join(lines) + "\n", "utf-8")
    return root


def add_mailbox(services: Any, provider: str = "imap", address: str = "factures@atelier.test",
                credentials: str | None = None, **columns: Any) -> int:
    """A linked mailbox row."""
    from storage.accounts import ensure_default_org
    from storage.mail import Mailbox

    with services.db.write() as session:
        org = ensure_default_org(session, "Test Org")
        box = Mailbox(org_id=org.id, provider=provider, name=address, address=address, folders=["INBOX"], cursor={},
                      credentials=credentials, is_default=True, status="active", enabled=True, failures=0,
                      initial_sync_done=True, sync_interval_minutes=5, **columns)
        session.add(box)
        session.flush()
        return int(box.id)


class FakeTimer:
    """Time that only moves when the runner sleeps (or the test says so)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self.current

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        self.slept.append(seconds)
        self.current += timedelta(seconds=max(0.0, seconds))
        return not stop.is_set()


@dataclass
class FlakyMail:
    """Records deliveries; queued faults make sends fail before or after "delivery"."""

    address: str = "factures@atelier.test"
    delivered: list[OutgoingEmail] = field(default_factory=list)
    # Each fault: (kind, error): kind "before" raises without delivering, "after" delivers then raises.
    faults: deque[tuple[str, MailError]] = field(default_factory=deque)
    permanent: dict[str, MailError] = field(default_factory=dict)  # by recipient
    lookups: int = 0
    sends: int = 0

    def send(self, email: OutgoingEmail) -> SentReceipt:
        self.sends += 1
        for rcpt in email.recipients:
            if rcpt in self.permanent:
                raise self.permanent[rcpt]
        if self.faults:
            kind, error = self.faults.popleft()
            if kind == "after":
                self.delivered.append(email)
            raise error
        self.delivered.append(email)
        return SentReceipt(message_id=email.message_id, provider_id=f"p-{len(self.delivered)}")

    def find_sent(self, message_id: str) -> bool:
        self.lookups += 1
        return any(e.message_id == message_id for e in self.delivered)


def invoice_numbers(raws: list[bytes]) -> Counter[str]:
    """How many times each invoice went out, from raw delivered messages (by attachment name)."""
    seen: Counter[str] = Counter()
    for raw in raws:
        parsed = message_from_bytes(raw, policy=policy.default)
        for part in parsed.iter_attachments():  # type: ignore[attr-defined]
            name = part.get_filename() or ""
            if name.endswith(".pdf"):
                seen[name[:-4]] += 1
    return seen


@dataclass
class Directory:
    """The mailbox directory the harness gets: every mailbox sends through one ``FlakyMail``."""

    mail: FlakyMail = field(default_factory=FlakyMail)

    def sender_for(self, org_id: int, mailbox_id: int | None = None) -> FlakyMail:
        return self.mail
