"""Recording completions: validated, idempotent on (client, external_id), append-only, and
evaluated for issuance in the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, col, select

from service.audit.service import lock_chain, record
from service.completions import batch
from service.completions.common import (
    FUTURE_SKEW,
    BatchOutcome,
    IdempotencyConflict,
    Recorded,
    UnknownCourse,
    check_dates,
    conflict,
    invalid,
    request_hash,
    unknown_course,
)
from service.completions.schemas import CompletionIn
from service.db import utcnow
from service.errors import ServiceError
from service.issuance.context import Issuer
from service.issuance.service import evaluate_learner
from service.learners import service as learners
from service.models import Completion, Course, Credential

__all__ = [
    "FUTURE_SKEW",
    "BatchOutcome",
    "IdempotencyConflict",
    "Recorded",
    "UnknownCourse",
    "invalid",
    "list_for_learner",
    "record_batch",
    "record_completion",
    "record_each",
    "request_hash",
]

record_batch = batch.record_batch


def record_completion(
    session: Session, issuer: Issuer, body: CompletionIn, *, source: str, actor: str
) -> Recorded:
    """Store one completion and issue what it earns (flushes; the caller's transaction)."""
    lock_chain(session)  # idempotency check and learner upsert must see committed writers
    digest = request_hash(body)
    if body.external_id is not None:
        existing = session.exec(
            select(Completion).where(
                Completion.source == source, Completion.external_id == body.external_id
            )
        ).first()
        if existing is not None:
            if existing.request_hash != digest:
                raise conflict(body, existing.id)
            replay = [c for cid in existing.issued if (c := session.get(Credential, cid))]
            return Recorded(existing, replay, created=False)
    now = utcnow()
    check_dates(body, now)
    if session.get(Course, body.course_id) is None:
        raise unknown_course(body.course_id)
    details = body.learner
    learner, _ = learners.upsert(
        session,
        body.learner_id,
        actor=actor,
        email=details.email if details else None,
        name=details.name if details else None,
        did=details.did if details else None,
        attributes=details.attributes if details else None,
        replace_attributes=False,
    )
    completion = Completion(
        id=str(uuid.uuid4()),
        learner_id=body.learner_id,
        course_id=body.course_id,
        completed_at=body.completed_at,
        score=body.score,
        passed=body.passed,
        source=source,
        external_id=body.external_id,
        request_hash=digest,
        received_at=now,
        issued=[],
    )
    session.add(completion)
    session.flush()
    record(
        session,
        actor=actor,
        action="completion.recorded",
        subject=f"completion:{completion.id}",
        data={
            "learner": body.learner_id,
            "course": body.course_id,
            "completed_at": body.completed_at.isoformat(),
            "score": body.score,
            "passed": body.passed,
            "external_id": body.external_id,
        },
    )
    issued = evaluate_learner(session, issuer, learner, actor=actor)
    if issued:
        completion.issued = [c.id for c in issued]
        session.add(completion)
        session.flush()
    return Recorded(completion, issued, created=True)


def record_each(
    session: Session,
    issuer: Issuer,
    items: Sequence[dict[str, Any]],
    *,
    source: str,
    actor: str,
) -> list[BatchOutcome]:
    """The per-item reference for :func:`record_batch`: each item in its own savepoint
    through :func:`record_completion` (same results and rows, ~100x slower)."""
    outcomes = []
    for index, raw in enumerate(items):
        try:
            body = CompletionIn.model_validate(raw)
        except ValidationError as exc:
            outcomes.append(BatchOutcome(index, None, invalid(exc)))
            continue
        savepoint = session.begin_nested()
        try:
            recorded = record_completion(session, issuer, body, source=source, actor=actor)
        except ServiceError as exc:
            savepoint.rollback()
            outcomes.append(BatchOutcome(index, None, exc))
            continue
        savepoint.commit()
        outcomes.append(BatchOutcome(index, recorded, None))
    return outcomes


def list_for_learner(session: Session, learner_id: str) -> list[Completion]:
    query = (
        select(Completion)
        .where(Completion.learner_id == learner_id)
        .order_by(col(Completion.completed_at))
    )
    return list(session.exec(query))
