"""What invitations need from the quotes feature, as two small ports with "absent" defaults.

``ClientDirectory`` finds a known client by name (``inviter Dupont``); ``QuoteLookup`` lists the
quotes sent to an address (the client's account page). The composition root registers the
defaults below until the quotes feature provides real implementations with
``services.provide(impl, as_type=ClientDirectory)`` / ``as_type=QuoteLookup``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session


class FeatureUnavailable(LookupError):
    """The feature behind a lookup is not part of this deployment yet."""


@dataclass(frozen=True)
class KnownClient:
    """A client of the organization, as the quotes feature knows them."""

    id: int
    name: str
    email: str | None


@dataclass(frozen=True)
class QuoteSummary:
    """One quote sent to a client's address, as the account page shows it."""

    reference: str
    title: str
    total: str  # already formatted with its currency, e.g. "1 250,00 €"
    status: str  # a short word in the client's language, e.g. "envoyé", "accepté"
    sent_at: datetime | None
    url: str | None = None  # where the client can open the PDF, when the quotes feature offers one


class ClientDirectory(Protocol):
    """Known clients of an organization."""

    def find_clients(self, session: Session, org_id: int, query: str, *, limit: int = 5) -> list[KnownClient]:
        """Clients whose name matches ``query`` (case and accents ignored), best first."""
        ...


class QuoteLookup(Protocol):
    """Quotes an organization sent."""

    def quotes_for_email(self, session: Session, org_id: int, email: str, *, limit: int = 50) -> list[QuoteSummary]:
        """Quotes sent to ``email``, newest first."""
        ...


class NoClientDirectory:
    """The default until the quotes feature lands: there is no client list to search."""

    def find_clients(self, session: Session, org_id: int, query: str, *, limit: int = 5) -> list[KnownClient]:
        """Always raises FeatureUnavailable: clients are not available in this deployment."""
        raise FeatureUnavailable("the client list (quotes feature) is not available in this deployment")


class NoQuoteLookup:
    """The default until the quotes feature lands: nobody has been sent a quote."""

    available = False

    def quotes_for_email(self, session: Session, org_id: int, email: str, *, limit: int = 50) -> list[QuoteSummary]:
        """No quotes (the quotes feature is absent)."""
        return []
