"""The invitations migration goes down and up again on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect

from storage.db import throwaway_engine
from storage.migrate import alembic_config, upgrade

pytestmark = pytest.mark.postgres

TABLES = {"contact_messages", "invitations", "invitation_tokens", "client_accounts", "client_sessions"}


def tables(url: str) -> set[str]:
    engine = throwaway_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_the_invitations_migration_downgrades_and_upgrades(db_url: str) -> None:
    assert tables(db_url) >= TABLES
    command.downgrade(alembic_config(db_url), "0002_invitations-1")
    left = tables(db_url)
    assert not TABLES & left
    assert {"organizations", "users", "rate_events"} <= left
    upgrade(db_url)
    assert tables(db_url) >= TABLES


def test_the_migrated_schema_matches_the_invitation_models(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from storage.metadata import metadata

    engine = throwaway_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    finally:
        engine.dispose()
    ours = [d for d in diff if any(t in repr(d) for t in TABLES)]
    assert ours == []
