"""Digests and alerts: new mail triaged, critical alerts with feedback, scheduled digests, quiet hours, stats."""

from __future__ import annotations

from bot.demo import DEMO_STEPS
from bot.services import JobSpec, Services
from handlers.digests import demo
from handlers.digests.commands import router
from handlers.digests.service import DigestService
from handlers.mailboxes.service import MailboxService

__all__ = ["DigestService", "install", "router"]

TICK_SECONDS = 60


def _tick(services: Services) -> None:
    services.get(DigestService).tick()


def install(services: Services) -> DigestService:
    """Wire the feature: triage on every new mail, the minute tick, the 131047 fallback to a template."""
    service = DigestService(services)
    services.provide(service)
    services.get(MailboxService).subscribe(service.on_new_mail_batch, batch=True)
    services.jobs.append(JobSpec("digests:tick", "interval", _tick, {"seconds": TICK_SECONDS}))
    services.window_closed_hooks.append(service.on_window_closed)
    if demo.demo_step not in DEMO_STEPS:
        DEMO_STEPS.append(demo.demo_step)
    if (demo.DEMO_MAILDIR / ".feed.json").exists():
        # Only where `make demo` prepared the sample mailbox: a new sample every few minutes.
        services.jobs.append(JobSpec("digests:demo-feed", "interval", demo.feed, {"minutes": demo.FEED_MINUTES}))
    return service
