"""SQLite writers queue on a file lock beside the database (``service/db.py``): a write
transaction holds it from BEGIN to the connection's return, a read-only one never takes it, and
a second writer waits for the first instead of polling. The write-ahead log is copied into the
database by the process's checkpointer thread, not by a writer inside its commit."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from service import db
from service.app import create_app
from service.db import WalCheckpointer, make_engine
from service.migrations import upgrade
from service.settings import Settings


def _held(path: Path) -> bool:
    """Whether another open file description holds the lock (probed without waiting)."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)  # closing releases a lock this probe took
    return False


def test_a_write_transaction_holds_the_writers_lock_until_it_ends(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    upgrade(url)
    engine = make_engine(url)
    lock = tmp_path / "q.db-writers.lock"
    with engine.connect().execution_options(sqlite_readonly=True) as reader:
        reader.execute(text("SELECT count(*) FROM learner")).scalar_one()
        assert not _held(lock), "a read-only transaction took the writers' lock"
    with Session(engine) as session:
        session.execute(text("SELECT count(*) FROM learner")).scalar_one()
        assert _held(lock)
        session.commit()
        assert not _held(lock), "still held after commit"
        session.execute(text("SELECT 1"))
        assert _held(lock)
        session.rollback()
        assert not _held(lock), "still held after rollback"
    engine.dispose()


def test_a_second_writer_waits_for_the_first_and_then_goes_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    upgrade(url)
    first, second = make_engine(url), make_engine(url)  # as two processes would
    order: list[str] = []
    with Session(first) as holder:
        holder.execute(text("SELECT 1"))

        def write() -> None:
            with Session(second) as session:
                session.execute(text("SELECT 1"))
                order.append("second began")
                session.commit()

        waiter = threading.Thread(target=write)
        waiter.start()
        time.sleep(0.3)
        assert order == [], "the second writer began while the first held the lock"
        order.append("first committed")
        holder.commit()
    waiter.join(timeout=10)
    assert order == ["first committed", "second began"]
    first.dispose()
    second.dispose()


def test_a_writer_that_never_lets_go_ends_in_database_is_locked_not_a_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second write session in the same thread as the first (a bug, but one that must fail,
    not hang): the queue gives up after its patience and SQLite's busy timeout answers."""
    monkeypatch.setattr(db, "QUEUE_PATIENCE_SECONDS", 0.2)
    url = f"sqlite:///{tmp_path / 'q.db'}"
    upgrade(url)
    first, second = make_engine(url), make_engine(url)
    event.listen(second, "connect", lambda c, _r: c.execute("PRAGMA busy_timeout=200"))
    started = time.monotonic()
    with Session(first) as holder, Session(second) as nested:
        holder.execute(text("SELECT 1"))
        with pytest.raises(OperationalError, match="database is locked"):
            nested.execute(text("SELECT 1"))
    assert time.monotonic() - started < 10
    first.dispose()
    second.dispose()


# --- checkpoints: made by the process's checkpointer, not inside a writer's commit ------------

_PAGES_A_WRITE = 100  # rows of 3,000 bytes: about a page each


def _write_pages(engine: Engine, transactions: int) -> None:
    for _ in range(transactions):
        with Session(engine) as session:
            session.execute(
                text(
                    "INSERT INTO scratch SELECT randomblob(3000) FROM (WITH RECURSIVE n(i) AS "
                    f"(SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {_PAGES_A_WRITE}) "
                    "SELECT i FROM n)"
                )
            )
            session.commit()


def test_writers_leave_checkpoints_to_the_checkpointer(tmp_path: Path) -> None:
    """SQLite's default would have the writer whose commit takes the log past 1,000 pages copy
    it into the database inside that commit, holding the writers' lock. Here the log grows
    past that with no checkpoint, and the checkpointer's thread copies it in."""
    database = tmp_path / "c.db"
    url = f"sqlite:///{database}"
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        session.execute(text("CREATE TABLE scratch (b BLOB)"))
        session.commit()
        page = session.execute(text("PRAGMA page_size")).scalar_one()
        pages = session.execute(text("PRAGMA wal_autocheckpoint")).scalar_one()
    assert pages == db.WRITERS_CHECKPOINT_PAGES
    before = database.stat().st_size
    _write_pages(engine, 15)  # about 1,500 pages
    wal = Path(f"{database}-wal").stat().st_size
    assert wal > 1_200 * page, f"a writer checkpointed: the log is {wal // page} pages"
    assert database.stat().st_size == before, "the pages reached the database file already"

    checkpointer = WalCheckpointer(engine, interval=0.01)
    checkpointer.start()
    try:
        deadline = time.monotonic() + 10
        while database.stat().st_size < before + 1_400 * page:
            assert time.monotonic() < deadline, "the checkpointer copied nothing in 10 s"
            time.sleep(0.01)
        _write_pages(engine, 2)  # writers go on beside it
    finally:
        checkpointer.stop()
    assert not any(t.name == "wal-checkpointer" for t in threading.enumerate())
    with Session(engine) as session:
        stored = session.execute(text("SELECT count(*) FROM scratch")).scalar_one()
    assert stored == 17 * _PAGES_A_WRITE
    engine.dispose()


def test_the_checkpointer_never_makes_a_database_that_is_gone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "gone.db"
    engine = make_engine(f"sqlite:///{database}")
    checkpointer = WalCheckpointer(engine, interval=0.01)
    checkpointer.start()
    time.sleep(0.2)
    checkpointer.stop()
    assert not database.exists()
    failures = [r for r in caplog.records if r.name == "credence.db"]
    assert len(failures) == 1, "a failure is logged once, not every 10 ms"
    assert "checkpointing" in failures[0].getMessage()
    engine.dispose()


def test_the_app_checkpoints_a_sqlite_file_while_it_runs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    upgrade(url)
    settings = Settings(database_url=url, dev_key_file=str(tmp_path / "key"))
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200
        assert any(t.name == "wal-checkpointer" for t in threading.enumerate())
    assert not any(t.name == "wal-checkpointer" for t in threading.enumerate())
