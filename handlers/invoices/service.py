"""Invoice batches: check, create, confirm, run (in the foreground for the CLI, in a thread for chat and API), report.

One code path for the command line, the chat and the API. Sending happens outside any request:
the chat and the API only create and confirm a batch and hand it to a background thread; the
scheduler resumes batches paused at a daily cap and batches whose runner died.
"""

from __future__ import annotations

import csv
import io
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.outbox import send_to_user
from bot.services import Services
from handlers.invoices.manifest import Manifest, Problem, load
from handlers.invoices.ratelimit import DAY, LimiterRegistry, RetryPolicy, limits_for
from handlers.invoices.runner import BatchRunner, Progress, RealTimer, RunOutcome, Timer, format_eta
from integrations.mail import MailSenderDirectory, make_message_id
from integrations.whatsapp import Text
from storage.invoices import InvoiceBatch, InvoiceEmail, batches_of, counts, due_paused
from storage.mail import Mailbox
from storage.models import User

log = logging.getLogger(__name__)
BULK_KIND = "invoices"  # the kind of long run this feature hands to the bulk queue (distributed mode)


class BatchExists(Exception):
    """The same folder, templates and manifest were already made into a batch."""

    def __init__(self, batch_id: int, status: str) -> None:
        super().__init__(f"batch {batch_id} ({status})")
        self.batch_id = batch_id
        self.status = status


class BatchNotFound(LookupError):
    """No such batch in this organization."""


@dataclass(frozen=True)
class BatchStatus:
    """Where a batch stands, for every front end."""

    id: int
    status: str
    total: int
    sent: int
    failed: int
    skipped: int
    pending: int
    elapsed: float
    paused_until: str | None
    pause_reason: str | None

    @property
    def rate(self) -> float:
        """Average emails per second while sending."""
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0


class InvoiceService:
    """Batches of invoices sent from a linked mailbox."""

    def __init__(self, services: Services, *, timer: Timer | None = None, workers: int = 2) -> None:
        self.services = services
        self.timer = timer or RealTimer()
        self.limiters = LimiterRegistry()
        self._pool: ThreadPoolExecutor | None = None
        self._workers = workers
        self._running: dict[int, threading.Event] = {}
        self._futures: list[Future[Any]] = []
        self._lock = threading.Lock()

    # ------------------------------------------------------------ helpers

    def t(self, key: str, lang: str, **params: Any) -> str:
        """A catalog message."""
        return self.services.catalog.t(key, lang, **params)

    def explain(self, problem: Problem, lang: str) -> str:
        """One problem as a report line."""
        text = self.t(problem.key, lang, **problem.params)
        return self.t("invoices.report.problem_line", lang, line=problem.line, text=text) if problem.line else text

    def mailbox(self, org_id: int, mailbox_id: int | None) -> Mailbox | None:
        """The mailbox that will send (the default one when no id is given)."""
        with self.services.db.session() as session:
            if mailbox_id is not None:
                box = session.get(Mailbox, mailbox_id)
                return box if box is not None and box.org_id == org_id else None
            return session.scalars(select(Mailbox).where(Mailbox.org_id == org_id, Mailbox.enabled.is_(True))
                                   .order_by(Mailbox.is_default.desc(), Mailbox.id)).first()

    def limits(self, provider: str, address: str) -> Any:
        """The configured limits of a mailbox."""
        overrides = self.services.settings.invoice_rate_limits.get(provider)
        return limits_for(provider, address, dict(overrides) if overrides else None)

    # ------------------------------------------------------------ preparing

    def check(self, org_id: int, folder: Path, mailbox_id: int | None, *, subject: str | None = None,
              body: str | None = None, lang: str = "fr") -> tuple[Manifest, Mailbox | None]:
        """Read and check a folder against the mailbox's provider limits; writes nothing."""
        box = self.mailbox(org_id, mailbox_id)
        manifest = load(folder, provider=box.provider if box else "imap", subject=subject, body=body, language=lang)
        if box is None:
            manifest.problems.insert(0, Problem(0, "invoices.problem.no_mailbox"))
        return manifest, box

    def create(self, org_id: int, manifest: Manifest, box: Mailbox, *, user_id: int | None = None,
               lang: str = "fr", confirmed: bool = False) -> int:
        """Store a valid batch and its outbox rows (each with its own Message-ID)."""
        if not manifest.valid:
            raise ValueError("the batch has problems")
        now = self.services.clock.now()
        domain = box.address.rpartition("@")[2] or "courrier.local"
        with self.services.db.write() as session:
            existing = session.scalars(select(InvoiceBatch).where(
                InvoiceBatch.org_id == org_id, InvoiceBatch.fingerprint == manifest.fingerprint,
                InvoiceBatch.mailbox_id == box.id, InvoiceBatch.status != "cancelled")).first()
            if existing is not None:
                raise BatchExists(existing.id, existing.status)
            batch = InvoiceBatch(
                org_id=org_id, user_id=user_id, mailbox_id=box.id, provider=box.provider,
                fingerprint=manifest.fingerprint, folder=str(manifest.folder),
                subject_template=manifest.subject_template, body_template=manifest.body_template, language=lang,
                status="confirmed" if confirmed else "draft", total=len(manifest.rows), created_at=now,
                confirmed_at=now if confirmed else None, notified_step=0, active_seconds=0.0,
            )
            session.add(batch)
            session.flush()
            for row in manifest.rows:
                fields = dict(row.fields)
                fields["_subject"], fields["_body"] = row.subject, row.body
                session.add(InvoiceEmail(
                    batch_id=batch.id, line=row.line, fields=fields, recipients={"to": row.to, "cc": row.cc},
                    pdf_path=str(row.pdf), message_id=make_message_id(domain), state="pending", attempts=0,
                    uncertain=False, updated_at=now,
                ))
            log.info("invoices: batch %s created with %d invoices (%s)", batch.id, len(manifest.rows), box.provider)
            return batch.id

    def confirm(self, org_id: int, batch_id: int) -> bool:
        """Draft → confirmed; False when the batch was not a draft."""
        with self.services.db.write() as session:
            batch = self._batch(session, org_id, batch_id)
            if batch.status != "draft":
                return False
            batch.status, batch.confirmed_at = "confirmed", self.services.clock.now()
            return True

    def cancel(self, org_id: int, batch_id: int) -> bool:
        """Drop a draft."""
        with self.services.db.write() as session:
            batch = self._batch(session, org_id, batch_id)
            if batch.status != "draft":
                return False
            batch.status = "cancelled"
            return True

    def resume(self, org_id: int, batch_id: int) -> bool:
        """Make a paused or stopped batch runnable again (a draft stays a draft)."""
        with self.services.db.write() as session:
            batch = self._batch(session, org_id, batch_id)
            if batch.status in ("paused", "confirmed"):
                batch.status, batch.paused_until, batch.pause_reason = "confirmed", None, None
                return True
            return batch.status == "running"

    @staticmethod
    def _batch(session: Any, org_id: int | None, batch_id: int) -> InvoiceBatch:
        batch = session.get(InvoiceBatch, batch_id)
        if batch is None or (org_id is not None and batch.org_id != org_id):
            raise BatchNotFound(batch_id)
        return batch  # type: ignore[no-any-return]

    # ------------------------------------------------------------ running

    def runner(self, batch_id: int, *, stop: threading.Event | None = None,
               on_progress: Callable[[Progress], None] | None = None) -> BatchRunner:
        """A runner for one batch, its sender and its mailbox's shared limiter."""
        from storage.invoices import sent_since

        settings = self.services.settings
        with self.services.db.session() as session:
            batch = self._batch(session, None, batch_id)
            org_id, mailbox_id = batch.org_id, batch.mailbox_id
            box = session.get(Mailbox, mailbox_id) if mailbox_id is not None else None
            provider, address = (box.provider, box.address) if box is not None else (batch.provider, "")
            history = sent_since(session, mailbox_id, self.timer.now() - DAY)
        directory = self.services.get(MailSenderDirectory)  # type: ignore[type-abstract]
        sender = directory.sender_for(org_id, mailbox_id)
        limiter = self.limiters.get(mailbox_id, self.limits(provider, address), history)
        return BatchRunner(
            self.services.db, batch_id, sender, limiter, timer=self.timer,
            policy=RetryPolicy(base=settings.invoice_retry_base),
            lease=timedelta(seconds=settings.invoice_lease_seconds), stop=stop, on_progress=on_progress,
        )

    def run(self, batch_id: int, *, stop: threading.Event | None = None,
            on_progress: Callable[[Progress], None] | None = None) -> RunOutcome:
        """Send a confirmed batch in this thread until it is done, paused or stopped."""
        return self.runner(batch_id, stop=stop, on_progress=on_progress).run()

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="invoices")
            return self._pool

    def start(self, batch_id: int) -> bool:
        """Run a batch in a background thread, telling its user in the chat; False if already running here.

        In the distributed mode the batch goes to the ``bulk`` queue instead, so it never holds up chat replies.
        """
        if self.services.bulk_launcher is not None:
            return self.services.bulk_launcher(BULK_KIND, batch_id)
        with self._lock:
            if batch_id in self._running:
                return False
            stop = threading.Event()
            self._running[batch_id] = stop
        future = self._executor().submit(self._background, batch_id, stop)
        with self._lock:
            self._futures = [f for f in self._futures if not f.done()] + [future]
        return True

    def run_in_worker(self, batch_id: int) -> None:
        """The ``bulk`` queue's task: run the batch in this worker, telling its user in the chat.

        The rate limiter lives in the process, so batches of one mailbox run one after the other across
        the workers (a PostgreSQL lock on the mailbox): two at once would each spend the whole quota.
        """
        from storage import locks

        with self.services.db.session() as session:
            mailbox_id = self._batch(session, None, batch_id).mailbox_id
        with locks.waited(self.services.db.engine, locks.MAILBOX_SEND, f"mailbox:{mailbox_id}"):
            self._background(batch_id, threading.Event())

    def _background(self, batch_id: int, stop: threading.Event) -> None:
        try:
            outcome = self.run(batch_id, stop=stop, on_progress=lambda p: self._notify_progress(p))
            self._notify_outcome(batch_id, outcome)
        except Exception as exc:
            log.warning("invoices: batch %s could not run: %s", batch_id, type(exc).__name__)
            self._notify(batch_id, "invoices.chat.cannot_run", step="error", error=type(exc).__name__)
        finally:
            with self._lock:
                self._running.pop(batch_id, None)

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait for background runs to finish (tests, shutdown)."""
        with self._lock:
            futures = list(self._futures)
        for future in futures:
            future.result(timeout=timeout)

    def shutdown(self, grace: float = 10.0) -> None:
        """Ask background runs to stop after their current email."""
        with self._lock:
            for stop in self._running.values():
                stop.set()
            pool = self._pool
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def resume_due(self) -> int:
        """Scheduler tick: restart batches whose daily pause is over or whose runner died."""
        now = self.timer.now()
        with self.services.db.write() as session:
            ids = due_paused(session, now)
            for batch_id in ids:
                batch = session.get(InvoiceBatch, batch_id)
                if batch is not None and batch.status == "paused":
                    batch.status, batch.paused_until, batch.pause_reason = "confirmed", None, None
        started = 0
        for batch_id in ids:
            started += int(self.start(batch_id))
        return started

    # ------------------------------------------------------------ chat notices

    def _notify(self, batch_id: int, key: str, *, step: str, **params: Any) -> None:
        with self.services.db.write() as session:
            batch = session.get(InvoiceBatch, batch_id)
            if batch is None or batch.user_id is None:
                return
            user = session.get(User, batch.user_id)
            if user is None:
                return
            lang = batch.language or "fr"
            text = self.t(key, lang, batch=batch_id, **params)
            send_to_user(session, user, [Text(text)], key=f"invoices:{batch_id}:{step}",
                         now=self.services.clock.now())
        self.services.outbox_changed()

    def _notify_progress(self, progress: Progress) -> None:
        if progress.total <= 0:
            return
        step = progress.done * 10 // progress.total
        if step <= 0 or step >= 10:
            return
        with self.services.db.write() as session:
            batch = session.get(InvoiceBatch, progress.batch_id)
            if batch is None or batch.user_id is None or batch.notified_step >= step:
                return
            batch.notified_step = step
        self._notify(progress.batch_id, "invoices.chat.progress", step=f"p{step}", percent=step * 10,
                     done=progress.done, total=progress.total, rate=f"{progress.rate:.1f}",
                     eta=format_eta(progress.eta))

    def _notify_outcome(self, batch_id: int, outcome: RunOutcome) -> None:
        if outcome.kind == "done":
            with self.services.db.session() as session:
                batch = session.get(InvoiceBatch, batch_id)
                lang = batch.language if batch is not None else "fr"
            self._notify(batch_id, "invoices.chat.final", step="done", report=self.report_text(batch_id, lang))
        elif outcome.kind == "paused":
            with self.services.db.session() as session:
                batch = session.get(InvoiceBatch, batch_id)
                reason = batch.pause_reason if batch is not None else None
            if reason == "daily_cap" and outcome.until is not None:
                self._notify(batch_id, "invoices.chat.paused_daily", step=f"pause:{outcome.until.isoformat()}",
                             until=outcome.until.strftime("%Y-%m-%d %H:%M UTC"))
            else:
                self._notify(batch_id, "invoices.chat.paused_auth", step="pause:auth")

    # ------------------------------------------------------------ reports

    def status(self, org_id: int | None, batch_id: int) -> BatchStatus:
        """Counts and timings of a batch."""
        with self.services.db.session() as session:
            batch = self._batch(session, org_id, batch_id)
            c = counts(session, batch_id)
            return BatchStatus(batch.id, batch.status, batch.total, c["sent"], c["failed"], c["skipped"],
                               c["pending"] + c["sending"], float(batch.active_seconds or 0.0),
                               batch.paused_until.isoformat() if batch.paused_until else None, batch.pause_reason)

    def rows(self, org_id: int | None, batch_id: int) -> list[dict[str, Any]]:
        """Per-row status and error, in manifest order."""
        with self.services.db.session() as session:
            self._batch(session, org_id, batch_id)
            result = []
            for row in session.scalars(select(InvoiceEmail).where(InvoiceEmail.batch_id == batch_id)
                                       .order_by(InvoiceEmail.id)):
                result.append({
                    "line": row.line, "invoice_number": row.fields.get("invoice_number", ""),
                    "name": row.fields.get("name", ""), "email": ";".join(row.recipients.get("to", [])),
                    "cc": ";".join(row.recipients.get("cc", [])), "status": row.state, "attempts": row.attempts,
                    "error": row.error or "" if row.state != "sent" else "", "message_id": row.message_id,
                    "sent_at": row.sent_at.isoformat() if row.sent_at else "",
                })
            return result

    def report_csv(self, org_id: int | None, batch_id: int) -> str:
        """The per-row report as CSV."""
        rows = self.rows(org_id, batch_id)
        out = io.StringIO()
        columns = ["line", "invoice_number", "name", "email", "cc", "status", "attempts", "error", "message_id",
                   "sent_at"]
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()

    def report_text(self, batch_id: int, lang: str, org_id: int | None = None, *, max_failures: int = 20) -> str:
        """Totals, timing and the failed rows, as a message."""
        status = self.status(org_id, batch_id)
        lines = [self.t("invoices.report.totals", lang, batch=batch_id, sent=status.sent, failed=status.failed,
                        skipped=status.skipped, total=status.total, pending=status.pending),
                 self.t("invoices.report.timing", lang, elapsed=format_eta(status.elapsed),
                        rate=f"{status.rate:.2f}")]
        failures = [r for r in self.rows(org_id, batch_id) if r["status"] == "failed"]
        for row in failures[:max_failures]:
            lines.append(self.t("invoices.report.failed_line", lang, line=row["line"], number=row["invoice_number"],
                                error=row["error"][:160]))
        if len(failures) > max_failures:
            lines.append(self.t("invoices.report.more", lang, count=len(failures) - max_failures))
        return "\n".join(lines)

    def recent(self, org_id: int, limit: int = 5) -> list[InvoiceBatch]:
        """Recent batches of an organization."""
        with self.services.db.session() as session:
            batches = batches_of(session, org_id, limit)
            for batch in batches:
                session.expunge(batch)
            return batches
