"""Migrations: one linear history, down and up cleanly, and a schema equal to the models."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from storage.db import throwaway_engine
from storage.metadata import metadata
from storage.migrate import alembic_config, current_heads, upgrade

pytestmark = pytest.mark.postgres


def test_history_is_linear() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, "several heads: re-chain the newest migration"
    assert len(script.get_bases()) == 1


def test_schema_matches_the_models(db_url: str) -> None:
    engine = throwaway_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_every_migration_goes_down_and_up(db_url: str) -> None:
    config = alembic_config(db_url)
    command.downgrade(config, "base")
    assert current_heads(db_url) == set()
    upgrade(db_url)
    assert current_heads(db_url) == set(ScriptDirectory.from_config(config).get_heads())
