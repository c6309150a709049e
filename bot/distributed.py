"""Distributed mode: web processes verify, store and enqueue; Celery workers do the work.

Enabled when ``COURRIER_BROKER_URL`` is set (Redis ``redis://`` or RabbitMQ ``amqp://``) and the
database is PostgreSQL. The same processing code as the single-process mode runs in the workers;
what changes is who wakes it and how work is kept in order across processes:

- messages of one sender are handled by one worker at a time, in arrival order, under a
  PostgreSQL advisory lock on the sender; the same for outbox sends to one recipient;
- exactly one ``courrier scheduler`` process is the leader (an advisory lock held on its own
  connection); it only enqueues due work, and another candidate takes over within seconds when
  the leader's connection goes away;
- tasks are acknowledged late and rejected when a worker dies, so a killed worker's task is
  delivered again; every effect is idempotent (inbound dedup, outbox idempotency keys), so a
  redelivered task never sends twice. A periodic sweep re-enqueues anything a lost task left.

Queues: ``chat`` (inbound messages and outbox sends), ``sync`` (scheduled jobs: mailbox syncs,
triage, alerts, digests) and ``bulk`` (invoice runs), so a long batch never delays a chat reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import text

from bot.outbox import OutboxPump, set_health
from bot.processing import process_event
from bot.settings import Settings, SettingsError
from storage import inbound as inbound_repo
from storage import locks
from storage import outbox as outbox_repo
from storage.models import ServiceHealth

if TYPE_CHECKING:
    from celery import Celery

    from bot.services import JobSpec, Services

log = logging.getLogger(__name__)

T = TypeVar("T")

QUEUE_CHAT = "chat"
QUEUE_SYNC = "sync"
QUEUE_BULK = "bulk"
QUEUES = (QUEUE_CHAT, QUEUE_SYNC, QUEUE_BULK)

TASK_INBOUND = "courrier.inbound"
TASK_OUTBOX = "courrier.outbox"
TASK_JOB = "courrier.job"
TASK_SWEEP = "courrier.sweep"
TASK_BULK = "courrier.bulk"

LEADER_KEY = "scheduler"
LEADER_POLL_SECONDS = 2.0
SWEEP_SECONDS = 5.0
HEALTH_LEADER = "scheduler_leader"


def is_distributed(settings: Settings) -> bool:
    """True when a broker is configured."""
    return bool(settings.broker_url)


def check_distributed(settings: Settings) -> None:
    """Refuse a distributed start without a broker or without PostgreSQL, saying why."""
    if not settings.broker_url:
        raise SettingsError("COURRIER_BROKER_URL is required for workers and the scheduler (redis://… or amqp://…)")
    if not settings.broker_url.startswith(("redis://", "rediss://", "amqp://", "amqps://")):
        raise SettingsError("COURRIER_BROKER_URL: expected redis://… or amqp://…")
    if not settings.database_url.startswith("postgresql"):
        raise SettingsError(
            "COURRIER_DATABASE_URL: the distributed mode needs PostgreSQL (SQLite is for one process)"
        )


def make_celery(settings: Settings) -> Celery:
    """The Celery application (no task code: web processes only send tasks by name)."""
    from celery import Celery  # imported in the distributed mode only: a single process never needs it

    app = Celery("courrier", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=QUEUE_CHAT,
        task_routes={
            TASK_INBOUND: {"queue": QUEUE_CHAT},
            TASK_OUTBOX: {"queue": QUEUE_CHAT},
            TASK_SWEEP: {"queue": QUEUE_CHAT},
            TASK_JOB: {"queue": QUEUE_SYNC},
            TASK_BULK: {"queue": QUEUE_BULK},
        },
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        # No remote-control mailbox: nothing uses it, and on RabbitMQ it is an exclusive queue per node.
        worker_enable_remote_control=False,
        # Redis: a task taken by a worker that died is delivered again after this many seconds.
        broker_transport_options={"visibility_timeout": 120},
    )
    return app


class Enqueuer:
    """What web processes and workers use to hand work to the queues."""

    def __init__(self, app: Celery) -> None:
        self._app = app

    @property
    def app(self) -> Celery:
        """The Celery application."""
        return self._app

    def broker_ok(self) -> bool:
        """True when the broker accepts a connection."""
        try:
            with self._app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=3)
            return True
        except Exception:
            return False

    def inbound(self, senders: set[str]) -> None:
        """Ask for these senders' new messages to be handled."""
        for sender in senders:
            self._app.send_task(TASK_INBOUND, args=[sender])

    def outbox(self) -> None:
        """Ask for due outbox messages to be sent."""
        self._app.send_task(TASK_OUTBOX)

    def job(self, job_id: str, queue: str = QUEUE_SYNC) -> None:
        """Ask for a scheduled job to run."""
        self._app.send_task(TASK_JOB, args=[job_id], queue=queue)

    def sweep(self) -> None:
        """Ask for the periodic recovery sweep."""
        self._app.send_task(TASK_SWEEP)

    def bulk(self, kind: str, ident: int) -> bool:
        """Hand a long run (an invoice batch) to the ``bulk`` queue, away from chat replies."""
        self._app.send_task(TASK_BULK, args=[kind, ident], queue=QUEUE_BULK)
        return True


# ---------------------------------------------------------------- worker side


class WorkerRuntime:
    """What one worker process keeps between tasks: services, and a loop for async adapters."""

    def __init__(self, settings: Settings, build: Callable[[Settings], Services]) -> None:
        self.services = build(settings)
        self.enqueuer = self.services.get(Enqueuer)
        self.services.on_outbox(self.enqueuer.outbox)
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="courrier-async", daemon=True).start()
        self.pump = OutboxPump(self.services)
        self.jobs: dict[str, JobSpec] = {job.id: job for job in self.services.jobs}

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on this process's event loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()


_RUNTIME: dict[int, WorkerRuntime] = {}


def runtime(settings: Settings, build: Callable[[Settings], Services]) -> WorkerRuntime:
    """This process's runtime, built on first use (after Celery forked the process)."""
    pid = os.getpid()
    if pid not in _RUNTIME:
        _RUNTIME.clear()
        _RUNTIME[pid] = WorkerRuntime(settings, build)
    return _RUNTIME[pid]


def drain_sender(rt: WorkerRuntime, sender: str) -> int:
    """Handle a sender's pending messages in order under the sender's lock; returns how many."""
    services = rt.services
    handled = 0
    while True:
        with locks.held(services.db.engine, locks.SENDER, sender) as got:
            if not got:
                # Another worker holds this sender; it looks again after releasing, so nothing is lost.
                return handled
            while True:
                with services.db.session() as session:
                    event = inbound_repo.next_for_sender(session, sender)
                    event_id = event.id if event is not None else None
                if event_id is None:
                    break
                outcome = process_event(services, event_id)
                if not outcome.processed:
                    break  # waiting for a retry: the sweep brings it back when due
                handled += 1
        # Look again after releasing: a message stored while we held the lock, whose own task
        # found the lock taken, must not wait for the sweep.
        with services.db.session() as session:
            ready = bool(inbound_repo.pending_senders(session, services.clock.now(), among=[sender]))
        if not ready:
            return handled


def send_due(rt: WorkerRuntime) -> int:
    """Send every due outbox message, one recipient at a time under its lock, in order."""
    services = rt.services
    sent = 0
    with services.db.session() as session:
        due = outbox_repo.due_in_order(session, services.clock.now())
    recipients = list(dict.fromkeys(recipient for _, recipient in due))
    for recipient in recipients:
        while True:
            with locks.held(services.db.engine, locks.RECIPIENT, recipient) as got:
                if not got:
                    break
                with services.db.session() as session:
                    ids = [i for i, r in outbox_repo.due_in_order(session, services.clock.now()) if r == recipient]
                for message_id in ids:
                    if not rt.run(rt.pump.send_one(message_id)):
                        break
                    sent += 1
            with services.db.session() as session:
                again = any(r == recipient for _, r in outbox_repo.due_in_order(session, services.clock.now()))
            if not again:
                break
    return sent


def run_bulk(rt: WorkerRuntime, kind: str, ident: int) -> bool:
    """Run one long job (an invoice batch) here, never two copies at once across the workers."""
    handler = rt.services.bulk_handlers.get(kind)
    if handler is None:
        log.error("unknown bulk job kind %s", kind)
        return False
    with locks.held(rt.services.db.engine, locks.BULK, f"{kind}:{ident}") as got:
        if not got:
            return False  # another worker runs it (a redelivered task); its rows are claimed there
        handler(rt.services, ident)
        return True


def run_job(rt: WorkerRuntime, job_id: str) -> bool:
    """Run a scheduled job by id, never two copies of it at once; False if unknown or busy."""
    job = rt.jobs.get(job_id)
    if job is None:
        log.error("unknown scheduled job %s", job_id)
        return False
    with locks.held(rt.services.db.engine, locks.JOB, job_id) as got:
        if not got:
            log.info("job %s is already running elsewhere; skipped", job_id)
            return False
        job.func(rt.services)
    return True


def sweep(rt: WorkerRuntime) -> None:
    """Recover what lost tasks left: expired leases, pending senders, due outbox messages."""
    services = rt.services
    now = services.clock.now()
    with services.db.write() as session:
        inbound_repo.release_stale(session, now)
        outbox_repo.release_stale(session, now)
    with services.db.session() as session:
        senders = inbound_repo.pending_senders(session, now, limit=1000)
        due = bool(outbox_repo.due_in_order(session, now, limit=1))
    if senders:
        rt.enqueuer.inbound(set(senders))
    if due:
        rt.enqueuer.outbox()


def register_tasks(app: Celery, settings: Settings, build: Callable[[Settings], Services]) -> None:
    """Declare the worker's tasks on ``app``."""

    @app.task(name=TASK_INBOUND, acks_late=True)  # type: ignore[untyped-decorator]
    def inbound(sender: str) -> int:
        return drain_sender(runtime(settings, build), sender)

    @app.task(name=TASK_OUTBOX, acks_late=True)  # type: ignore[untyped-decorator]
    def outbox() -> int:
        return send_due(runtime(settings, build))

    @app.task(name=TASK_JOB, acks_late=True)  # type: ignore[untyped-decorator]
    def job(job_id: str) -> bool:
        return run_job(runtime(settings, build), job_id)

    @app.task(name=TASK_SWEEP, acks_late=True)  # type: ignore[untyped-decorator]
    def sweep_task() -> None:
        sweep(runtime(settings, build))

    @app.task(name=TASK_BULK, acks_late=True)  # type: ignore[untyped-decorator]
    def bulk(kind: str, ident: int) -> bool:
        return run_bulk(runtime(settings, build), kind, ident)


# ---------------------------------------------------------------- scheduler leader


class LeaderScheduler:
    """Runs APScheduler in exactly one live process; candidates wait on an advisory lock."""

    def __init__(self, services: Services, enqueuer: Enqueuer, identity: str | None = None) -> None:
        self._services = services
        self._enqueuer = enqueuer
        self.identity = identity or f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self.is_leader = False

    def stop(self) -> None:
        """Ask the loop to end (from a signal handler or another thread)."""
        self._stop.set()

    def run(self) -> None:
        """Wait to become leader, lead while the lock's connection lives, start over if it drops."""
        while not self._stop.is_set():
            try:
                self._candidate()
            except Exception:
                log.exception("scheduler: lost the database; standing by again")
                self.is_leader = False
                self._stop.wait(LEADER_POLL_SECONDS)

    def _candidate(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        engine = self._services.db.engine
        with engine.connect() as conn:
            while not locks.try_lock(conn, locks.LEADER, LEADER_KEY):
                if self._stop.wait(LEADER_POLL_SECONDS):
                    return
            self.is_leader = True
            log.warning("scheduler: %s is now the leader", self.identity)
            self._record_leader()
            scheduler = BackgroundScheduler(timezone="UTC")
            for job in self._services.jobs:
                scheduler.add_job(self._enqueuer.job, job.trigger, args=[job.id], id=job.id, coalesce=True,
                                  max_instances=1, misfire_grace_time=300, **job.trigger_args)
            scheduler.add_job(self._enqueuer.sweep, "interval", seconds=SWEEP_SECONDS, id="sweep", coalesce=True)
            scheduler.start()
            try:
                while not self._stop.wait(LEADER_POLL_SECONDS):
                    conn.execute(text("SELECT 1"))  # the lock lives as long as this connection
                    conn.commit()
                    self._record_leader()
            finally:
                scheduler.shutdown(wait=False)
                self.is_leader = False
                locks.unlock(conn, locks.LEADER, LEADER_KEY)

    def _record_leader(self) -> None:
        with self._services.db.write() as session:
            set_health(session, HEALTH_LEADER, True, self.identity, self._services.clock.now())


def leader_of(services: Services) -> str | None:
    """The scheduler leader's identity, if one reported within the last minute."""
    with services.db.session() as session:
        row = session.get(ServiceHealth, HEALTH_LEADER)
        if row is None or services.clock.now() - row.updated_at > timedelta(minutes=1):
            return None
        return row.detail


def queue_depths(app: Celery) -> dict[str, int]:
    """Messages waiting in each queue, as the broker reports them (0 for a queue not created yet)."""
    depths: dict[str, int] = {}
    with app.connection_for_write() as conn:
        for queue in QUEUES:
            channel = conn.channel()
            try:
                depths[queue] = int(channel.queue_declare(queue=queue, passive=True).message_count)
            except Exception:
                depths[queue] = 0
            finally:
                with contextlib.suppress(Exception):
                    channel.close()
    return depths


def distribution_report(services: Services) -> dict[str, Any]:
    """Broker reachability, queue depths and the scheduler leader, for /readyz and statut."""
    enqueuer = services.get(Enqueuer)
    broker = enqueuer.broker_ok()
    return {
        "broker": broker,
        "queues": queue_depths(enqueuer.app) if broker else {},
        "scheduler_leader": leader_of(services),
    }


def wire_distribution(services: Services) -> None:
    """In the distributed mode: the enqueuer, and the broker lines of ``statut``."""
    if not is_distributed(services.settings):
        return
    enqueuer = Enqueuer(make_celery(services.settings))
    services.provide(enqueuer)
    services.bulk_launcher = enqueuer.bulk

    def status_lines(session: Any, org: Any, lang: str) -> list[str]:
        report = distribution_report(services)
        catalog = services.catalog
        scheme = (services.settings.broker_url or "").split(":", 1)[0]
        lines = [catalog.t("status.broker_ok" if report["broker"] else "status.broker_down", lang, broker=scheme)]
        if report["queues"]:
            lines.append(catalog.t("status.queues", lang, **report["queues"]))
        leader = report["scheduler_leader"]
        lines.append(catalog.t("status.leader", lang, leader=leader) if leader else catalog.t("status.no_leader", lang))
        return lines

    services.status_providers.append(status_lines)


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
