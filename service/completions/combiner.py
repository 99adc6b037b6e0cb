"""Single completions that arrive together are recorded together (group commit).

Learning systems post completions one at a time, many at once. Alone, each would pay for a whole
transaction: its learners' locks, the idempotency and evaluation reads, the audit chain's head,
the commit, its API-key read, and a thread-pool hop or two around them. The combiner records
overlapping requests of one API client (the key's prefix) as one batch through the one write
path, :func:`record_batch`:

* a request that arrives while none of its client's groups is being recorded leads: it takes
  its client's waiting completions (up to :data:`MAX_GROUP`, its own among them, in arrival
  order), records them in one transaction, commits, and hands each request its outcome;
* before it takes them, the leader lets the event loop run a few passes
  (:data:`GATHER_PASSES`), so that requests already received reach the queue and join its
  group (on a busy process this doubles a group's size: the group's fixed cost, its statements
  and commit, is most of a single completion's);
* on SQLite, where one writer of any process writes at a time, the leader's thread first waits
  for the writers' lock and only then takes the group (:meth:`Combiner._lock_then_record`), so
  the requests that arrived while another process wrote are in it too;
* the client's other requests wait on the event loop (no thread); when the group is done, the
  earliest still waiting leads the next group. Different clients' groups run side by side, as
  their requests did before (up to :data:`MAX_LEADERS` at once per process).

The leader also admits its group's callers by the one API-key rule
(:func:`service.auth.service.admit`), with one read of their client row for the whole group
instead of a read (and a thread-pool hop) per request: each presented key is checked against
that row, so a wrong or revoked key gets its own 401 (a key without the scope its 403) and
writes nothing, and a key revoked before the group's read records nothing. (Measured with
``bench/issuance.py`` on PostgreSQL: a single completion cost 2.83 ms of server CPU with a key
read per request, 2.18 ms with none at all.) The route's dependency refuses a missing or malformed
key before anything else; a request that FastAPI finds invalid is answered 422 only after its
key is admitted (``service.deps.AuthFirstRoute``), as the other doors do.

So a lone request is recorded at once, as before (the loop's passes find nothing to do); under
load it waits for the groups of its client queued ahead of it; nothing waits on a timer.
:func:`record_batch` gives each item the outcome it would have had as its own request (its
property tests hold it to that), so every caller gets its own answer: 201, a 200 replay, a 409
or 422 of its own. Nothing is acknowledged before its group commits. If a group fails before its
commit is sent (a database error, not a bad item), each of its items is retried alone, so a
failure answers only the request that causes it; a failure during the commit itself is every
member's answer, as it was for a request alone (whether it committed is unknown, and a retry
could record an item twice).

The combiner commits its own sessions, as the request's session dependency does for other
routes (``service/db.py`` ``get_session``): routes keep to their services, services never commit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import anyio
import anyio.lowlevel
from sqlalchemy import Engine
from sqlmodel import Session

from service.auth.repository import ClientRow, read_client
from service.auth.service import PresentedKey, Principal, admit
from service.completions.batch import record_batch
from service.completions.common import BatchOutcome
from service.completions.schemas import CompletionIn
from service.errors import ServiceError
from service.issuance.context import Issuer

#: Completions per group: well under the batch size above which a writer excludes everyone
#: (``service.audit.service.MAX_LEARNER_LOCKS``), so groups of different learners still run
#: alongside other writers.
MAX_GROUP = 32

#: Groups (of different clients) recorded at once by one process, each in its own thread.
MAX_LEADERS = 8

#: Passes of the event loop a leader lets run before it takes its group (no timer: on an idle
#: loop they take microseconds). Requests whose bytes have already arrived get parsed, routed
#: and queued in those passes, and join the group instead of waiting for the next one. Measured
#: with ``bench/issuance.py`` (16 connections, 2 workers, PostgreSQL): 0 passes gave groups of
#: 3.9 completions and 0.13x the floor; 1 gave 4.4 (0.15x), 2 gave 7.4 (0.16x), 3 gave 7.6
#: (0.20x), 5 gave 7.8 (0.20x), 10 gave 7.6 (0.17x).
GATHER_PASSES = 4


#: What a caller's key must grant to record completions.
SCOPE = "completions:write"


@dataclass(eq=False)
class _Request:
    body: CompletionIn
    key: PresentedKey
    principal: Principal | None = None  # once admitted
    outcome: BatchOutcome | None = None
    error: BaseException | None = None
    done: bool = False
    turn: anyio.Event = field(default_factory=anyio.Event)  # done, or may lead now

    @property
    def client(self) -> str:
        return self.key.prefix

    def answer(self) -> tuple[Principal, BatchOutcome]:
        if self.error is not None:
            raise self.error
        assert self.principal is not None and self.outcome is not None
        return self.principal, self.outcome


class _NotCommitted(Exception):
    """The group failed before its commit was sent: nothing of it was written."""


class Combiner:
    """The process's single-completion writer (see the module). Requests wait on the event
    loop, holding no thread: only the groups being recorded take one (from the combiner's own
    limiter, so the thread pool's other work never waits for them, nor they for it)."""

    def __init__(self, engine: Engine, issuer: Issuer, *, max_group: int = MAX_GROUP) -> None:
        self.engine = engine
        self.issuer = issuer
        self.max_group = max_group
        self._waiting: dict[str, list[_Request]] = {}
        self._leading: set[str] = set()
        self._threads = anyio.CapacityLimiter(MAX_LEADERS)
        # SQLite: one writer of any process at a time (see _lock_then_record)
        self._lock_first = engine.dialect.name == "sqlite"
        # Held while a group is taken (which on SQLite its thread does) and while a request
        # joins or leaves the waiting list: for microseconds, never across an await.
        self._taking = threading.Lock()

    async def record(self, body: CompletionIn, key: PresentedKey) -> tuple[Principal, BatchOutcome]:
        """Record ``body`` for the caller presenting ``key``, committed: the caller admitted and
        its outcome (a problem is returned in it, as from :func:`record_batch`). Raises the
        one rule's 401 or 403 when the key may not record completions."""
        mine = _Request(body, key)
        client = mine.client
        waiting = self._waiting.setdefault(client, [])
        with self._taking:
            waiting.append(mine)
        try:
            while client in self._leading and not mine.done:
                await mine.turn.wait()
                mine.turn = anyio.Event()
        except BaseException:  # cancelled while waiting: not recorded, unless already taken
            with self._taking:
                if mine in waiting:
                    waiting.remove(mine)
            self._pass_turn(client)  # it may have been handed the turn: hand it on
            raise
        if mine.done:
            return mine.answer()
        self._leading.add(client)
        try:
            for _ in range(GATHER_PASSES):  # requests already received join this group
                await anyio.lowlevel.checkpoint()
        except BaseException:  # cancelled before the group was taken: not recorded
            waiting.remove(mine)
            self._leading.discard(client)
            self._pass_turn(client)
            raise
        group: list[_Request] = []

        def take() -> list[_Request]:  # on the event loop, or in the group's thread
            with self._taking:
                others = [r for r in waiting if r is not mine][: self.max_group - 1]
                group[:] = [r for r in waiting if r is mine or r in others]  # arrival order
                waiting[:] = [r for r in waiting if r not in group]
            return group

        try:
            with anyio.CancelScope(shield=True):  # a thread cannot be stopped: wait for it
                if self._lock_first:
                    await anyio.to_thread.run_sync(
                        self._lock_then_record, client, take, limiter=self._threads
                    )
                else:
                    await anyio.to_thread.run_sync(self._record, take(), limiter=self._threads)
        finally:
            if not group:  # the thread failed before it took its group
                waiting.remove(mine)
                group.append(mine)
            for request in group:
                if not request.done:  # interrupted: no request may wait for ever
                    request.error = request.error or RuntimeError("the group was not recorded")
                    request.done = True
                request.turn.set()
            self._leading.discard(client)
            self._pass_turn(client)
        return mine.answer()

    def _pass_turn(self, client: str) -> None:
        """Wake the client's earliest waiting request to lead, when none leads."""
        waiting = self._waiting.get(client)
        if client in self._leading:
            return
        if waiting:
            waiting[0].turn.set()
        else:
            self._waiting.pop(client, None)

    def _lock_then_record(self, client: str, take: Callable[[], list[_Request]]) -> None:
        """In a thread, on SQLite: the writers' lock first (``BEGIN IMMEDIATE``, which waits
        for any other process's writer: ``service.db._WritersQueue``), and only then the group,
        taken then, recorded in that transaction. Requests that arrive while another
        process writes join this group instead of waiting for the next one, which
        would wait for that process's next group in turn: ``bench/issuance.py --db sqlite``'s
        p99 fell by about a tenth, its throughput unchanged (``docs/performance.md``). The
        group is taken in this thread, under :attr:`_taking`: taking it through the event loop
        held the lock while the loop got round to it, which cost throughput.

        The client row is read before the lock is taken: a thread that held the lock while it
        waited for a second connection, from a pool that the writers queueing for the lock may
        have emptied, would stall every writer until the pool's timeout."""
        try:
            row = read_client(self.engine, client)
        except Exception as exc:
            _fail(take(), exc)
            return
        session = Session(self.engine, expire_on_commit=False)
        try:
            session.connection()  # BEGIN IMMEDIATE, once the writers' lock is ours
        except Exception as exc:  # the lock or the database is not to be had: nothing written
            session.close()
            _fail(take(), exc)
            return
        try:
            self._record(take(), (session, row))
        finally:  # however it ended (a second close is harmless): the lock is let go
            session.close()

    def _record(
        self, group: Sequence[_Request], begun: tuple[Session, ClientRow | None] | None = None
    ) -> None:
        """In a thread: the group's callers admitted (one read of their client row, unless
        ``begun`` brings it with the group's session, its transaction begun), then the group in
        one transaction, or (if it fails before its commit) each item alone."""
        session: Session | None = None
        if begun is None:
            try:
                row = read_client(self.engine, group[0].key.prefix)
            except Exception as exc:
                _fail(group, exc)
                return
        else:
            session, row = begun
        group = self._admit(group, row)
        if not group:
            if session is not None:
                session.close()
            return
        try:
            outcomes = self._transaction(group, session)
        except _NotCommitted as failed:
            if len(group) > 1:
                for request in group:
                    self._record([request])
                return
            group[0].error = failed.__cause__
            group[0].done = True
            return
        except Exception as exc:  # the commit itself failed: each member's answer
            _fail(group, exc)
            return
        for request, outcome in zip(group, outcomes, strict=True):
            request.outcome = outcome
            request.done = True

    def _admit(self, group: Sequence[_Request], client: ClientRow | None) -> list[_Request]:
        """The members the one API-key rule admits (each presented key is checked against the
        client row, read once for the group outside its transaction: the prefix is shared, the
        secrets may differ); the others get its 401 or 403."""
        admitted = []
        for request in group:
            try:
                request.principal = admit(client, request.key, SCOPE)
            except ServiceError as refused:
                request.error = refused
                request.done = True
                continue
            admitted.append(request)
        return admitted

    def _transaction(
        self, group: Sequence[_Request], begun: Session | None = None
    ) -> list[BatchOutcome]:
        """The group recorded and committed in one transaction (``begun``'s, if given); the
        session is closed however it ends, so the retries that may follow take the writers'
        lock afresh."""
        principal = group[0].principal
        assert principal is not None
        session = begun if begun is not None else Session(self.engine, expire_on_commit=False)
        with session:
            try:
                outcomes = record_batch(
                    session,
                    self.issuer,
                    [r.body for r in group],
                    source=principal.prefix,
                    actor=principal.actor,
                )
                session.flush()
            except Exception as exc:
                raise _NotCommitted() from exc
            session.commit()
        return outcomes


def _fail(group: Sequence[_Request], error: BaseException) -> None:
    """Every member of ``group`` answered with ``error``."""
    for request in group:
        request.error = error
        request.done = True
