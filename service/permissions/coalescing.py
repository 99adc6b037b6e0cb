"""PostgreSQL reads for permission checks, coalesced across the requests of one process.

On PostgreSQL every check's snapshot (the caller's key, the catalog revision, the learner's facts
revision) is a round trip that costs the database more CPU than the rest of the check. So a
process keeps one asynchronous connection for these reads and, while a read is in flight, lets
the checks that arrive meanwhile wait for the *next* read, which then answers all of them in one
statement (``= ANY(...)`` over their key prefixes and learners). Under load one statement serves
tens of checks; alone, a check waits for nothing.

Freshness is the same as one read per check: a check only ever uses a statement that *started
after it arrived*, so anything committed before the check was asked is seen. The event loop is
never blocked on the database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import psycopg
from sqlalchemy.engine import Engine

from service.permissions.repository import (
    LearnerRows,
    Snapshot,
    Statements,
    read_facts,
    read_snapshot,
)


class _Waiting:
    __slots__ = ("future", "learner_ids", "prefix")

    def __init__(self, prefix: str, learner_ids: Sequence[str], future: asyncio.Future[Any]):
        self.prefix = prefix
        self.learner_ids = learner_ids
        self.future = future


class CoalescingStore:
    """One process's asynchronous PostgreSQL connection for permission reads (event loop only).

    Opened on first use, reopened once after an error, closed with :meth:`close`.
    """

    def __init__(self, engine: Engine) -> None:
        self.sql = Statements("postgresql")
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()
        self._waiting: list[_Waiting] = []
        self._reader: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ reads

    async def snapshot(self, key_prefix: str, learner_ids: Sequence[str]) -> Snapshot:
        """As :meth:`PermissionStore.snapshot`, answered by the next coalesced statement."""
        future: asyncio.Future[Snapshot] = self._on_this_loop().create_future()
        self._waiting.append(_Waiting(key_prefix, learner_ids, future))
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_waiting())
        return await future

    async def facts(self, learner_ids: Sequence[str]) -> dict[str, LearnerRows]:
        """As :meth:`PermissionStore.facts` (learners not cached or changed; not coalesced)."""
        self._on_this_loop()
        ids = list(learner_ids)
        rows = await self._fetch(self.sql.facts, (ids, ids, ids, ids))
        return read_facts(rows, self.sql.datetime)

    def _on_this_loop(self) -> asyncio.AbstractEventLoop:
        """The running loop; a connection and lock from another loop (a test client's earlier
        one) are dropped, not awaited."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._lock = asyncio.Lock()
            self._waiting, self._reader = [], None
            connection, self._connection = self._connection, None
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.pgconn.finish()
        return loop

    async def _read_waiting(self) -> None:
        while self._waiting:
            # Those waiting now get the statement that starts now; later arrivals the next one.
            batch, self._waiting = self._waiting, []
            prefixes = list({waiting.prefix for waiting in batch})
            learners = list({i: None for waiting in batch for i in waiting.learner_ids})
            try:
                rows = await self._fetch(self.sql.snapshot_many, (prefixes, learners))
            except Exception as exc:  # every waiting check fails as its own read would have
                for waiting in batch:
                    if not waiting.future.done():
                        waiting.future.set_exception(exc)
                continue
            clients, revision, revisions = read_snapshot(rows)
            for waiting in batch:
                if waiting.future.done():  # the check was cancelled (client went away)
                    continue
                mine = {i: revisions[i] for i in waiting.learner_ids if i in revisions}
                waiting.future.set_result(Snapshot(clients.get(waiting.prefix), revision, mine))

    # ------------------------------------------------------------------ connection handling

    async def _fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """All rows of one statement; a broken connection is replaced and the read retried once."""
        async with self._lock:
            for attempt in (1, 2):
                if self._connection is None or self._connection.closed:
                    self._connection = await psycopg.AsyncConnection.connect(
                        self._conninfo, autocommit=True
                    )
                try:
                    cursor = await self._connection.execute(sql, tuple(params))
                    return await cursor.fetchall()
                except psycopg.OperationalError:
                    broken, self._connection = self._connection, None
                    with contextlib.suppress(Exception):
                        await broken.close()
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()
