"""All models imported in one place, so Alembic and rotation see every table."""

from __future__ import annotations

from storage import mail, models
from storage.models import Base

metadata = Base.metadata

__all__ = ["mail", "metadata", "models"]
