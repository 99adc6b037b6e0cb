"""Writing and reading the audit chain. :func:`record_many` is the only writer."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from credentials.audit import GENESIS_HASH, AuditRecord, chain_hash, event_body
from service.audit import repository
from service.db import utcnow
from service.models import AuditEvent


def format_at(moment: datetime) -> str:
    """The canonical RFC 3339 form hashed into the chain (UTC, microseconds, ``Z``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lock_chain(session: Session) -> None:
    """Exclude every other writer now, for writers whose read-then-write may span anything
    (key rotation, subscriptions, a credential's status change): the writers' lock,
    exclusively, then the chain's append lock, both until commit. On PostgreSQL advisory locks;
    on SQLite the database write lock, which the transaction's BEGIN IMMEDIATE takes (begun
    here if it was not yet). Take it before :func:`lock_learners` in a transaction, never
    after (a shared lock cannot be raised to exclusive without waiting on its peers)."""
    repository.take_writers_lock(session, shared=False)
    repository.take_append_lock(session)
    _mark(session, "all")


#: Above this many learners a writer excludes everyone instead: each learner's lock takes a slot
#: of PostgreSQL's shared lock table (max_locks_per_transaction x connections, 6,400 by default),
#: and a batch gains nothing from running beside single completions.
MAX_LEARNER_LOCKS = 64
_HOLDS = "credence.writer_locks"


def _held(session: Session) -> str | None:
    """What this transaction holds: "all" (exclusive), "learners" (shared) or nothing (the
    locks end with the transaction, so the mark names the transaction it was made in)."""
    mark = session.info.get(_HOLDS)
    if mark is None or mark[0] is not session.get_transaction():
        return None
    return str(mark[1])


def _mark(session: Session, held: str) -> None:
    session.info[_HOLDS] = (session.get_transaction(), held)


def learner_key(learner_id: str) -> int:
    """A learner's lock key: the first 4 bytes of SHA-256 of the id, as a signed int4."""
    return int.from_bytes(hashlib.sha256(learner_id.encode()).digest()[:4], "big", signed=True)


def lock_learners(session: Session, learner_ids: Iterable[str]) -> None:
    """Exclude other writers of these learners (and the writers that exclude everyone) until
    commit, for read-then-write on their facts: idempotency checks, upserts, evaluation. Writers
    of other learners run alongside; only their appends to the chain take turns (the append
    lock, from the append to commit). More than :data:`MAX_LEARNER_LOCKS` learners, or a
    transaction that already excludes everyone: :func:`lock_chain`'s exclusion instead. SQLite:
    the database write lock serialises all writers."""
    held = _held(session)
    if held == "all":
        return  # already excludes every writer
    wanted = set(learner_ids)
    if held is None and len(wanted) > MAX_LEARNER_LOCKS:
        lock_chain(session)  # (never raised from shared: peers doing the same would deadlock)
        return
    repository.take_writers_lock(session, shared=True)
    repository.take_learner_locks(session, [learner_key(i) for i in wanted])
    _mark(session, "learners")


def wait_for_chain(session: Session) -> None:
    """Wait until no writer is in flight, and hold later writers off until this transaction
    ends (PostgreSQL: the writers' lock, exclusively; SQLite: BEGIN IMMEDIATE takes the write
    lock)."""
    repository.take_writers_lock(session, shared=False)


@dataclass(frozen=True)
class EventSpec:
    """One event for :func:`record_many`, before it has a place in the chain."""

    actor: str
    action: str
    subject: str
    data: Mapping[str, Any] = field(default_factory=dict)


def record_many(
    session: Session, events: Sequence[EventSpec], *, at: datetime | None = None
) -> int:
    """Append ``events`` in order, inside the caller's transaction, with one head read and one
    multi-row insert; the chain's new head seq (flushes, never commits).

    Appends are serialised: the caller's transaction holds the append lock (taken here if it
    does not already) from the head read to commit, so seq order is commit order. The primary key on
    ``seq`` and the unique ``hash`` make a fork impossible even if that were bypassed.
    """
    repository.take_append_lock(session)
    session.flush()  # pending ORM events must take their seq first
    seq, prev_hash = repository.head(session) or (0, GENESIS_HASH)
    at = at or utcnow()
    stamp = format_at(at)
    rows: list[dict[str, Any]] = []
    for spec in events:
        seq += 1
        payload = dict(spec.data)
        digest = chain_hash(
            prev_hash, event_body(seq, stamp, spec.actor, spec.action, spec.subject, payload)
        )
        rows.append(
            {
                "seq": seq,
                "at": at,
                "actor": spec.actor,
                "action": spec.action,
                "subject": spec.subject,
                "data": payload,
                "prev_hash": prev_hash,
                "hash": digest,
            }
        )
        prev_hash = digest
    if rows:
        repository.insert_events(session, rows)
    return seq


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str,
    data: Mapping[str, Any] | None = None,
) -> int:
    """:func:`record_many` with one event; its seq."""
    return record_many(session, [EventSpec(actor, action, subject, data or {})])


def to_record(event: AuditEvent) -> AuditRecord:
    return AuditRecord(
        seq=event.seq,
        at=format_at(event.at),
        actor=event.actor,
        action=event.action,
        subject=event.subject,
        data=event.data,
        prev_hash=event.prev_hash,
        hash=event.hash,
    )


def head_seq(session: Session) -> int:
    """The sequence number of the newest event (0 for an empty chain)."""
    head = repository.head(session)
    return head[0] if head else 0


def list_events(session: Session, *, after: int, limit: int) -> list[AuditEvent]:
    return repository.page(session, after=after, limit=limit)


def iter_records(session: Session, batch: int = 1000) -> Iterator[AuditRecord]:
    """Every event, oldest first, in batches (for export and verification)."""
    after = 0
    while True:
        events = list_events(session, after=after, limit=batch)
        if not events:
            return
        yield from (to_record(event) for event in events)
        after = events[-1].seq
