"""APScheduler wiring: run the registered jobs in the server process; a failing job never stops it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

if TYPE_CHECKING:
    from bot.services import JobSpec, Services

log = logging.getLogger(__name__)


def guarded(services: Services, job: JobSpec) -> Callable[[], Awaitable[None]]:
    """The job as a coroutine that runs in a thread and logs, never raises."""

    async def run() -> None:
        try:
            await asyncio.to_thread(job.func, services)
        except Exception:
            log.exception("scheduled job %s failed; it will run again at its next time", job.id)

    return run


class Scheduler:
    """A thin wrapper over APScheduler's asyncio scheduler."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._scheduler = AsyncIOScheduler(timezone=UTC)

    def start(self) -> None:
        """Register every job of the services and start."""
        for job in self._services.jobs:
            self._scheduler.add_job(
                guarded(self._services, job),
                job.trigger,
                id=job.id,
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=300,
                **job.trigger_args,
            )
        self._scheduler.start()

    @property
    def running(self) -> bool:
        """True once started."""
        return bool(self._scheduler.running)

    def shutdown(self) -> None:
        """Stop without waiting for running jobs."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
