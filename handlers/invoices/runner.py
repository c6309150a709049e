"""Sends one batch's outbox rows, exactly once, within the mailbox's limits; pure of any web or chat concern.

The runner holds the batch's lease (renewed with every row) so only one process sends it. Each
row is claimed (pending → sending) in its own committed transaction before anything leaves, and
settled (sent / failed) in another one right after. A row found in 'sending' by a later runner,
or whose send failed ambiguously (the request went out, no answer came back), is ``uncertain``:
its Message-ID is looked up in the mailbox's sent mail before it is sent again.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import update

from handlers.invoices.ratelimit import RateLimiter, RetryPolicy
from integrations.mail import (
    AmbiguousSendError,
    MailAttachment,
    MailAuthError,
    MailError,
    MailRateLimited,
    MailSender,
    OutgoingEmail,
    PermanentSendError,
)
from storage.db import Database
from storage.invoices import (
    InvoiceBatch,
    InvoiceEmail,
    claim_email,
    counts,
    next_due,
    next_wakeup,
    release,
    renew,
    take_batch,
)

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(seconds=60)
THROTTLE_RETRIES = 20  # 429s in a row before the batch pauses for THROTTLE_PAUSE
THROTTLE_PAUSE = timedelta(hours=1)


class Timer(Protocol):
    """The runner's notion of time: tests pass one whose ``sleep`` moves a fake clock."""

    def now(self) -> datetime:
        """The current instant (aware, UTC)."""
        ...

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        """Wait; False when ``stop`` was set meanwhile."""
        ...


class RealTimer:
    """Wall-clock time; sleeping wakes early when the runner is asked to stop."""

    def now(self) -> datetime:
        """The current instant."""
        return datetime.now(UTC)

    def sleep(self, seconds: float, stop: threading.Event) -> bool:
        """Wait up to ``seconds``; False when stopped."""
        return not stop.wait(max(0.0, seconds))


@dataclass(frozen=True)
class Progress:
    """Where a running batch stands."""

    batch_id: int
    total: int
    sent: int
    failed: int
    skipped: int
    elapsed: float  # seconds of sending, pauses excluded

    @property
    def done(self) -> int:
        """Rows settled."""
        return self.sent + self.failed + self.skipped

    @property
    def rate(self) -> float:
        """Emails sent per second."""
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate."""
        left = self.total - self.done
        if left <= 0:
            return 0.0
        rate = self.done / self.elapsed if self.elapsed > 0 else 0.0
        return left / rate if rate > 0 else None


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended: done, paused (daily cap or authorization), stopped, busy (another runner), lost."""

    kind: str
    progress: Progress | None = None
    until: datetime | None = None


def format_eta(seconds: float | None) -> str:
    """``1h02m``, ``3m20s``, ``45s`` or ``?``."""
    if seconds is None:
        return "?"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class BatchRunner:
    """Runs one batch to its end, a pause, or a stop."""

    def __init__(
        self,
        db: Database,
        batch_id: int,
        sender: MailSender,
        limiter: RateLimiter,
        *,
        timer: Timer | None = None,
        policy: RetryPolicy | None = None,
        lease: timedelta = DEFAULT_LEASE,
        stop: threading.Event | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        rng: random.Random | None = None,
        from_name: str | None = None,
        log_every: float = 10.0,
    ) -> None:
        self.db = db
        self.batch_id = batch_id
        self.sender = sender
        self.limiter = limiter
        self.timer = timer or RealTimer()
        self.policy = policy or RetryPolicy()
        self.lease = lease
        self.stop = stop or threading.Event()
        self.on_progress = on_progress
        self.rng = rng or random.Random()
        self.from_name = from_name
        self.token = uuid.uuid4().hex
        self.log_every = log_every
        self._counts: dict[str, int] = {}
        self._total = 0
        self._previous_seconds = 0.0
        self._started = 0.0
        self._last_log = 0.0
        self._throttled = 0
        self._deferred: tuple[int, dict[str, Any]] | None = None

    # ------------------------------------------------------------ bookkeeping

    def _elapsed(self) -> float:
        return self._previous_seconds + (time.monotonic() - self._started)

    def progress(self) -> Progress:
        """The current figures."""
        c = self._counts
        return Progress(self.batch_id, self._total, c.get("sent", 0), c.get("failed", 0), c.get("skipped", 0),
                        self._elapsed())

    def _tick(self, state: str) -> None:
        self._counts[state] = self._counts.get(state, 0) + 1
        progress = self.progress()
        if self.on_progress is not None:
            self.on_progress(progress)
        now = time.monotonic()
        if now - self._last_log >= self.log_every or progress.done == progress.total:
            self._last_log = now
            log.info("invoices: batch %s: %d/%d settled (%d failed), %.1f emails/s, about %s left",
                     self.batch_id, progress.done, progress.total, progress.failed, progress.rate,
                     format_eta(progress.eta))

    def _settle(self, row_id: int, state: str, **values: Any) -> None:
        """Record a row's outcome; written with the next row's claim (one commit per email).

        Until then the row stays 'sending': a crash in between leaves it to the Message-ID lookup.
        """
        self._flush()
        values.update(state=state, updated_at=self.timer.now())
        if state == "sent":
            values["sent_at"] = values["updated_at"]
        self._deferred = (row_id, values)

    def _write_deferred(self, session: Any) -> str | None:
        if self._deferred is None:
            return None
        row_id, values = self._deferred
        session.execute(update(InvoiceEmail).where(InvoiceEmail.id == row_id).values(**values))
        return str(values["state"])

    def _after_commit(self, state: str | None) -> None:
        self._deferred = None
        if state in ("sent", "failed", "skipped"):
            self._tick(state)

    def _flush(self) -> None:
        if self._deferred is None:
            return
        with self.db.write() as session:
            state = self._write_deferred(session)
        self._after_commit(state)

    def _note(self, row_id: int, **values: Any) -> None:
        self._flush()
        with self.db.write() as session:
            session.execute(update(InvoiceEmail).where(InvoiceEmail.id == row_id).values(**values))

    def _release(self, **values: Any) -> None:
        self._flush()
        with self.db.write() as session:
            release(session, self.batch_id, self.token, active_seconds=self._elapsed(), **values)

    # ------------------------------------------------------------ the run

    def run(self) -> RunOutcome:
        """Send every pending row; returns how the run ended."""
        now = self.timer.now()
        with self.db.write() as session:
            if not take_batch(session, self.batch_id, self.token, now, self.lease):
                return RunOutcome("busy")
            batch = session.get(InvoiceBatch, self.batch_id)
            assert batch is not None
            batch.started_at = batch.started_at or now
            self._previous_seconds = float(batch.active_seconds or 0.0)
            self._total = batch.total
            self._counts = counts(session, self.batch_id)
        self._started = time.monotonic()
        opened = getattr(self.sender, "keep_open", None)
        if callable(opened):
            opened()
        # The lease is also renewed while a long send or a backoff is under way, so that no other
        # runner takes the batch over (and settles the row being sent) while this one is alive.
        finished = threading.Event()
        heartbeat = threading.Thread(target=self._heartbeat, args=(finished,), daemon=True,
                                     name=f"invoices-lease-{self.batch_id}")
        heartbeat.start()
        try:
            return self._loop()
        except BaseException:
            # Leave the lease to expire: a row may be in 'sending', the next runner settles it.
            log.exception("invoices: batch %s: runner crashed", self.batch_id)
            raise
        finally:
            finished.set()
            heartbeat.join(timeout=5)
            closer = getattr(self.sender, "close", None)
            if callable(closer):
                closer()

    def _heartbeat(self, finished: threading.Event) -> None:
        every = max(0.2, self.lease.total_seconds() / 3)
        while not finished.wait(every):
            try:
                with self.db.write() as session:
                    if not renew(session, self.batch_id, self.token, self.timer.now(), self.lease):
                        return
            except Exception as exc:  # the next row's renewal will tell
                log.warning("invoices: batch %s: lease renewal failed: %s", self.batch_id, type(exc).__name__)

    def _loop(self) -> RunOutcome:
        while True:
            if self.stop.is_set():
                self._release(status="confirmed")
                return RunOutcome("stopped", self.progress())
            now = self.timer.now()
            snapshot: tuple[Any, ...] | None = None
            wakeup: datetime | None = None
            wait = None
            with self.db.write() as session:
                if not renew(session, self.batch_id, self.token, now, self.lease):
                    return RunOutcome("lost", self.progress())
                settled = self._write_deferred(session)
                row = next_due(session, self.batch_id, now)
                if row is None:
                    wakeup = next_wakeup(session, self.batch_id)
                    if wakeup is None:
                        break
                else:
                    count = len(row.recipients.get("to", [])) + len(row.recipients.get("cc", []))
                    wait = self.limiter.check(now, count)
                    if wait is None and claim_email(session, row.id, now):
                        # Counted when claimed: a row that turns out to be sent already wastes one slot.
                        self.limiter.record(now, count)
                        # The claim changed only state and attempts: the loaded row is still good.
                        snapshot = (row.id, dict(row.recipients), dict(row.fields), row.pdf_path, row.message_id,
                                    row.uncertain, row.retries)
            self._after_commit(settled)
            if wait is not None and wait.daily:
                self._release(status="paused", paused_until=wait.until, pause_reason="daily_cap")
                log.info("invoices: batch %s paused at the daily cap until %s", self.batch_id, wait.until.isoformat())
                return RunOutcome("paused", self.progress(), wait.until)
            if wait is not None:
                self.timer.sleep(wait.seconds, self.stop)
                continue
            if snapshot is None:
                if wakeup is not None:
                    # Every pending row is backing off: wait for the first one.
                    self.timer.sleep(max(0.0, (wakeup - now).total_seconds()), self.stop)
                continue
            outcome = self._attempt(*snapshot)
            if outcome is not None:
                return outcome
        self._release(status="done", finished_at=self.timer.now())
        return RunOutcome("done", self.progress())

    def _email(self, recipients: dict[str, Any], fields: dict[str, Any], pdf_path: str,
               message_id: str) -> OutgoingEmail:
        path = Path(pdf_path)
        data = path.read_bytes()
        return OutgoingEmail(
            to=tuple(recipients.get("to", [])), cc=tuple(recipients.get("cc", [])),
            subject=str(fields.get("_subject", "")), text=str(fields.get("_body", "")),
            attachments=(MailAttachment(path.name, "application/pdf", data),), message_id=message_id,
            from_name=self.from_name,
        )

    def _pause(self, row_id: int, uncertain: bool, reason: str, until: datetime | None) -> RunOutcome:
        self._note(row_id, state="pending", uncertain=uncertain, next_attempt_at=None)
        self._release(status="paused", paused_until=until, pause_reason=reason)
        log.info("invoices: batch %s paused (%s) until %s", self.batch_id, reason, until.isoformat() if until else "-")
        return RunOutcome("paused", self.progress(), until)

    def _defer(self, row_id: int, retries: int, uncertain: bool, error: str, retry_after: float | None,
               kind: str = "error") -> None:
        """A retryable failure: the row waits (backoff, Retry-After) while the next rows go on."""
        retries += 1
        if retries > self.policy.retries:
            text = f"gave up after {retries} attempts: {error}"
            if uncertain:
                text = "outcome unknown (may have been sent): " + text
            self._settle(row_id, "failed", error=text[:500], retries=retries, uncertain=uncertain)
            return
        delay = self.policy.delay(retries, retry_after, self.rng)
        # Provider messages may quote addresses: INFO logs name the error's kind only.
        log.info("invoices: batch %s row %s: retry %d in %.1fs (%s)", self.batch_id, row_id, retries, delay, kind)
        self._note(row_id, state="pending", retries=retries, uncertain=uncertain, error=error[:500],
                   next_attempt_at=self.timer.now() + timedelta(seconds=delay), updated_at=self.timer.now())

    def _attempt(self, row_id: int, recipients: dict[str, Any], fields: dict[str, Any], pdf_path: str,
                 message_id: str, uncertain: bool, retries: int) -> RunOutcome | None:
        """One claimed row: look it up when uncertain, send it, settle it or schedule its retry."""
        try:
            email = self._email(recipients, fields, pdf_path, message_id)
        except OSError as exc:
            self._settle(row_id, "failed", error=f"attachment unreadable: {type(exc).__name__}")
            return None
        try:
            if uncertain:
                if self.sender.find_sent(message_id):
                    log.info("invoices: batch %s row %s was already sent (found by Message-ID)",
                             self.batch_id, row_id)
                    self._settle(row_id, "sent", uncertain=False, error=None, next_attempt_at=None)
                    return None
                uncertain = False  # not in the sent mail: sending it now is safe
            receipt = self.sender.send(email)
        except PermanentSendError as exc:
            self._settle(row_id, "failed", error=str(exc)[:500], uncertain=False)
            return None
        except MailAuthError as exc:
            log.warning("invoices: batch %s: the mailbox refused the authorization: %s", self.batch_id,
                        type(exc).__name__)
            return self._pause(row_id, uncertain, "auth", None)
        except MailRateLimited as exc:
            # The mailbox is over its quota, not this email at fault: hold every send, retry this row first.
            self._throttled += 1
            delay = self.policy.delay(min(self._throttled, self.policy.retries), exc.retry_after, self.rng)
            if self._throttled > THROTTLE_RETRIES:
                until = self.timer.now() + THROTTLE_PAUSE
                return self._pause(row_id, uncertain, "rate_limited", until)
            self.limiter.hold(self.timer.now() + timedelta(seconds=delay))
            log.info("invoices: batch %s: provider rate limit, holding sends for %.1fs", self.batch_id, delay)
            self._note(row_id, state="pending", uncertain=uncertain, error=str(exc)[:500], next_attempt_at=None)
            return None
        except AmbiguousSendError as exc:
            self._defer(row_id, retries, True, str(exc), None, type(exc).__name__)
            return None
        except MailError as exc:
            self._defer(row_id, retries, uncertain, str(exc), None, type(exc).__name__)
            return None
        self._throttled = 0
        self._settle(row_id, "sent", provider_id=receipt.provider_id, uncertain=False, error=None,
                     next_attempt_at=None)
        return None
