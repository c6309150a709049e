"""The SQLite write-ahead log stays short: a background thread checkpoints it."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text

from storage.db import Checkpointer, Database


def _write_rows(db: Database, count: int, size: int = 2000) -> None:
    for start in range(0, count, 50):
        with db.write() as session:
            for i in range(start, min(start + 50, count)):
                session.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": f"{i:08d}" + "x" * size})


def test_checkpoints_keep_the_wal_from_growing(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    db = Database(f"sqlite:///{path}")
    assert db.checkpointer is not None
    db.checkpointer.stop()  # drive it by hand below: no timing in this test
    with db.write() as session:
        session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    wal = Path(f"{path}-wal")
    try:
        _write_rows(db, 2000)
        grown = wal.stat().st_size
        assert grown > 4 * 1024 * 1024  # autocheckpoint is off: the WAL only grows by itself

        busy, frames, done = db.checkpointer.checkpoint()
        assert busy == 0 and frames > 0 and done == frames

        # After a complete checkpoint the next writers start the WAL over: it stops growing.
        for _ in range(3):
            _write_rows(db, 500)
            db.checkpointer.checkpoint()
        assert wal.stat().st_size <= grown
        with db.session() as session:
            assert session.execute(text("SELECT count(*) FROM t")).scalar() == 3500
    finally:
        db.dispose()


def test_the_thread_checkpoints_past_its_threshold(tmp_path: Path) -> None:
    path = tmp_path / "thread.db"
    db = Database(f"sqlite:///{path}")
    assert db.checkpointer is not None
    db.checkpointer.stop()
    with db.write() as session:
        session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    _write_rows(db, 200)
    small = Checkpointer(path, interval=0.01, threshold_bytes=1)
    try:
        deadline = time.monotonic() + 30
        while small.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert small.checkpoints >= 1
    finally:
        small.stop()
        db.dispose()
    stopped = small.checkpoints
    time.sleep(0.05)
    assert small.checkpoints == stopped  # stopped means stopped
