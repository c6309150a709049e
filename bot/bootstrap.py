"""The composition root: the only place that chooses concrete adapters and wires features."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import httpx
from argon2 import PasswordHasher

from bot.clock import Clock, SystemClock
from bot.distributed import wire_distribution
from bot.i18n import Catalog, CatalogError
from bot.ingest import Ingest
from bot.outbox import held_notice
from bot.router import CommandTable, Dispatcher, Router
from bot.services import JobSpec, Services
from bot.settings import Settings, SettingsError
from handlers import ROUTERS
from handlers import digests as digests_feature
from handlers import invoices as invoices_feature
from handlers import quotes as quotes_feature
from handlers.account import answer_stranger
from handlers.invitations.lookups import ClientDirectory, QuoteLookup
from handlers.invitations.rules import CommonPasswords
from handlers.invitations.service import InvitationService
from handlers.mailboxes.service import install as install_mailboxes
from handlers.quotes.lookups import QuotesClientDirectory, QuotesQuoteLookup
from integrations.connectors import MailConnectors
from integrations.google import GoogleConfig
from integrations.mail import MailSenderDirectory
from integrations.microsoft import MicrosoftConfig
from integrations.pdf import PdfRenderer, WeasyPrintRenderer
from integrations.triage import Classifier, OfflineClassifier
from integrations.whatsapp import WhatsAppSender
from integrations.whatsapp_cloud import CloudWhatsApp, default_http_client
from integrations.whatsapp_sandbox import SandboxWhatsApp
from storage.accounts import ensure_default_org
from storage.db import Database
from storage.secretbox import SecretBox

log = logging.getLogger(__name__)


def build_whatsapp(
    settings: Settings, db: Database, clock: Clock, transport: httpx.AsyncBaseTransport | None = None
) -> WhatsAppSender:
    """The Cloud API sender when a token is set, else the local sandbox."""
    if settings.sandbox_enabled or not settings.whatsapp_token:
        return SandboxWhatsApp(db, clock.now)
    assert settings.whatsapp_phone_number_id is not None
    return CloudWhatsApp(
        token=settings.whatsapp_token,
        phone_number_id=settings.whatsapp_phone_number_id,
        api_url=settings.whatsapp_api_url,
        api_version=settings.whatsapp_api_version,
        http=default_http_client(transport),
    )


def build_classifier(settings: Settings) -> Classifier:
    """The triage classifier: the embedded offline one, or Gemini falling back to it on any error."""
    offline = OfflineClassifier()
    if settings.triage != "gemini":
        return offline
    if not (settings.gemini_api_key or "").strip():
        raise SettingsError("COURRIER_GEMINI_API_KEY is required when COURRIER_TRIAGE=gemini")
    from integrations.triage.gemini import GeminiClassifier

    try:
        return GeminiClassifier(
            api_key=settings.gemini_api_key or "",
            model=settings.gemini_model,
            base_url=settings.gemini_api_url,
            timeout=settings.gemini_timeout,
            fallback=offline,
        )
    except ValueError as exc:
        raise SettingsError(f"Gemini triage cannot start: {exc}") from exc


def build_mail_connectors(settings: Settings, clock: Clock) -> MailConnectors:
    """Gmail, Microsoft Graph and IMAP/SMTP adapters on the configured endpoints."""
    return MailConnectors(
        GoogleConfig(
            client_id=settings.google_client_id, client_secret=settings.google_client_secret,
            auth_url=settings.google_auth_url, token_url=settings.google_token_url, api_url=settings.gmail_api_url,
        ),
        MicrosoftConfig(
            client_id=settings.ms_client_id, client_secret=settings.ms_client_secret, tenant=settings.ms_tenant,
            authority_url=settings.ms_authority_url, graph_url=settings.graph_api_url,
        ),
        clock=clock.now,
    )


def build_services(
    settings: Settings,
    *,
    clock: Clock | None = None,
    whatsapp: WhatsAppSender | None = None,
    whatsapp_transport: httpx.AsyncBaseTransport | None = None,
    db: Database | None = None,
    routers: Sequence[Router] | None = None,
    mail_connectors: MailConnectors | None = None,
    mail_directory: MailSenderDirectory | None = None,
    pdf_renderer: PdfRenderer | None = None,
    classifier: Classifier | None = None,
) -> Services:
    """Wire every service from settings; tests pass fakes for the outside world."""
    clock = clock or SystemClock()
    db = db or Database(settings.database_url)
    try:
        catalog = Catalog.load(settings.templates_dir / "i18n", settings.default_language)
    except (CatalogError, OSError) as exc:
        raise SettingsError(f"message catalog unusable: {exc}") from exc
    table = CommandTable(list(routers if routers is not None else ROUTERS))
    keys = settings.key_bytes()
    services = Services(
        settings=settings,
        db=db,
        clock=clock,
        catalog=catalog,
        commands=table,
        whatsapp=whatsapp or build_whatsapp(settings, db, clock, whatsapp_transport),
        secrets=SecretBox(keys) if keys else None,
        ingest=Ingest(db, clock),
        dispatcher=Dispatcher(table),
        stranger_handler=answer_stranger,
    )
    install_mailboxes(services, mail_connectors or build_mail_connectors(settings, clock))
    wire_invitations(services)
    wire_distribution(services)
    services.window_closed_hooks.append(held_notice(services))
    if mail_directory is not None:
        # Tests pass a fake instead of the mailboxes feature's real directory (installed above).
        services.provide(mail_directory, as_type=MailSenderDirectory)
    quotes_feature.install(services, pdf_renderer or WeasyPrintRenderer())
    invoices_feature.install(services)
    services.provide(classifier or build_classifier(settings), as_type=Classifier)
    digests_feature.install(services)
    return services


def wire_invitations(services: Services) -> None:
    """Invitations and client accounts; known clients and sent quotes come from the quotes feature."""
    settings = services.settings
    services.provide(QuotesClientDirectory(), as_type=ClientDirectory)
    services.provide(QuotesQuoteLookup(services.catalog), as_type=QuoteLookup)
    try:
        common = CommonPasswords.load(settings.common_passwords_file)
    except OSError as exc:
        raise SettingsError(f"COURRIER_COMMON_PASSWORDS_FILE: cannot read {settings.common_passwords_file}: {exc}") from exc
    hasher = PasswordHasher(time_cost=settings.password_hash_time_cost, memory_cost=settings.password_hash_memory_kib,
                            parallelism=settings.password_hash_parallelism)
    invitations = InvitationService(services, hasher=hasher, common=common)
    services.provide(invitations)
    services.status_providers.append(invitations.status_lines)
    services.jobs.append(JobSpec("invitations:sweep", "interval", lambda s: s.get(InvitationService).sweep(),
                                 {"minutes": 1}))


def prepare_database(services: Services) -> None:
    """Apply migrations and make sure the default organization exists."""
    from storage.migrate import upgrade

    upgrade(services.db.url)
    with services.db.write() as session:
        ensure_default_org(session, services.settings.organization_name)
