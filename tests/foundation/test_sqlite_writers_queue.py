"""SQLite writers queue on a file lock beside the database (``service/db.py``): a write
transaction holds it from BEGIN to the connection's return, a read-only one never takes it, and
a second writer waits for the first instead of polling."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from service import db
from service.db import make_engine
from service.migrations import upgrade


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
