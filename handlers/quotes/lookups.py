"""The quotes feature's answers to what invitations ask: known clients, and quotes sent to an address."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.i18n import Catalog
from handlers.invitations.lookups import KnownClient, QuoteSummary
from handlers.quotes.clients import find_clients
from handlers.quotes.documents import Formatter
from storage.quotes import Quote

SHOWN_STATUSES = ("sent", "accepted", "declined")


class QuotesClientDirectory:
    """Finds clients with the same forgiving lookup as ``devis Dupont``."""

    def find_clients(self, session: Session, org_id: int, query: str, *, limit: int = 5) -> list[KnownClient]:
        """Matching clients, best first."""
        found = find_clients(session, org_id, query).matches[:limit]
        return [KnownClient(c.id, c.name, c.email) for c in found]


class QuotesQuoteLookup:
    """Lists what an organization sent to an address, for the client's account page."""

    available = True

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def quotes_for_email(self, session: Session, org_id: int, email: str, *, limit: int = 50) -> list[QuoteSummary]:
        """Sent, accepted or declined documents addressed to ``email``, newest first."""
        rows = session.scalars(
            select(Quote)
            .where(Quote.org_id == org_id, func.lower(Quote.sent_to) == email.strip().lower(),
                   Quote.status.in_(SHOWN_STATUSES))
            .order_by(Quote.sent_at.desc(), Quote.id.desc())
            .limit(limit)
        ).all()
        out = []
        for quote in rows:
            lang = quote.language if quote.language in ("fr", "en") else "fr"
            total = Formatter(lang, quote.currency).money(Decimal(quote.total_cents) / 100)
            title = str(quote.data.get("mission_context") or quote.data.get("mission_type") or quote.number)
            out.append(QuoteSummary(
                reference=quote.number,
                title=title[:120],
                total=total,
                status=self._catalog.t(f"quotes.status.{quote.status}", lang),
                sent_at=quote.sent_at,
            ))
        return out
