"""The issuance service's queries: a learner's completions, credentials and status history;
credential lists; and the writes of issuing (multi-row statements)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, col, select

from service.issuance.engine_facts import CompletionFact, LevelRule
from service.models import Completion, Credential, CredentialStatusEvent


class StatusEvent(NamedTuple):
    at: datetime
    id: int
    status: str
    reason: str | None


def completion_facts(session: Session, learner_id: str) -> list[CompletionFact]:
    table = Completion.__table__  # type: ignore[attr-defined]
    query = sa_select(
        table.c.id, table.c.course_id, table.c.completed_at, table.c.score, table.c.passed
    ).where(table.c.learner_id == learner_id)
    return [CompletionFact(*row) for row in session.execute(query)]


def credential_rows(session: Session, learner_id: str) -> list[Credential]:
    query = (
        select(Credential)
        .where(Credential.learner_id == learner_id)
        .order_by(col(Credential.valid_from))
        .execution_options(populate_existing=True)  # as committed now, not as first loaded
    )
    return list(session.exec(query))


def status_events(session: Session, learner_id: str) -> dict[str, list[StatusEvent]]:
    """Every status event of the learner's credentials, by credential id, in time order."""
    events = CredentialStatusEvent.__table__  # type: ignore[attr-defined]
    credentials = Credential.__table__  # type: ignore[attr-defined]
    query = (
        sa_select(
            events.c.credential_id, events.c.at, events.c.id, events.c.status, events.c.reason
        )
        .join(credentials, credentials.c.id == events.c.credential_id)
        .where(credentials.c.learner_id == learner_id)
        .order_by(events.c.at, events.c.id)
    )
    found: dict[str, list[StatusEvent]] = defaultdict(list)
    for credential_id, at, event_id, status, reason in session.execute(query):
        found[credential_id].append(StatusEvent(at, event_id, status, reason))
    return found


def list_credentials(
    session: Session,
    *,
    learner_id: str | None,
    level: str | None,
    status: str | None,
    expiring_before: datetime | None,
    after: tuple[datetime, str] | None,
    limit: int,
    now: datetime,
) -> list[Credential]:
    """A page of credentials, newest first (``after``: the last ``(issued_at, id)`` seen);
    ``status`` ``expired`` means past its ``valid_until`` at ``now``."""
    query = select(Credential)
    if learner_id:
        query = query.where(Credential.learner_id == learner_id)
    if level:
        query = query.where(Credential.level_id == level)
    if status == "expired":
        query = query.where(col(Credential.valid_until) <= now)
    elif status:
        query = query.where(Credential.status == status)
    if expiring_before:
        query = query.where(col(Credential.valid_until) < expiring_before)
    if after is not None:
        issued_at, last_id = after
        query = query.where(
            (col(Credential.issued_at) < issued_at)
            | ((col(Credential.issued_at) == issued_at) & (col(Credential.id) < last_id))
        )
    order = (col(Credential.issued_at).desc(), col(Credential.id).desc())
    return list(session.exec(query.order_by(*order).limit(limit)))


def learners_concerned(session: Session, rule: LevelRule) -> list[str]:
    """The learners a re-evaluation of ``rule``'s level must look at, sorted: those with a
    completion of one of its courses (required, elective or renewal) or, for a level of
    prerequisites only, a credential for one of them."""
    courses = [c.course for c in rule.courses] + list(rule.electives_from)
    if rule.renewal:
        courses += list(rule.renewal.courses)
    if courses:
        query = select(Completion.learner_id).where(col(Completion.course_id).in_(courses))
    else:
        query = select(Credential.learner_id).where(
            col(Credential.level_id).in_(rule.prerequisites)
        )
    return sorted(set(session.exec(query.distinct()).all()))


def credential(session: Session, credential_id: str, *, fresh: bool = False) -> Credential | None:
    """One credential; ``fresh`` reads it as committed now, not as first loaded."""
    return session.get(Credential, credential_id, populate_existing=fresh)


# The issuing statements, built once (SQLAlchemy works out a new statement's cache key on every
# execution: about 90 us of CPU for one with a WHERE clause).
_CREDENTIALS = Credential.__table__  # type: ignore[attr-defined]
_SUPERSEDE = (
    update(_CREDENTIALS)
    .where(_CREDENTIALS.c.id == bindparam("b_id"))
    .values(superseded_by=bindparam("b_by"), superseded_at=bindparam("b_at"))
)
_INSERT_CREDENTIALS = insert(_CREDENTIALS)
_INSERT_STATUS_EVENTS = insert(CredentialStatusEvent.__table__)  # type: ignore[attr-defined]


def supersede(session: Session, by: Mapping[str, str], *, at: datetime) -> None:
    """Mark each credential ``by``'s key superseded by its value (one statement); a copy the
    session holds is expired, so it is read again as written."""
    if not by:
        return
    session.execute(_SUPERSEDE, [{"b_id": old, "b_by": new, "b_at": at} for old, new in by.items()])
    for old in by:
        held = session.identity_map.get(identity_key(Credential, old))
        if held is not None:
            session.expire(held)


def save_status_change(
    session: Session, credential: Credential, event: CredentialStatusEvent
) -> None:
    """Write a credential's changed status and the event recording it (flushed)."""
    session.add_all([credential, event])
    session.flush()


def insert_credentials(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    session.execute(_INSERT_CREDENTIALS, list(rows))


def insert_status_events(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    session.execute(_INSERT_STATUS_EVENTS, list(rows))
