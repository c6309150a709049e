"""Quotes and contracts from the chat: clients, PDF from templates, preview, send from the linked mailbox."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from bot.demo import DEMO_STEPS
from bot.i18n import Catalog
from bot.services import JobSpec, Services
from handlers.quotes.clients import ClientFields
from handlers.quotes.flow import router
from handlers.quotes.service import QuoteService
from handlers.quotes.settings import SETTINGS_KEY, update_settings
from handlers.quotes.web import router as web_router
from integrations.pdf import PdfRenderer
from storage.models import Organization, User
from storage.quotes import add_client, count_by_status, find_duplicate

__all__ = ["QuoteService", "install", "router", "web_router"]

JOB_SECONDS = 15


def run_jobs(services: Services) -> None:
    """The periodic sweep: retries that came due and jobs a stopped process left behind."""
    services.get(QuoteService).jobs.kick()


def status_lines(catalog: Catalog, session: Session, org: Organization, lang: str) -> list[str]:
    """``statut`` lines: how many drafts, sent, accepted and declined documents."""
    counts = count_by_status(session, org.id)
    parts = []
    for kind in ("quote", "contract"):
        numbers = {s: counts.get((kind, s), 0) for s in ("draft", "sent", "accepted", "declined")}
        if any(numbers.values()):
            parts.append(catalog.t(f"quotes.status_line.{kind}", lang, **numbers))
    return parts


def demo_step(services: Services, session: Session, org: Organization, admin: User) -> None:
    """Demo data: the organization's parties and two clients, Boulangerie Dupont and Académias."""
    settings = dict(org.settings or {})
    if SETTINGS_KEY not in settings:
        update_settings(org, {
            "legal_name": f"{org.name} SAS", "address": "12 rue des Lilas\n75011 Paris", "city": "Paris",
            "registration_number": "SIRET 123 456 789 00012", "vat_rate": Decimal("20"),
            "payment_terms": "30 % à la commande, solde à la livraison.",
        })
    now = services.clock.now()
    samples = [
        ClientFields(name="Boulangerie Dupont SARL", company="Boulangerie Dupont SARL",
                     email="contact@boulangerie-dupont.example", city="Lyon", project_type="Site vitrine",
                     mission_context="Automatiser la prise de commandes et les relances clients"),
        ClientFields(name="Académias", company="Académias", email="direction@academias.example", city="Abidjan",
                     project_type="Automatisation Académias",
                     mission_context="Industrialiser la production de modules de formation"),
    ]
    for fields in samples:
        if find_duplicate(session, org.id, fields.name, fields.company) is None:
            add_client(session, org.id, now, **fields.as_dict())


def install(services: Services, renderer: PdfRenderer) -> QuoteService:
    """Wire the feature: its service, the job sweep, the ``statut`` line and the demo data."""
    service = QuoteService(services, renderer)
    services.provide(service)
    services.jobs.append(JobSpec("quotes.jobs", "interval", run_jobs, {"seconds": JOB_SECONDS}))
    services.status_providers.append(
        lambda session, org, lang: status_lines(services.catalog, session, org, lang))
    if demo_step not in DEMO_STEPS:
        DEMO_STEPS.append(demo_step)
    return service
