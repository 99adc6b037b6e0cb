"""Completion shapes: what learning systems send and what they get back."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service.core.ids import COURSE_ID_PATTERN
from service.core.times import Instant
from service.learners.schemas import LearnerId, LearnerRef

MAX_BATCH = 1000


class CompletionIn(BaseModel):
    """A course completion from a learning system."""

    model_config = ConfigDict(extra="forbid")

    learner_id: LearnerId
    course_id: Annotated[str, StringConstraints(pattern=COURSE_ID_PATTERN)]
    completed_at: Instant = Field(description="RFC 3339 with a time zone; not in the future")
    score: float | None = Field(default=None, ge=0, le=100)
    passed: bool = True
    external_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        default=None, description="Your idempotency key: the same body again changes nothing"
    )
    learner: LearnerRef | None = Field(
        default=None, description="Learner details; the learner is created on first mention"
    )


class IssuedCredential(BaseModel):
    id: str
    level: str
    valid_from: datetime
    valid_until: datetime | None
    renewal: bool = False


class CompletionPublic(BaseModel):
    id: str
    learner_id: str
    course_id: str
    completed_at: datetime
    score: float | None
    passed: bool
    external_id: str | None
    source: str
    received_at: datetime


class CompletionResult(BaseModel):
    completion: CompletionPublic
    issued: list[IssuedCredential] = Field(description="Credentials this completion caused")


class CompletionBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH)


class BatchItemResult(BaseModel):
    index: int
    status: int = Field(description="201 stored, 200 replayed, or the problem's status")
    completion: CompletionPublic | None = None
    issued: list[IssuedCredential] = []
    problem: dict[str, Any] | None = None


class BatchResult(BaseModel):
    stored: int
    replayed: int
    rejected: int
    items: list[BatchItemResult]
