"""Recording completions: validated, idempotent on (client, external_id), append-only, and
evaluated for issuance in the same transaction. One write path, :func:`record_batch`: a single
completion is a batch of one."""

from __future__ import annotations

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
from service.completions.repository import list_for_learner

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
