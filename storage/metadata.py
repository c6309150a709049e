"""All models imported in one place, so Alembic and rotation see every table."""

from __future__ import annotations

from storage import invitations, invoices, mail, models, quotes, triage
from storage.models import Base

metadata = Base.metadata

__all__ = ["invitations", "invoices", "mail", "metadata", "models", "quotes", "triage"]
