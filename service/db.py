"""Database engine, the request-scoped session, and column types shared by the tables.

The transaction belongs to the request: :func:`get_session` commits when the endpoint returns
and rolls back when it raises. Services only ``flush()``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple
from urllib.parse import quote

import anyio
from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel, create_engine

if TYPE_CHECKING:
    from service.settings import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata = MetaData(naming_convention=NAMING_CONVENTION)

logger = logging.getLogger("credence.db")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    """Create the engine. SQLite gets WAL, foreign keys, a busy timeout and IMMEDIATE writes
    queued across processes (:class:`_WritersQueue`); PostgreSQL a pool that reuses the most
    recent connection first and pings one only after it sat idle (:func:`_ping_when_idle`)."""
    if database_url.startswith("sqlite"):
        engine = create_engine(
            database_url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    if "poolclass" not in kwargs and "isolation_level" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        kwargs.setdefault("pool_use_lifo", True)  # idle connections stay idle (and unpinged)
    engine = create_engine(database_url, **kwargs)
    _ping_when_idle(engine)
    return engine


#: A pooled connection idle this long is pinged before use (a database restart or an idle
#: timeout may have closed it); one in steady use is not, saving a round trip per checkout.
PING_AFTER_IDLE_SECONDS = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """``pool_pre_ping``, for connections that have been idle: a dead one is replaced before
    the request uses it (the pool retries the checkout with a fresh connection). Pinging every
    checkout cost a round trip per request and per auth lookup on the hottest paths."""

    @event.listens_for(engine.pool, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("the pooled connection is gone") from exc


def read_once(engine: Engine) -> Connection:
    """A connection for a single read-only statement: on PostgreSQL in autocommit (no BEGIN
    and ROLLBACK round trips around the one statement), on SQLite a plain ``BEGIN`` (not the
    writers' ``IMMEDIATE``). Several statements that must agree need a transaction instead."""
    connection = engine.connect()
    if engine.dialect.name == "postgresql":
        return connection.execution_options(isolation_level="AUTOCOMMIT")
    return connection.execution_options(sqlite_readonly=True)


def pool_options(settings: Settings) -> dict[str, int]:
    """The connection pool a served process keeps (PostgreSQL; SQLite keeps its defaults)."""
    if settings.database_url.get_secret_value().startswith("sqlite"):
        return {}
    return {
        "pool_size": settings.database_pool_size,
        "max_overflow": settings.database_max_overflow,
    }


def _configure_sqlite(engine: Engine) -> None:
    queue = _writers_queue(engine.url.database)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, issue BEGIN (so writes can take the lock up front).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Checkpoints are the process's WalCheckpointer's; a writer makes one only if the
        # write-ahead log outgrows this (no checkpointer running, or one that cannot keep up).
        cursor.execute(f"PRAGMA wal_autocheckpoint={WRITERS_CHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A read-then-write transaction on SQLite fails with SQLITE_BUSY when another writer
        # committed in between; taking the write lock at BEGIN makes writers queue instead.
        if connection.get_execution_options().get("sqlite_readonly"):
            connection.exec_driver_sql("BEGIN")
        else:
            if queue is not None:
                queue.join(connection.connection.info)
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine.pool, "checkin")
    def _end_a_failed_commit(dbapi_connection: Any, _record: Any) -> None:
        # A COMMIT that SQLite refuses (a reference checked at commit, a busy database) leaves
        # its transaction open, with the write lock, and SQLAlchemy, having sent the COMMIT,
        # returns the connection without a rollback: every later writer would wait on it.
        if dbapi_connection is not None and dbapi_connection.in_transaction:
            dbapi_connection.rollback()

    if queue is not None:
        # the transaction has ended (committed or rolled back) when its connection goes back
        event.listen(engine.pool, "checkin", lambda _c, record: queue.leave(record.info))
        event.listen(engine.pool, "close", lambda _c, record: queue.leave(record.info, True))
        event.listen(engine.pool, "invalidate", lambda _c, r, _e: queue.leave(r.info, True))
        event.listen(engine.pool, "detach", lambda _c, record: queue.leave(record.info, True))


class _WritersQueue:
    """SQLite writers of every process queue on an exclusive ``flock`` of a file beside the
    database, taken before ``BEGIN IMMEDIATE`` and released when the connection goes back to
    the pool (a session returns it when its transaction ends; a ``Connection`` kept open past
    its commit keeps the lock until it is closed). SQLite's own busy handler polls with sleeps
    growing to 100 ms and serves no one in order: under steady writes from two processes a
    writer waited seconds (single completions, p99 0.5-3.5 s with a p50 of 30 ms). Here a
    waiter retries every millisecond or so. After :data:`QUEUE_PATIENCE_SECONDS` it stops
    queueing and leaves the wait to SQLite's busy timeout, so a writer that never lets go (a
    second write session in the same thread, a paused process) still ends in SQLite's
    "database is locked" after that timeout, as without the queue, never in a wait for ever."""

    def __init__(self, path: str) -> None:
        self.path = path

    def join(self, info: dict[str, Any]) -> None:
        if info.get("writer_locked"):
            return
        descriptor = info.get("writer_lock")
        if descriptor is None:  # read-only suffices for flock: any user who may read may queue
            descriptor = info["writer_lock"] = os.open(self.path, os.O_RDONLY | os.O_CREAT, 0o644)
        deadline = time.monotonic() + QUEUE_PATIENCE_SECONDS
        pause = 0.0002
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return  # SQLite's busy timeout decides from here
                time.sleep(pause)
                pause = min(pause * 2, 0.002)
                continue
            info["writer_locked"] = True
            return

    def leave(self, info: dict[str, Any], closing: bool = False) -> None:
        descriptor = info.get("writer_lock")
        if descriptor is None:
            return
        if info.pop("writer_locked", False):
            fcntl.flock(descriptor, fcntl.LOCK_UN)
        if closing:
            os.close(info.pop("writer_lock"))


#: How long a SQLite writer queues for the writers' lock before SQLite's busy timeout takes over.
QUEUE_PATIENCE_SECONDS = 10.0

#: The write-ahead log's size (pages) at which a SQLite writer checkpoints it itself: four times
#: SQLite's default, a backstop for when no :class:`WalCheckpointer` keeps it short.
WRITERS_CHECKPOINT_PAGES = 4000


class WalCheckpointer:
    """Copies a SQLite database's write-ahead log back into the database in a thread of its own,
    so that writers never do.

    SQLite checkpoints by default in the writer whose commit takes the log past 1,000 pages,
    inside that commit: writing ~1,000 pages into the database file and syncing it took 25-45 ms
    here, while the writer still held the writers' lock (:class:`_WritersQueue`) and every
    other writer of every process waited behind it, several times a second under single
    completions. A ``PASSIVE`` checkpoint waits for no reader or writer and blocks none, and
    Python's ``sqlite3`` lets go of the GIL while it runs. Every ``interval`` seconds this makes
    one on a connection of its own; writers checkpoint only past
    :data:`WRITERS_CHECKPOINT_PAGES`. Each served process runs one (two at once are harmless:
    the second finds the checkpoint taken and tries again later). Started and stopped by the
    app's lifespan; nothing for PostgreSQL or an in-memory database.
    """

    def __init__(self, engine: Engine, interval: float = 0.1) -> None:
        self.path = _database_file(engine.url.database if engine.dialect.name == "sqlite" else None)
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.path is None or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="wal-checkpointer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join()

    def _run(self) -> None:
        assert self.path is not None
        connection: sqlite3.Connection | None = None
        failing = False
        while not self._stop.wait(self.interval):
            try:
                if connection is None:  # mode=rw: a database file that is gone stays gone
                    uri = f"file:{quote(self.path)}?mode=rw"
                    connection = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=0)
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                failing = False
            except sqlite3.Error as exc:  # the database is gone or not in WAL mode yet: retry
                if not failing:
                    logger.warning("checkpointing %s failed: %s", self.path, exc)
                failing = True
                if connection is not None:
                    connection.close()
                    connection = None
        if connection is not None:
            connection.close()


def _writers_queue(database: str | None) -> _WritersQueue | None:
    """The queue for a SQLite database file (none for an in-memory database)."""
    path = _database_file(database)
    return None if path is None else _WritersQueue(f"{path}-writers.lock")


def _database_file(database: str | None) -> str | None:
    """The real path of a SQLite database file (``None`` for an in-memory database or a URI)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return os.path.realpath(database)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session and transaction per request: commit on success, roll back on error.

    A sync endpoint uses the session in a thread-pool thread, and FastAPI serializes its return
    value in *another* pool task before this dependency's exit commits. A writer holds the
    database's write lock (SQLite) or the audit chain's advisory lock (PostgreSQL) from its first
    write to that commit, so if every pool thread were taken by writers waiting for the lock (or
    for a pooled connection), the holder could never serialize and commit: all stalled until the
    30 s timeouts, then 500s (seen with 60 concurrent learner upserts). So sessions are gated:
    at most :func:`session_slots` at once, waiting on the event loop (not in a thread) for a
    slot, which leaves threads and connections for the holder. Commit, rollback and close run on
    their own thread limiter, shielded from cancellation (a client that goes away must not leave
    a transaction open).

    Single completions are the exception: the combiner (``service/completions/combiner.py``)
    records them in groups with sessions of its own, at most ``MAX_LEADERS`` at once per process.
    """
    state = request.app.state
    slots, finishing = state.session_gates
    async with slots:
        session = Session(state.engine, expire_on_commit=False)
        try:
            yield session
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(session.commit, limiter=finishing)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(session.rollback, limiter=finishing)
            raise
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(session.close, limiter=finishing)


def session_slots(engine: Engine) -> int:
    """Request sessions allowed at once: the connection pool's capacity less a few, so the
    authentication reads and the session that holds the lock always find a connection."""
    pool: Any = engine.pool
    try:
        capacity = int(pool.size()) + max(0, int(pool._max_overflow))
    except (AttributeError, TypeError):  # a pool without a fixed size
        return 10
    return max(1, capacity - 5)


class SessionGates(NamedTuple):
    """The app's session slots and finishing threads (see :func:`get_session`)."""

    slots: anyio.CapacityLimiter
    finishing: anyio.CapacityLimiter


def session_gates(engine: Engine) -> SessionGates:
    """Built with the app's engine, before any request (each limiter binds to the event loop
    on first use)."""
    return SessionGates(anyio.CapacityLimiter(session_slots(engine)), anyio.CapacityLimiter(40))


async def get_engine(request: Request) -> Engine:
    """The process's engine (given to ``create_app`` or made in its lifespan); ``async``, so
    handing it out costs no thread-pool hop."""
    engine: Engine = request.app.state.engine
    return engine


#: The process's engine, for the reads that do not belong to the request's transaction.
EngineDep = Annotated[Engine, Depends(get_engine)]
