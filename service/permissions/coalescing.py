"""PostgreSQL reads for permission checks, coalesced across the requests of one process.

On PostgreSQL every check's snapshot (the caller's key, the catalog revision, the learner's facts
revision) is a round trip that costs the database more CPU than the rest of the check. So a
process keeps an asynchronous connection for these reads and, while a read is in flight, lets the
checks that arrive meanwhile wait for the *next* read, which then answers all of them in one
statement (``= ANY(...)`` over their key prefixes and learners, with the facts of the learners
the process's cache does not hold from their ``learner_facts`` rows where those are current: see
:mod:`service.permissions.repository`). Under load one statement serves tens of checks;
alone, a check waits for nothing. Reading the facts of the other learners (a row missing or
behind, or a learner held whose facts changed) works the same way on a second connection, whose
statement builds their rows, so a burst of changes neither queues one by one nor holds up the
snapshots, and the statement every check runs writes nothing.

Freshness is the same as one read per check: a check only ever uses a statement that *started
after it asked*, so anything committed before the check was asked is seen (and the facts read
for a check start after its snapshot). The event loop is never blocked on the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import psycopg
from sqlalchemy.engine import Engine

from service.auth.repository import ClientRow
from service.permissions.repository import (
    FactsRows,
    Snapshot,
    Statements,
    read_facts,
    read_snapshot,
    read_summaries,
    read_summarized,
)

SnapshotAsk = tuple[str, Sequence[str], Sequence[str]]  # key prefix, learners, facts of

log = logging.getLogger("credence.permissions")

#: Seconds the checks read the facts tables directly after their statement could not write a
#: learner's facts row (a full disk, a read-only database), before they try the rows again.
ROWS_PAUSE = 60.0

Ask = TypeVar("Ask")
Answer = TypeVar("Answer")
Fetch = Callable[[str, Sequence[Any]], Awaitable[list[Any]]]


class _Lane(Generic[Ask, Answer]):
    """One connection and the questions waiting for its next statement.

    ``answer(fetch, asks)`` makes one statement (through ``fetch``) for all ``asks`` and returns
    their answers in order. Used from one event loop; a lane from an earlier loop (a test
    client's) is replaced, not awaited, by the store.
    """

    def __init__(
        self, conninfo: str, answer: Callable[[Fetch, list[Ask]], Awaitable[list[Answer]]]
    ) -> None:
        self._conninfo = conninfo
        self._answer = answer
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()
        self._waiting: list[tuple[Ask, asyncio.Future[Answer]]] = []
        self._reader: asyncio.Task[None] | None = None

    async def ask(self, question: Ask) -> Answer:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting.append((question, future))
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_waiting())
        return await future

    async def _read_waiting(self) -> None:
        while self._waiting:
            # Those waiting now get the statement that starts now; later arrivals the next one.
            batch, self._waiting = self._waiting, []
            try:
                answers = await self._answer(self.fetch, [question for question, _ in batch])
            except Exception as exc:  # every waiting check fails as its own read would have
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), answer in zip(batch, answers, strict=True):
                if not future.done():  # else the check was cancelled (client went away)
                    future.set_result(answer)

    async def fetch(self, sql: str, params: Sequence[Any]) -> list[Any]:
        """All rows of one statement; a broken connection is replaced and the read retried once."""
        async with self._lock:
            for attempt in (1, 2):
                if self._connection is None or self._connection.closed:
                    self._connection = await _connect(self._conninfo)
                try:
                    # Binary results: the same values and types as text (see _connect),
                    # without PostgreSQL formatting every timestamp as text and psycopg
                    # parsing it back.
                    cursor = await self._connection.execute(sql, tuple(params), binary=True)
                    return await cursor.fetchall()
                except psycopg.OperationalError:
                    broken, self._connection = self._connection, None
                    with contextlib.suppress(Exception):
                        await broken.close()
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")  # pragma: no cover

    def abandon(self) -> None:
        """Drop the connection without awaiting (its event loop is gone)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.pgconn.finish()

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()


async def _connect(conninfo: str) -> psycopg.AsyncConnection[Any]:
    """An autocommit connection set up for the two reads.

    Generic plans: psycopg prepares a statement on its fifth run, but PostgreSQL still plans
    these again on every run (for ``= ANY($1)`` the generic plan's estimate, made for ten
    learners, never beats a custom plan's for one), and planning was most of the database's
    cost of a check (about 0.15 ms a facts statement, 0.07 ms a snapshot, at a million
    learners). The generic plans are the same index scans.

    UTC: psycopg then gives the timestamps as ``datetime.UTC`` datetimes, which the facts
    reader takes as they come (in another session zone, even the server's default
    ``Etc/UTC``, it gives ``ZoneInfo`` ones).

    ``synchronous_commit`` off: the only writes these connections make are ``learner_facts``
    rows (a snapshot statement builds those it finds missing or behind), which are derived from
    the tables and checked against the learner's revision before use; one lost in a crash is
    built again, so a check need not wait for its write-ahead log to reach the disk.

    ``extra_float_digits`` 1 (PostgreSQL's default): a facts row built here writes each score
    as the shortest text that reads back as the same number, whatever the server's setting.

    Results come in binary (:meth:`_Lane.fetch`): the rows, their values and their types are
    those of the text format (compared over a loaded database's statements); when the facts
    rows still held typed arrays (before migration 0019), some forty timestamps per learner,
    PostgreSQL and the client each spent about 6 us less per statement reading one learner's
    facts (six alternating rounds of 10,000 statements, 10,000 bench learners).
    """
    connection = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
    try:
        await connection.execute(
            "SET plan_cache_mode = force_generic_plan; SET TIME ZONE 'UTC';"
            " SET synchronous_commit = off; SET extra_float_digits = 1"
        )
    except BaseException:
        await connection.close()
        raise
    return connection


def _per_ask(
    asks: list[SnapshotAsk],
    clients: dict[str, ClientRow],
    revision: int,
    revisions: dict[str, int],
    facts: Mapping[str, FactsRows] | None = None,
) -> list[Snapshot]:
    """Each ask's :class:`Snapshot` out of one statement's answer for all of them: its key's
    client, its learners' revisions and (``facts``) the facts of the learners it asked for."""
    found = facts or {}
    return [
        Snapshot(
            clients.get(prefix),
            revision,
            {i: revisions[i] for i in ids if i in revisions},
            {i: found[i] for i in unseen if i in found},
        )
        for prefix, ids, unseen in asks
    ]


class CoalescingStore:
    """One process's asynchronous PostgreSQL reads for permission checks (event loop only).

    Connections are opened on first use, reopened once after an error, closed with
    :meth:`close`.
    """

    def __init__(self, engine: Engine) -> None:
        self.sql = Statements("postgresql")
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rows_paused_until = 0.0  # see ROWS_PAUSE
        self._snapshots, self._facts = self._new_lanes()

    def _new_lanes(
        self,
    ) -> tuple[_Lane[SnapshotAsk, Snapshot], _Lane[Sequence[str], dict[str, FactsRows]]]:
        return (
            _Lane(self._conninfo, self._answer_snapshots),
            _Lane(self._conninfo, self._answer_facts),
        )

    def _on_this_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            if self._loop is not None:  # an earlier loop's (a test client's): drop, not await
                self._snapshots.abandon()
                self._facts.abandon()
                self._snapshots, self._facts = self._new_lanes()
            self._loop = loop

    # ------------------------------------------------------------------ reads

    async def snapshot(
        self, key_prefix: str, learner_ids: Sequence[str], facts_of: Sequence[str] = ()
    ) -> Snapshot:
        """As :meth:`PermissionStore.snapshot`, answered by the next coalesced statement."""
        self._on_this_loop()
        return await self._snapshots.ask((key_prefix, learner_ids, facts_of))

    async def facts(self, learner_ids: Sequence[str]) -> dict[str, FactsRows]:
        """As :meth:`PermissionStore.facts`, answered by the next coalesced statement."""
        self._on_this_loop()
        return await self._facts.ask(learner_ids)

    async def _answer_snapshots(self, fetch: Fetch, asks: list[SnapshotAsk]) -> list[Snapshot]:
        """One statement for every waiting check: with the facts of the learners they asked
        for (those the cache does not hold) whose ``learner_facts`` rows are current, if any;
        the checks read the others' facts next (:meth:`facts`)."""
        prefixes = list({prefix for prefix, _, _ in asks})
        learners = list({i: None for _, ids, _ in asks for i in ids})
        facts_of = list({i: None for _, _, unseen in asks for i in unseen})
        if facts_of:
            unseen_now = set(facts_of)
            seen = [i for i in learners if i not in unseen_now]  # their revisions alone
            rows = await fetch(self.sql.with_summaries_many, (facts_of, prefixes, seen))
            return _per_ask(asks, *read_summarized(rows))
        rows = await fetch(self.sql.snapshot_many, (prefixes, learners))
        return _per_ask(asks, *read_snapshot(rows))

    async def _answer_facts(
        self, fetch: Fetch, asks: list[Sequence[str]]
    ) -> list[dict[str, FactsRows]]:
        """One statement for every waiting check's learners: from their ``learner_facts`` rows,
        built where missing or behind; from the tables for a learner whose row is labelled
        later (a concurrent check's, left alone), and for all of them for :data:`ROWS_PAUSE`
        seconds after the rows could not be written (a full disk, a read-only database: checks
        must still answer, as before the rows existed)."""
        learners = list({i: None for ids in asks for i in ids})
        found: dict[str, FactsRows] = {}
        from_tables = learners
        if time.monotonic() >= self._rows_paused_until:
            try:
                known, summaries = read_summaries(
                    await fetch(self.sql.facts_from_summaries, (learners,))
                )
                found.update(summaries)
                from_tables = [i for i in learners if i in known and i not in found]
            except psycopg.DatabaseError as exc:
                self._rows_paused_until = time.monotonic() + ROWS_PAUSE
                log.warning(
                    "permission checks read the facts tables directly for %.0f s: their"
                    " statement could not use the learners' facts rows (%s)",
                    ROWS_PAUSE,
                    exc,
                )
        if from_tables:
            params = (from_tables, from_tables, from_tables, from_tables)
            found.update(read_facts(await fetch(self.sql.facts, params), None))  # UTC already
        return [{i: found[i] for i in ids if i in found} for ids in asks]

    async def close(self) -> None:
        await self._snapshots.close()
        await self._facts.close()
