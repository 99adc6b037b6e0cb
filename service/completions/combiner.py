"""Single completions that arrive together are recorded together (group commit).

Learning systems post completions one at a time, many at once. Alone, each would pay for a whole
transaction: its learners' locks, the idempotency and evaluation reads, the audit chain's head,
the commit, and a thread-pool hop or two around them. The combiner records overlapping requests
of one API client (and actor) as one batch through the one write path, :func:`record_batch`:

* a request that arrives while none of its client's groups is being recorded leads: it takes
  its client's waiting completions (up to :data:`MAX_GROUP`, its own among them, in arrival
  order), records them in one transaction, commits, and hands each request its outcome;
* the client's other requests wait on the event loop (no thread); when the group is done, the
  earliest still waiting leads the next group. Different clients' groups run side by side, as
  their requests did before (up to :data:`MAX_LEADERS` at once per process).

So a lone request is recorded at once, as before; under load it waits for the groups of its
client queued ahead of it; nothing waits on a timer. :func:`record_batch` gives each item the
outcome it would have had as its own request (its property tests hold it to that), so every
caller gets its own answer: 201, a 200 replay, a 409 or 422 of its own. Nothing is acknowledged
before its group commits. If a group fails before its commit is sent (a database error, not a
bad item), each of its items is retried alone, so a failure answers only the request that
causes it; a failure during the commit itself is every member's answer, as it was for a
request alone (whether it committed is unknown, and a retry could record an item twice).

The combiner commits its own sessions, as the request's session dependency does for other
routes (``service/db.py`` ``get_session``): routes keep to their services, services never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio
from sqlalchemy import Engine
from sqlmodel import Session

from service.completions.batch import record_batch
from service.completions.common import BatchOutcome
from service.completions.schemas import CompletionIn
from service.issuance.context import Issuer

#: Completions per group: well under the batch size above which a writer excludes everyone
#: (``service.audit.service.MAX_LEARNER_LOCKS``), so groups of different learners still run
#: alongside other writers.
MAX_GROUP = 32

#: Groups (of different clients) recorded at once by one process, each in its own thread.
MAX_LEADERS = 8


@dataclass(eq=False)
class _Request:
    body: CompletionIn
    source: str
    actor: str
    outcome: BatchOutcome | None = None
    error: BaseException | None = None
    done: bool = False
    turn: anyio.Event = field(default_factory=anyio.Event)  # done, or may lead now

    @property
    def client(self) -> tuple[str, str]:
        return self.source, self.actor

    def answer(self) -> BatchOutcome:
        if self.error is not None:
            raise self.error
        assert self.outcome is not None
        return self.outcome


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
        self._waiting: dict[tuple[str, str], list[_Request]] = {}
        self._leading: set[tuple[str, str]] = set()
        self._threads = anyio.CapacityLimiter(MAX_LEADERS)

    async def record(self, body: CompletionIn, *, source: str, actor: str) -> BatchOutcome:
        """Record ``body`` for the client ``source`` (audit ``actor``), committed; its outcome
        (a problem is returned in it, as from :func:`record_batch`)."""
        mine = _Request(body, source, actor)
        client = mine.client
        waiting = self._waiting.setdefault(client, [])
        waiting.append(mine)
        try:
            while client in self._leading and not mine.done:
                await mine.turn.wait()
                mine.turn = anyio.Event()
        except BaseException:  # cancelled while waiting: not recorded, unless already taken
            if mine in waiting:
                waiting.remove(mine)
            self._pass_turn(client)  # it may have been handed the turn: hand it on
            raise
        if mine.done:
            return mine.answer()
        self._leading.add(client)
        others = [r for r in waiting if r is not mine][: self.max_group - 1]
        group = [r for r in waiting if r is mine or r in others]  # in arrival order
        waiting[:] = [r for r in waiting if r not in group]
        try:
            with anyio.CancelScope(shield=True):  # a thread cannot be stopped: wait for it
                await anyio.to_thread.run_sync(self._record, group, limiter=self._threads)
        finally:
            for request in group:
                if not request.done:  # interrupted: no request may wait for ever
                    request.error = request.error or RuntimeError("the group was not recorded")
                    request.done = True
                request.turn.set()
            self._leading.discard(client)
            self._pass_turn(client)
        return mine.answer()

    def _pass_turn(self, client: tuple[str, str]) -> None:
        """Wake the client's earliest waiting request to lead, when none leads."""
        waiting = self._waiting.get(client)
        if client in self._leading:
            return
        if waiting:
            waiting[0].turn.set()
        else:
            self._waiting.pop(client, None)

    def _record(self, group: Sequence[_Request]) -> None:
        """In a thread: the group in one transaction, or (if it fails before its commit) each
        item alone."""
        try:
            outcomes = self._transaction(group)
        except _NotCommitted as failed:
            if len(group) > 1:
                for request in group:
                    self._record([request])
                return
            group[0].error = failed.__cause__
            group[0].done = True
            return
        except Exception as exc:  # the commit itself failed: each member's answer
            for request in group:
                request.error = exc
                request.done = True
            return
        for request, outcome in zip(group, outcomes, strict=True):
            request.outcome = outcome
            request.done = True

    def _transaction(self, group: Sequence[_Request]) -> list[BatchOutcome]:
        first = group[0]
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                outcomes = record_batch(
                    session,
                    self.issuer,
                    [r.body for r in group],
                    source=first.source,
                    actor=first.actor,
                )
                session.flush()
            except Exception as exc:
                raise _NotCommitted() from exc
            session.commit()
        return outcomes
