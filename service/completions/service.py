"""Recording completions: validated, idempotent on (client, external_id), append-only, and
evaluated for issuance in the same transaction."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, col, select

from credentials.audit import canonical_json
from service.audit.service import lock_chain, record
from service.catalog.models import Course
from service.completions.models import Completion, Credential
from service.completions.schemas import CompletionIn
from service.db import utcnow
from service.errors import Conflict, InvalidInput, ServiceError
from service.issuance.context import Issuer
from service.issuance.service import evaluate_learner
from service.learners import service as learners

FUTURE_SKEW = timedelta(minutes=5)


class UnknownCourse(InvalidInput):
    type = "unknown-course"
    title = "Unknown course"


class IdempotencyConflict(Conflict):
    type = "idempotency-conflict"
    title = "This external_id was used with a different body"


@dataclass
class Recorded:
    completion: Completion
    issued: list[Credential]
    created: bool


def request_hash(body: CompletionIn) -> str:
    return hashlib.sha256(canonical_json(body.model_dump(mode="json"))).hexdigest()


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
                raise IdempotencyConflict(
                    f"external_id {body.external_id!r} was already used by this client with a "
                    "different body; use a new external_id for a new completion.",
                    completion_id=existing.id,
                )
            replay = [c for cid in existing.issued if (c := session.get(Credential, cid))]
            return Recorded(existing, replay, created=False)
    if body.completed_at.tzinfo is None:
        raise InvalidInput("completed_at needs a time zone, e.g. 2026-03-01T10:00:00Z")
    now = utcnow()
    if body.completed_at > now + FUTURE_SKEW:
        raise InvalidInput(
            f"completed_at {body.completed_at.isoformat()} is in the future", field="completed_at"
        )
    if session.get(Course, body.course_id) is None:
        raise UnknownCourse(f"Unknown course {body.course_id!r}.", course_id=body.course_id)
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


@dataclass
class BatchOutcome:
    index: int
    recorded: Recorded | None
    problem: ServiceError | None


def record_batch(
    session: Session,
    issuer: Issuer,
    items: Sequence[dict[str, Any]],
    *,
    source: str,
    actor: str,
) -> list[BatchOutcome]:
    """Each item in its own savepoint: a bad item is reported and the others are kept."""
    outcomes = []
    for index, raw in enumerate(items):
        try:
            body = CompletionIn.model_validate(raw)
        except ValidationError as exc:
            outcomes.append(BatchOutcome(index, None, _invalid(exc)))
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


def _invalid(exc: ValidationError) -> InvalidInput:
    errors = [
        {"location": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "type": e["type"]}
        for e in exc.errors()
    ]
    detail = "; ".join(f"{e['location']}: {e['message']}" for e in errors[:5])
    return InvalidInput(detail, errors=errors)


def list_for_learner(session: Session, learner_id: str) -> list[Completion]:
    query = (
        select(Completion)
        .where(Completion.learner_id == learner_id)
        .order_by(col(Completion.completed_at))
    )
    return list(session.exec(query))
