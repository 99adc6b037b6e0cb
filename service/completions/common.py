"""What the single and the batch recording paths share: result objects, errors, the request
hash and the input checks that need no writes."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError

from credentials.audit import canonical_json
from service.completions.schemas import CompletionIn
from service.errors import Conflict, InvalidInput, ServiceError
from service.issuance.issuing import IssuedRow
from service.models import Completion, Credential

FUTURE_SKEW = timedelta(minutes=5)


class UnknownCourse(InvalidInput):
    type = "unknown-course"
    title = "Unknown course"


class IdempotencyConflict(Conflict):
    type = "idempotency-conflict"
    title = "This external_id was used with a different body"


@dataclass(frozen=True, slots=True)
class CompletionRow:
    """A completion as the bulk path stored it (the columns the API shows)."""

    id: str
    learner_id: str
    course_id: str
    completed_at: datetime
    score: float | None
    passed: bool
    source: str
    external_id: str | None
    received_at: datetime


@dataclass
class Recorded:
    completion: Completion | CompletionRow
    issued: Sequence[Credential | IssuedRow]
    created: bool


@dataclass
class BatchOutcome:
    index: int
    recorded: Recorded | None
    problem: ServiceError | None


def request_hash(body: CompletionIn) -> str:
    return hashlib.sha256(canonical_json(body.model_dump(mode="json"))).hexdigest()


def conflict(body: CompletionIn, completion_id: str) -> IdempotencyConflict:
    return IdempotencyConflict(
        f"external_id {body.external_id!r} was already used by this client with a "
        "different body; use a new external_id for a new completion.",
        completion_id=completion_id,
    )


def check_dates(body: CompletionIn, now: datetime) -> None:
    if body.completed_at.tzinfo is None:
        raise InvalidInput("completed_at needs a time zone, e.g. 2026-03-01T10:00:00Z")
    if body.completed_at > now + FUTURE_SKEW:
        raise InvalidInput(
            f"completed_at {body.completed_at.isoformat()} is in the future", field="completed_at"
        )


def unknown_course(course_id: str) -> UnknownCourse:
    return UnknownCourse(f"Unknown course {course_id!r}.", course_id=course_id)


def invalid(exc: ValidationError) -> InvalidInput:
    errors = [
        {"location": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "type": e["type"]}
        for e in exc.errors()
    ]
    detail = "; ".join(f"{e['location']}: {e['message']}" for e in errors[:5])
    return InvalidInput(detail, errors=errors)
