"""The earners' queries: the mail relay's cursor and its reads of the audit chain, the expiry
search, the messages' queue (lease, sent, retry), and what a message is rendered from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, exists, func, literal, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from service.models import (
    AuditEvent,
    Credential,
    Learner,
    Level,
    MailMessage,
    MailRelayCursor,
    Track,
)

_message = MailMessage.__table__  # type: ignore[attr-defined]
_credential = Credential.__table__  # type: ignore[attr-defined]
_learner = Learner.__table__  # type: ignore[attr-defined]
_level = Level.__table__  # type: ignore[attr-defined]
_track = Track.__table__  # type: ignore[attr-defined]


def locked_cursor(session: Session) -> MailRelayCursor:
    """The relay cursor, locked until commit (one relay at a time). Recreated at 0 if missing
    (harmless: a message is keyed by its event, and events older than ``max_age`` are passed
    over)."""
    query = select(MailRelayCursor).where(MailRelayCursor.id == 1).with_for_update()
    cursor = session.exec(query).first()
    if cursor is None:
        table = MailRelayCursor.__table__  # type: ignore[attr-defined]
        make = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(make(table).values(id=1, last_seq=0).on_conflict_do_nothing())
        cursor = session.exec(query).one()
    return cursor


def save_cursor(session: Session, cursor: MailRelayCursor, seq: int, now: datetime) -> None:
    cursor.last_seq = seq
    cursor.updated_at = now
    session.add(cursor)


def chain_head(session: Session) -> int:
    """The last committed seq: appends are serialised until commit, so all below are visible."""
    return int(session.execute(sa_select(func.coalesce(func.max(AuditEvent.seq), 0))).scalar_one())


def audit_events_between(
    session: Session, after: int, upto: int, actions: Sequence[str]
) -> list[AuditEvent]:
    query = (
        select(AuditEvent)
        .where(
            col(AuditEvent.seq) > after,
            col(AuditEvent.seq) <= upto,
            col(AuditEvent.action).in_(actions),
        )
        .order_by(col(AuditEvent.seq))
    )
    return list(session.exec(query))


def addresses(session: Session, credential_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """``credential id -> (learner id, email)`` for those whose learner has an email."""
    if not credential_ids:
        return {}
    query = (
        sa_select(_credential.c.id, _learner.c.id, _learner.c.email)
        .join(_learner, _learner.c.id == _credential.c.learner_id)
        .where(_credential.c.id.in_(credential_ids), _learner.c.email.is_not(None))
    )
    return {cid: (lid, email) for cid, lid, email in session.execute(query) if email}


def insert_messages(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Queue messages; one already queued for the same event (``dedupe_key``) is kept."""
    if not rows:
        return
    make = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(make(_message).on_conflict_do_nothing(index_elements=["dedupe_key"]), rows)


def expiring(
    session: Session, *, after: datetime, until: datetime, threshold: str
) -> list[tuple[str, str, str, datetime]]:
    """``(credential, learner, email, valid_until)`` of active, not superseded credentials with
    ``after < valid_until <= until`` whose learner has an email and has not been told at
    ``threshold`` yet."""
    key = literal("expiring:") + _credential.c.id + literal(f":{threshold}")
    told = exists().where(_message.c.dedupe_key == key)
    query = (
        sa_select(_credential.c.id, _learner.c.id, _learner.c.email, _credential.c.valid_until)
        .join(_learner, _learner.c.id == _credential.c.learner_id)
        .where(
            _credential.c.status == "active",
            _credential.c.superseded_by.is_(None),
            _credential.c.valid_until > after,
            _credential.c.valid_until <= until,
            _learner.c.email.is_not(None),
            ~told,
        )
    )
    return [(c, lid, email, until_at) for c, lid, email, until_at in session.execute(query)]


def lease_due(
    session: Session, *, token: str, now: datetime, lease_until: datetime, limit: int
) -> list[int]:
    """Lease up to ``limit`` due messages to ``token`` (PostgreSQL: ``FOR UPDATE SKIP LOCKED``,
    so workers pass over each other's rows; SQLite's write lock serialises them)."""
    query = (
        sa_select(_message.c.id)
        .where(
            _message.c.status == "pending",
            _message.c.next_attempt_at <= now,
            or_(_message.c.lease_until.is_(None), _message.c.lease_until < now),
        )
        .order_by(_message.c.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(session.execute(query).scalars())
    if ids:
        session.execute(
            update(_message)
            .where(_message.c.id.in_(ids))
            .values(lease_until=lease_until, lease_token=token)
        )
    return ids


class Leased(NamedTuple):
    id: int
    kind: str
    to_address: str
    details: dict[str, Any]
    attempts: int
    deadline_at: datetime
    credential_id: str
    learner_id: str
    issued_at: datetime
    valid_until: datetime | None
    status_reason: str | None
    learner_name: str | None
    level_name: str
    level_slug: str
    level_image: str | None
    track_id: str
    track_name: str


def leased(session: Session, ids: Sequence[int]) -> list[Leased]:
    """What each leased message is rendered from, oldest first."""
    query = (
        sa_select(
            _message.c.id,
            _message.c.kind,
            _message.c.to_address,
            _message.c.details,
            _message.c.attempts,
            _message.c.deadline_at,
            _credential.c.id,
            _learner.c.id,
            _credential.c.issued_at,
            _credential.c.valid_until,
            _credential.c.status_reason,
            _learner.c.name,
            _level.c.name,
            _level.c.local_id,
            _level.c.image,
            _track.c.id,
            _track.c.name,
        )
        .join(_credential, _credential.c.id == _message.c.credential_id)
        .join(_learner, _learner.c.id == _message.c.learner_id)
        .join(_level, _level.c.id == _credential.c.level_id)
        .join(_track, _track.c.id == _level.c.track_id)
        .where(_message.c.id.in_(ids))
        .order_by(_message.c.id)
    )
    return [Leased(*row) for row in session.execute(query)]


_OURS = (_message.c.id == bindparam("b_id"), _message.c.lease_token == bindparam("b_token"))


class Outcome(NamedTuple):
    """What one attempt did to a message: ``sent``, ``pending`` again from ``next_attempt_at``,
    or ``failed``."""

    message_id: int
    token: str
    status: str
    error: str | None
    next_attempt_at: datetime | None
    sent_at: datetime | None


def record(session: Session, outcomes: Sequence[Outcome]) -> None:
    """Record each attempt where the lease is still its token's (one statement)."""
    if not outcomes:
        return
    session.execute(
        update(_message)
        .where(*_OURS)
        .values(
            status=bindparam("b_status"),
            attempts=_message.c.attempts + 1,
            last_error=bindparam("b_error"),
            next_attempt_at=func.coalesce(bindparam("b_next"), _message.c.next_attempt_at),
            sent_at=bindparam("b_sent"),
            lease_until=None,
            lease_token=None,
        ),
        [
            {
                "b_id": o.message_id,
                "b_token": o.token,
                "b_status": o.status,
                "b_error": o.error,
                "b_next": o.next_attempt_at,
                "b_sent": o.sent_at,
            }
            for o in outcomes
        ],
    )


def messages_of(session: Session, credential_id: str) -> list[MailMessage]:
    """Every message about a credential, newest first."""
    query = (
        select(MailMessage)
        .where(MailMessage.credential_id == credential_id)
        .order_by(col(MailMessage.id).desc())
    )
    return list(session.exec(query))


def message(session: Session, message_id: int) -> MailMessage | None:
    return session.get(MailMessage, message_id)


def add_message(session: Session, row: MailMessage) -> MailMessage:
    session.add(row)
    session.flush()
    return row
