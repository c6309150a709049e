"""The services container the composition root fills and every handler receives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from bot.clock import Clock
from bot.i18n import Catalog
from bot.router import CommandTable, Dispatcher
from bot.settings import Settings
from integrations.whatsapp import WhatsAppSender
from storage.db import Database
from storage.secretbox import SecretBox

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.ingest import Ingest
    from storage.models import Organization, OutboxMessage

T = TypeVar("T")

StatusProvider = Callable[["Session", "Organization", str], list[str]]
"""Adds lines to the ``statut`` reply: (session, organization, language) -> lines."""

OutboxHook = Callable[["Session", "OutboxMessage"], None]
"""Called in the dispatcher's transaction when a message could not be delivered as free text."""


@dataclass(frozen=True)
class JobSpec:
    """A scheduled job: an id, an APScheduler trigger and its arguments, a function of Services."""

    id: str
    trigger: str
    func: Callable[[Services], None]
    trigger_args: dict[str, Any] = field(default_factory=dict)


class MissingServiceError(LookupError):
    """A feature service was asked for but not wired by the composition root."""


@dataclass
class Services:
    """Shared services: settings, database, clock, catalog, commands, WhatsApp sender, features."""

    settings: Settings
    db: Database
    clock: Clock
    catalog: Catalog
    commands: CommandTable
    whatsapp: WhatsAppSender
    secrets: SecretBox | None
    ingest: Ingest
    dispatcher: Dispatcher
    stranger_handler: Callable[..., list[Any]] | None = None
    status_providers: list[StatusProvider] = field(default_factory=list)
    window_closed_hooks: list[OutboxHook] = field(default_factory=list)
    jobs: list[JobSpec] = field(default_factory=list)
    shutdown_hooks: list[Callable[[], None]] = field(default_factory=list)
    # Long runs (invoice batches) by kind: run here, or handed to the ``bulk`` queue when a launcher is set.
    bulk_handlers: dict[str, Callable[[Services, int], None]] = field(default_factory=dict)
    bulk_launcher: Callable[[str, int], bool] | None = None
    _features: dict[type[Any], Any] = field(default_factory=dict)
    _wakeups: list[Callable[[], None]] = field(default_factory=list)

    def provide(self, service: Any, as_type: type[Any] | None = None) -> None:
        """Register a feature service under its class (or the given port type)."""
        self._features[as_type or type(service)] = service

    def get(self, cls: type[T]) -> T:
        """A feature service by class; a clear error when it was not wired."""
        try:
            return self._features[cls]  # type: ignore[no-any-return]
        except KeyError:
            raise MissingServiceError(f"{cls.__name__} is not configured in this deployment") from None

    def has(self, cls: type[Any]) -> bool:
        """True when a feature service of that class is wired."""
        return cls in self._features

    def on_outbox(self, wake: Callable[[], None]) -> None:
        """Register a thread-safe callback run whenever messages were put in the outbox."""
        self._wakeups.append(wake)

    def off_outbox(self, wake: Callable[[], None]) -> None:
        """Stop calling ``wake``."""
        if wake in self._wakeups:
            self._wakeups.remove(wake)

    def outbox_changed(self) -> None:
        """Wake whatever sends the outbox (thread-safe)."""
        for wake in self._wakeups:
            wake()

    def require_secrets(self) -> SecretBox:
        """The secret box; a clear error when no key is configured."""
        if self.secrets is None:
            raise MissingServiceError("no secret key is configured: set COURRIER_SECRET_KEYS")
        return self.secrets
