"""Single completions that arrive together are recorded together (group commit).

Learning systems post completions one at a time, many at once. Alone, each would pay for a whole
transaction: its learners' locks, the idempotency and evaluation reads, the audit chain's head,
the commit, and a thread-pool hop or two around them. The combiner records overlapping requests
of one process as one batch through the one write path, :func:`record_batch`:

* a request that arrives while no group is being recorded leads: it takes the waiting
  completions of its own client and actor (up to :data:`MAX_GROUP`, its own among them, in
  arrival order), records them in one transaction, commits, and hands each request its outcome;
* the others wait on the event loop (no thread); when the group is done, the request that has
  waited longest leads the next group.

So a lone request is recorded at once, as before, and under load a request waits at most for the
group ahead of it; nothing waits on a timer. :func:`record_batch` gives each item the outcome it
would have had as its own request (its property tests hold it to that), so every caller gets its
own answer: 201, a 200 replay, a 409 or 422 of its own. Nothing is acknowledged before its
group commits. If a group's transaction fails as a whole (a database error, not a bad item),
each of its items is retried alone, so a failure answers only the request that causes it.
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


@dataclass(eq=False)
class _Request:
    body: CompletionIn
    source: str
    actor: str
    outcome: BatchOutcome | None = None
    error: BaseException | None = None
    done: bool = False
    turn: anyio.Event = field(default_factory=anyio.Event)  # done, or may lead now

    def answer(self) -> BatchOutcome:
        if self.error is not None:
            raise self.error
        assert self.outcome is not None
        return self.outcome


class Combiner:
    """The process's single-completion writer (see the module). Requests wait on the event
    loop, holding no thread: only the group being recorded takes one (its own limiter, so
    the thread pool's other work never waits for it, nor it for them)."""

    def __init__(self, engine: Engine, issuer: Issuer, *, max_group: int = MAX_GROUP) -> None:
        self.engine = engine
        self.issuer = issuer
        self.max_group = max_group
        self._waiting: list[_Request] = []
        self._leading = False
        self._thread = anyio.CapacityLimiter(1)

    async def record(self, body: CompletionIn, *, source: str, actor: str) -> BatchOutcome:
        """Record ``body`` for the client ``source`` (audit ``actor``), committed; its outcome
        (a problem is returned in it, as from :func:`record_batch`)."""
        mine = _Request(body, source, actor)
        self._waiting.append(mine)
        try:
            while self._leading and not mine.done:
                await mine.turn.wait()
                mine.turn = anyio.Event()
        except BaseException:  # cancelled while waiting: not recorded, unless already taken
            if mine in self._waiting:
                self._waiting.remove(mine)
            raise
        if mine.done:
            return mine.answer()
        self._leading = True
        group = self._take(mine)
        try:
            with anyio.CancelScope(shield=True):  # a thread cannot be stopped: wait for it
                await anyio.to_thread.run_sync(self._record, group, limiter=self._thread)
        finally:
            for request in group:
                if not request.done:  # interrupted: no request may wait for ever
                    request.error = request.error or RuntimeError("the group was not recorded")
                    request.done = True
                request.turn.set()
            self._leading = False
            if self._waiting:
                self._waiting[0].turn.set()  # the longest waiting leads the next group
        return mine.answer()

    def _take(self, leader: _Request) -> list[_Request]:
        """The leader and the earliest waiting requests of the same client and actor."""
        same = [
            r
            for r in self._waiting
            if r is not leader and (r.source, r.actor) == (leader.source, leader.actor)
        ][: self.max_group - 1]
        group = [r for r in self._waiting if r is leader or r in same]
        self._waiting = [r for r in self._waiting if r not in group]
        return group

    def _record(self, group: Sequence[_Request]) -> None:
        """In a thread: the group in one transaction, or (if that fails as a whole) each alone."""
        first = group[0]
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                outcomes = record_batch(
                    session,
                    self.issuer,
                    [r.body for r in group],
                    source=first.source,
                    actor=first.actor,
                )
                session.commit()
        except Exception as exc:
            if len(group) == 1:
                first.error = exc
                first.done = True
                return
            for request in group:  # the whole transaction failed: each item alone
                self._record([request])
            return
        for request, outcome in zip(group, outcomes, strict=True):
            request.outcome = outcome
            request.done = True
