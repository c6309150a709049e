"""Bulk invoice mailing: a checked batch of PDFs sent from the linked mailbox at the provider's quota."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.i18n import Catalog
from bot.services import JobSpec, Services
from handlers.invoices.chat import router
from handlers.invoices.runner import Timer
from handlers.invoices.service import BULK_KIND, InvoiceService
from handlers.invoices.web import router as web_router
from storage.invoices import batches_of
from storage.models import Organization

__all__ = ["InvoiceService", "install", "router", "web_router"]

RESUME_SECONDS = 60


def resume_due(services: Services) -> None:
    """The scheduler tick: batches whose daily pause is over, or whose runner died, start again."""
    services.get(InvoiceService).resume_due()


def status_lines(catalog: Catalog, session: Session, org: Organization, lang: str) -> list[str]:
    """``statut`` line: the batch being sent, if any."""
    for batch in batches_of(session, org.id, 3):
        if batch.status in ("running", "paused", "confirmed"):
            return [catalog.t("invoices.status_line", lang, batch=batch.id, status=batch.status)]
    return []


def install(services: Services, timer: Timer | None = None) -> InvoiceService:
    """Wire the feature: its service, the resume tick, the ``statut`` line and the shutdown hook."""
    service = InvoiceService(services, timer=timer)
    services.provide(service)
    services.bulk_handlers[BULK_KIND] = lambda s, batch_id: s.get(InvoiceService).run_in_worker(batch_id)
    services.jobs.append(JobSpec("invoices:resume", "interval", resume_due, {"seconds": RESUME_SECONDS}))
    services.status_providers.append(lambda session, org, lang: status_lines(services.catalog, session, org, lang))
    services.shutdown_hooks.append(service.shutdown)
    return service
