"""The mailboxes migration goes down and up again on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect

from storage.db import throwaway_engine
from storage.migrate import alembic_config, current_heads

pytestmark = pytest.mark.postgres

TABLES = {"mailboxes", "mail_messages", "mailbox_links", "mailbox_oauth_states"}


def tables(url: str) -> set[str]:
    engine = throwaway_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_downgrade_then_upgrade(db_url: str) -> None:
    assert tables(db_url) >= TABLES
    try:
        command.downgrade(alembic_config(db_url), "0001_spine")
        assert current_heads(db_url) == {"0001_spine"}
        assert not TABLES & tables(db_url)
    finally:
        command.upgrade(alembic_config(db_url), "head")
    assert tables(db_url) >= TABLES
