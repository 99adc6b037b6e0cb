"""The audit chain's queries: its append lock, its head, its rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, text
from sqlmodel import Session, col, select

from service.models import AuditEvent

# Any constants work: they name the PostgreSQL advisory locks (bigint keys). The append lock
# serialises appends to the chain; the writers' lock is held shared by writers that lock only
# the learners they touch, exclusively by the few writers that touch anything.
_PG_AUDIT_LOCK = 0x43524544_41554454
_PG_WRITERS_LOCK = 0x43524544_57524954
# Learners' locks are two-int4 advisory locks (a key space apart from the bigint ones):
# (this namespace, a 32-bit hash of the learner id).
_PG_LEARNER_SPACE = 0x4C524E52


# Built once (SQLAlchemy works out a new statement's cache key on every execution).
_LOCK = {
    shared: text(
        f"SELECT {'pg_advisory_xact_lock_shared' if shared else 'pg_advisory_xact_lock'}(:key)"
    )
    for shared in (False, True)
}
_LEARNER_LOCKS = text(
    "SELECT count(pg_advisory_xact_lock(:space, k)) "
    "FROM (SELECT unnest(CAST(:keys AS integer[])) AS k ORDER BY 1) AS ordered"
)
_HEAD = (
    select(AuditEvent.seq, AuditEvent.hash, AuditEvent.at)
    .order_by(col(AuditEvent.seq).desc())
    .limit(1)
)
_INSERT_EVENTS = insert(AuditEvent.__table__)  # type: ignore[attr-defined]


def take_append_lock(session: Session, *, shared: bool = False) -> None:
    """Hold the chain's append lock until commit (``shared``: wait for writers and hold later
    ones off, without excluding other shared holders). PostgreSQL: an advisory transaction
    lock. SQLite: the database write lock, which the transaction's BEGIN IMMEDIATE takes
    (begun here if it was not yet); there shared and exclusive are one."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_LOCK[shared], {"key": _PG_AUDIT_LOCK})
    else:
        session.connection()


def take_writers_lock(session: Session, *, shared: bool) -> None:
    """Hold the writers' lock until commit: shared by learner-scoped writers, exclusive by the
    others (SQLite: the database write lock, as for the append lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_LOCK[shared], {"key": _PG_WRITERS_LOCK})
    else:
        session.connection()


def take_learner_locks(session: Session, keys: Sequence[int]) -> None:
    """Hold each learner's lock until commit, in ascending key order (so two writers that
    share learners never wait for each other in a cycle); one statement."""
    if session.get_bind().dialect.name != "postgresql":
        session.connection()  # SQLite: the write lock already serialises writers
        return
    if keys:
        session.execute(_LEARNER_LOCKS, {"space": _PG_LEARNER_SPACE, "keys": sorted(set(keys))})


def head(session: Session) -> tuple[int, str] | None:
    """The newest event's seq and hash (None: the chain is empty)."""
    newest = head_event(session)
    return (newest[0], newest[1]) if newest else None


def head_event(session: Session) -> tuple[int, str, datetime] | None:
    """The newest event's seq, hash and time (None: the chain is empty)."""
    row = session.exec(_HEAD).first()
    return (row[0], row[1], row[2]) if row else None


def insert_events(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """One multi-row insert of chained events (each row has every column)."""
    session.execute(_INSERT_EVENTS, list(rows))


def page(session: Session, *, after: int, limit: int) -> list[AuditEvent]:
    query = select(AuditEvent).where(col(AuditEvent.seq) > after).order_by(col(AuditEvent.seq))
    return list(session.exec(query.limit(limit)).all())
