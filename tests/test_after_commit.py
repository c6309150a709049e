"""Follow-ups that run once a transaction has committed (``storage.db.after_commit``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import Database, after_commit


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'a.db'}")
    with database.write() as session:
        session.execute(text("CREATE TABLE t (v INTEGER)"))
    yield database
    database.dispose()


def _count(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(text("SELECT count(*) FROM t")) or 0)


def test_runs_once_after_the_outer_commit_and_never_after_a_rollback(db: Database) -> None:
    calls: list[int] = []
    with db.write() as session:
        after_commit(session, lambda: calls.append(_count(db)))
        with session.begin_nested():
            session.execute(text("INSERT INTO t (v) VALUES (1)"))
        assert calls == []  # a savepoint's commit is not the commit
    assert calls == [1]  # the row is visible to another session when the follow-up runs
    with pytest.raises(RuntimeError), db.write() as session:
        after_commit(session, lambda: calls.append(-1))
        session.execute(text("INSERT INTO t (v) VALUES (2)"))
        raise RuntimeError("handler failed")
    assert calls == [1] and _count(db) == 1


def test_a_failing_follow_up_is_logged_and_the_commit_stands(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise RuntimeError("executor shut down")

    with db.write() as session:
        after_commit(session, broken)
        session.execute(text("INSERT INTO t (v) VALUES (1)"))
    assert _count(db) == 1
    assert "a follow-up of a committed transaction failed" in caplog.text and "executor shut down" in caplog.text
