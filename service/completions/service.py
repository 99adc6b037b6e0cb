"""Recording completions: validated, idempotent on (client, external_id), append-only, and
evaluated for issuance in the same transaction. One write path, :func:`record_batch`: a single
completion is a batch of one."""

from __future__ import annotations

from sqlmodel import Session, col, select

from service.completions.batch import record_batch
from service.completions.common import (
    FUTURE_SKEW,
    BatchOutcome,
    IdempotencyConflict,
    Recorded,
    UnknownCourse,
    invalid,
    request_hash,
)
from service.models import Completion

__all__ = [
    "FUTURE_SKEW",
    "BatchOutcome",
    "IdempotencyConflict",
    "Recorded",
    "UnknownCourse",
    "invalid",
    "list_for_learner",
    "record_batch",
    "request_hash",
]


def list_for_learner(session: Session, learner_id: str) -> list[Completion]:
    query = (
        select(Completion)
        .where(Completion.learner_id == learner_id)
        .order_by(col(Completion.completed_at))
    )
    return list(session.exec(query))
