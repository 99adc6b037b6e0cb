"""The issuance service's reads of a learner's completions, credentials and status history."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from service.issuance.engine_facts import CompletionFact
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
