"""The statements' queries: storing them, one by id, a filtered page by stored time,
attachment data, the learners their actors name."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Exists, and_, exists, insert, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from service.audit.service import wait_for_chain
from service.models import Learner, XapiAttachment, XapiStatement, XapiStatementAgent
from service.xapi.validation import VERB_VOIDED


@dataclass(frozen=True, slots=True)
class StoredStatement:
    id: str
    stored_at: datetime
    statement: str | None  # JSON; None when accepted before statements were kept
    voided: bool


@dataclass(frozen=True, slots=True)
class Filters:
    agent_key: str | None = None
    verb: str | None = None
    activity: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def settle(session: Session) -> None:
    """Wait until no statement writer is mid-transaction: every statement stored before the
    moment this returns is then visible to this session (writers take the audit chain lock
    before they read the clock)."""
    wait_for_chain(session)


def _voiding() -> Exists:
    """EXISTS a voiding statement whose object is the outer statement."""
    voiding = aliased(XapiStatement)
    return exists().where(
        col(voiding.activity_id) == col(XapiStatement.id),
        col(voiding.verb_id) == VERB_VOIDED,
        col(voiding.object_type) == "StatementRef",
    )


def find(session: Session, statement_id: str) -> StoredStatement | None:
    """The statement with this id, and whether it is voided (a voiding statement never is)."""
    row = session.execute(
        select(
            col(XapiStatement.id),
            col(XapiStatement.received_at),
            col(XapiStatement.statement),
            and_(col(XapiStatement.verb_id) != VERB_VOIDED, _voiding()),
        ).where(col(XapiStatement.id) == statement_id)
    ).first()
    if row is None:
        return None
    return StoredStatement(row[0], row[1], row[2], bool(row[3]))


def page(
    session: Session,
    filters: Filters,
    *,
    limit: int,
    ascending: bool,
    after: tuple[datetime, str] | None,
) -> list[StoredStatement]:
    """Up to ``limit`` readable, unvoided statements matching ``filters``, by stored time
    (then id), starting after the position ``after``."""
    stored, sid = col(XapiStatement.received_at), col(XapiStatement.id)
    query = select(sid, stored, col(XapiStatement.statement)).where(
        col(XapiStatement.statement).is_not(None),
        or_(col(XapiStatement.verb_id) == VERB_VOIDED, ~_voiding()),
    )
    if filters.verb is not None:
        query = query.where(col(XapiStatement.verb_id) == filters.verb)
    if filters.activity is not None:
        query = query.where(
            col(XapiStatement.activity_id) == filters.activity,
            col(XapiStatement.object_type) == "Activity",
        )
    if filters.agent_key is not None:
        query = query.where(
            exists().where(
                col(XapiStatementAgent.statement_id) == sid,
                col(XapiStatementAgent.agent_key) == filters.agent_key,
            )
        )
    if filters.since is not None:
        query = query.where(stored > filters.since)
    if filters.until is not None:
        query = query.where(stored <= filters.until)
    if after is not None:
        at, last = after
        if ascending:
            query = query.where(or_(stored > at, and_(stored == at, sid > last)))
        else:
            query = query.where(or_(stored < at, and_(stored == at, sid < last)))
    order = (stored.asc(), sid.asc()) if ascending else (stored.desc(), sid.desc())
    rows = session.execute(query.order_by(*order).limit(limit)).all()
    return [StoredStatement(r[0], r[1], r[2], False) for r in rows]


def attachments(session: Session, sha2s: Sequence[str]) -> list[XapiAttachment]:
    """The stored attachment data among ``sha2s``."""
    if not sha2s:
        return []
    found = session.execute(
        select(XapiAttachment).where(col(XapiAttachment.sha2).in_(sorted(set(sha2s))))
    ).scalars()
    return list(found)


def content_hashes(session: Session, statement_ids: Collection[str]) -> dict[str, str]:
    """The content hash of each of ``statement_ids`` already stored, by id."""
    query = select(col(XapiStatement.id), col(XapiStatement.content_hash)).where(
        col(XapiStatement.id).in_(statement_ids)
    )
    return {row[0]: row[1] for row in session.execute(query)}


_INSERT_STATEMENTS = insert(XapiStatement.__table__)  # type: ignore[attr-defined]
_INSERT_AGENTS = insert(XapiStatementAgent.__table__)  # type: ignore[attr-defined]


def store(
    session: Session, rows: Sequence[Mapping[str, Any]], agents: Sequence[dict[str, str]]
) -> None:
    """Write statements (every column of each) and the agents they are indexed under, one
    multi-row insert each."""
    if rows:
        session.execute(_INSERT_STATEMENTS, list(rows))
    if agents:
        session.execute(_INSERT_AGENTS, list(agents))


def stored_attachments(session: Session, sha2s: Collection[str]) -> set[str]:
    """Which of ``sha2s`` are stored already."""
    query = select(col(XapiAttachment.sha2)).where(col(XapiAttachment.sha2).in_(sha2s))
    return set(session.execute(query).scalars())


def store_attachments(session: Session, attachments: Iterable[XapiAttachment]) -> None:
    session.add_all(attachments)
    session.flush()


def learner_ids(session: Session, candidates: Collection[str]) -> set[str]:
    """Which of ``candidates`` are learner ids."""
    query = select(col(Learner.id)).where(col(Learner.id).in_(candidates))
    return set(session.execute(query).scalars())


def learners_by_email(session: Session, emails: Collection[str]) -> list[tuple[str, str]]:
    """``(email, learner id)`` for learners with one of ``emails``, oldest learner first."""
    query = (
        select(col(Learner.email), col(Learner.id))
        .where(col(Learner.email).in_(emails))
        .order_by(col(Learner.created_at), col(Learner.id))
    )
    return [(email, learner_id) for email, learner_id in session.execute(query) if email]
