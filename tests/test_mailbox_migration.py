"""The mailboxes migration goes down and up again on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from storage.db import throwaway_engine
from storage.migrate import alembic_config, current_heads

pytestmark = pytest.mark.postgres

REVISION = "0004_mailboxes"
TABLES = {"mailboxes", "mail_messages", "mailbox_links", "mailbox_oauth_states"}


def tables(url: str) -> set[str]:
    engine = throwaway_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_downgrade_then_upgrade(db_url: str) -> None:
    config = alembic_config(db_url)
    below = ScriptDirectory.from_config(config).get_revision(REVISION).down_revision
    assert isinstance(below, str)
    assert tables(db_url) >= TABLES
    try:
        command.downgrade(config, below)
        assert current_heads(db_url) == {below}
        assert not TABLES & tables(db_url)
    finally:
        command.upgrade(config, "head")
    assert tables(db_url) >= TABLES
