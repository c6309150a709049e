"""The in-process worker: processes the durable inbound log and sends the outbox.

It runs as asyncio tasks in the web process (and in ``courrier chat``). Webhook requests only
store and wake it, so acknowledgements stay fast. Messages of one sender are processed one at a
time in arrival order; different senders in parallel (handlers run in worker threads). At start
it picks up whatever an earlier process stored but did not finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from bot.ingest import QUIET_SECONDS
from bot.outbox import OutboxPump
from bot.processing import process_event
from storage import inbound as inbound_repo
from storage import outbox as outbox_repo

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
# Under a burst of webhook POSTs acknowledgements come first (Meta wants them fast): before each
# event the worker waits for a pause of QUIET_SECONDS in arrivals (see bot.ingest). A short burst
# passes untouched: processing an event costs the web process several times what acknowledging a
# POST does, so each one taken during a burst is felt there. Once a burst has lasted
# BURST_GRACE_SECONDS, one event (across all senders) goes ahead every MAX_YIELD_SECONDS so that
# the backlog still moves under sustained load; the rest drains as soon as arrivals pause.
BURST_GRACE_SECONDS = 2.0
MAX_YIELD_SECONDS = 0.25
# Every stored batch wakes the worker; under a burst one pass per MIN_PASS_SECONDS is plenty.
MIN_PASS_SECONDS = 0.1
# A wake-up from the webhook names the senders it stored for, so a pass starts those senders
# directly. The whole inbound log is scanned for ready senders (retries, another process's rows,
# lost wake-ups) at most every SCAN_SECONDS, and every BUSY_SCAN_SECONDS during a burst: the
# scan grows with the backlog, and running it per batch would cost acknowledgements their CPU.
SCAN_SECONDS = 1.0
BUSY_SCAN_SECONDS = 5.0
SWEEP_SECONDS = 30.0


class InProcessWorker:
    """Inbound processing and outbox sending as background tasks of one event loop."""

    def __init__(self, services: Services, concurrency: int = 4) -> None:
        self._services = services
        self._concurrency = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._busy: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._main: asyncio.Task[None] | None = None
        self.pump = OutboxPump(services)
        self.running = False
        self._last_sweep = float("-inf")
        self._next_forced = float("-inf")
        self._hinted: set[str] = set()
        self._last_scan = float("-inf")

    def notify(self, senders: object = None) -> None:
        """Wake the worker (with the senders just stored for, when known); safe from any thread."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                if isinstance(senders, set | frozenset) and senders:
                    loop.call_soon_threadsafe(self._hint, senders)
                else:
                    loop.call_soon_threadsafe(self._wake.set)

    def _hint(self, senders: set[str] | frozenset[str]) -> None:
        self._hinted |= senders
        self._wake.set()

    async def start(self) -> None:
        """Start the background loop in the running event loop."""
        self._loop = asyncio.get_running_loop()
        self.running = True
        self._main = asyncio.create_task(self._run(), name="courrier-worker")

    async def stop(self) -> None:
        """Stop taking work and wait for the handlers already running."""
        self.running = False
        self._wake.set()
        if self._main is not None:
            self._main.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._main
        pending = list(self._tasks) + list(self.pump._tasks)
        if pending:
            await asyncio.wait(pending, timeout=30)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self.running:
            started = loop.time()
            try:
                await self.run_once()
            except Exception:
                log.exception("worker pass failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            self._wake.clear()
            pause = started + MIN_PASS_SECONDS - loop.time()
            if pause > 0 and self._arrivals_busy():
                await asyncio.sleep(pause)

    def _arrivals_busy(self) -> bool:
        return time.monotonic() - self._services.ingest.last_post < QUIET_SECONDS

    async def run_once(self, *, scan: bool = False) -> None:
        """One pass: start processing every sender with pending events, then send the outbox.

        The senders are those named by wake-ups since the last pass, or, when ``scan`` is set or
        the last scan is old enough, every sender the inbound log shows ready.
        """
        services = self._services
        now = services.clock.now()
        loop_time = asyncio.get_running_loop().time()
        if loop_time - self._last_sweep >= SWEEP_SECONDS:
            self._last_sweep = loop_time
            await asyncio.to_thread(self._sweep)

        def senders() -> list[str]:
            with services.db.session() as session:
                return inbound_repo.pending_senders(session, now)

        every = BUSY_SCAN_SECONDS if self._arrivals_busy() else SCAN_SECONDS
        hinted, self._hinted = self._hinted, set()
        if scan or loop_time - self._last_scan >= every:
            self._last_scan = loop_time
            ready = await asyncio.to_thread(senders)
            ready += sorted(hinted.difference(ready))  # stored since the scan began
        else:
            ready = sorted(hinted)
        for sender in ready:
            if sender in self._busy:
                if sender in hinted:
                    self._hinted.add(sender)  # its task may be finishing: look again when it ends
                continue
            self._busy.add(sender)
            task = asyncio.create_task(self._drain_sender(sender))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await self.pump.run_once()

    async def _yield_to_acknowledgements(self) -> None:
        ingest = self._services.ingest
        while self._arrivals_busy():
            now = time.monotonic()
            if now - ingest.burst_started >= BURST_GRACE_SECONDS and now >= self._next_forced:
                self._next_forced = now + MAX_YIELD_SECONDS  # this one goes ahead; the others wait
                return
            await asyncio.sleep(QUIET_SECONDS)

    def _backlog(self) -> str:
        services = self._services
        now = services.clock.now()
        with services.db.session() as session:
            senders = inbound_repo.pending_senders(session, now, limit=5)
            due = outbox_repo.due_in_order(session, now, limit=5)
        return f"inbound senders {senders}, outbox {due}"

    def _sweep(self) -> None:
        """Give back work whose lease ran out (a crashed process held it)."""
        services = self._services
        now = services.clock.now()
        with services.db.write() as session:
            released = inbound_repo.release_stale(session, now) + outbox_repo.release_stale(session, now)
        if released:
            log.warning("worker: took back %d item(s) left unfinished by a stopped process", released)

    async def _drain_sender(self, sender: str) -> None:
        services = self._services
        try:
            async with self._concurrency:
                while self.running:
                    def next_id() -> int | None:
                        with services.db.session() as session:
                            event = inbound_repo.next_for_sender(session, sender)
                            return event.id if event is not None else None

                    await self._yield_to_acknowledgements()
                    event_id = await asyncio.to_thread(next_id)
                    if event_id is None:
                        break
                    outcome = await asyncio.to_thread(process_event, services, event_id)
                    if not outcome.processed:
                        break  # claimed elsewhere or waiting for a retry: keep the order, stop here
                    if outcome.replies:
                        self._wake.set()
        finally:
            self._busy.discard(sender)
            if sender in self._hinted:
                self._wake.set()

    async def wait_idle(self, timeout: float = 30.0) -> None:
        """Run passes until nothing is due and nothing is running (for tests and ``chat``)."""
        services = self._services
        deadline = asyncio.get_running_loop().time() + timeout

        def due() -> bool:
            now = services.clock.now()
            with services.db.session() as session:
                return bool(inbound_repo.pending_senders(session, now, limit=1)) or bool(
                    outbox_repo.due_in_order(session, now, limit=1)
                )

        while True:
            await self.run_once(scan=True)
            if self._tasks or self.pump._tasks:
                await asyncio.wait(list(self._tasks) + list(self.pump._tasks), timeout=timeout)
                continue
            if not await asyncio.to_thread(due):
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"the worker did not become idle in time: {await asyncio.to_thread(self._backlog)}")
            await asyncio.sleep(0.01)
