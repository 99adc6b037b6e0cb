"""The audit chain's queries: its append lock, its head, its rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, text
from sqlmodel import Session, col, select

from service.models import AuditEvent

# Any constant works; it names the one lock that serialises appends on PostgreSQL.
_PG_AUDIT_LOCK = 0x43524544_41554454


def take_append_lock(session: Session, *, shared: bool = False) -> None:
    """Hold the chain's append lock until commit (``shared``: wait for writers and hold later
    ones off, without excluding other shared holders). PostgreSQL: an advisory transaction
    lock. SQLite: the database write lock, which the transaction's BEGIN IMMEDIATE takes
    (begun here if it was not yet); there shared and exclusive are one."""
    if session.get_bind().dialect.name == "postgresql":
        function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
        session.execute(text(f"SELECT {function}(:key)"), {"key": _PG_AUDIT_LOCK})
    else:
        session.connection()


def head(session: Session) -> tuple[int, str] | None:
    """The newest event's seq and hash (None: the chain is empty)."""
    newest = head_event(session)
    return (newest[0], newest[1]) if newest else None


def head_event(session: Session) -> tuple[int, str, datetime] | None:
    """The newest event's seq, hash and time (None: the chain is empty)."""
    query = select(AuditEvent.seq, AuditEvent.hash, AuditEvent.at)
    row = session.exec(query.order_by(col(AuditEvent.seq).desc()).limit(1)).first()
    return (row[0], row[1], row[2]) if row else None


def insert_events(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """One multi-row insert of chained events (each row has every column)."""
    session.execute(insert(AuditEvent.__table__), list(rows))  # type: ignore[attr-defined]


def page(session: Session, *, after: int, limit: int) -> list[AuditEvent]:
    query = select(AuditEvent).where(col(AuditEvent.seq) > after).order_by(col(AuditEvent.seq))
    return list(session.exec(query.limit(limit)).all())
