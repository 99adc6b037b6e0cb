"""Permission check request and response shapes: Credence's own, and OpenID AuthZEN 1.0's."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from service.core.ids import LEARNER_ID_PATTERN, SLUG_PATTERN
from service.core.times import AwareInstant

MAX_CHECKS = 1000

LearnerId = Annotated[
    str, Field(pattern=LEARNER_ID_PATTERN, description="External learner id", examples=["u-1042"])
]
ProgramId = Annotated[
    str, Field(pattern=SLUG_PATTERN, description="Program kind id", examples=["run-paid-campaigns"])
]


class MissingCourse(BaseModel):
    course: str
    min_score: float | None = None


class MissingLevel(BaseModel):
    """A level the decision needs and the learner does not hold, with what it still takes."""

    level: str
    name: str
    courses: list[MissingCourse] = Field(description="courses still needed (with minimum score)")
    electives_needed: int = Field(0, description="how many more of electives_from are needed")
    electives_from: list[str] = []
    levels: list[str] = Field(description="prerequisite levels not held")


class PermissionDecision(BaseModel):
    """May this learner run this program kind at ``at``, and why."""

    allowed: bool
    learner_id: str
    program: str
    at: AwareDatetime
    reasons: list[str] = Field(description="plain-language sentences")
    granted_by: list[str] = Field(description="ids of the credentials the allow rests on")
    valid_until: AwareDatetime | None = Field(
        description="when this allow lapses at the earliest (null: denied, or never lapses)"
    )
    missing: list[MissingLevel]


class CheckRequest(BaseModel):
    learner_id: LearnerId
    program: ProgramId
    at: AwareInstant | None = Field(None, description="RFC 3339 time; default now")


class BatchCheckRequest(BaseModel):
    checks: list[CheckRequest] = Field(min_length=1, max_length=MAX_CHECKS)


class BatchCheckResponse(BaseModel):
    results: list[PermissionDecision] = Field(description="one per check, in request order")


# ----------------------------------------------------------------------------- AuthZEN 1.0


class Subject(BaseModel):
    type: str = Field(examples=["user"])
    id: str = Field(description="the learner id", examples=["u-1042"])
    properties: dict[str, Any] | None = None


class Resource(BaseModel):
    type: str = Field(examples=["program"])
    id: str = Field(description="the program kind id", examples=["run-paid-campaigns"])
    properties: dict[str, Any] | None = None


class Action(BaseModel):
    name: str = Field(examples=["run"])
    properties: dict[str, Any] | None = None


class EvaluationRequest(BaseModel):
    """An AuthZEN access evaluation; ``context.time`` (RFC 3339) asks about a past moment."""

    subject: Subject
    action: Action
    resource: Resource
    context: dict[str, Any] | None = None


class EvaluationResponse(BaseModel):
    """The decision; ``context`` carries Credence's reasons and the decision details."""

    decision: bool
    context: dict[str, Any]


class EvaluationItem(BaseModel):
    subject: Subject | None = None
    action: Action | None = None
    resource: Resource | None = None
    context: dict[str, Any] | None = None


class EvaluationOptions(BaseModel):
    evaluations_semantic: Literal["execute_all", "deny_on_first_deny", "permit_on_first_permit"] = (
        "execute_all"
    )


class EvaluationsRequest(BaseModel):
    """Top-level ``subject``/``action``/``resource``/``context`` are defaults for each item."""

    subject: Subject | None = None
    action: Action | None = None
    resource: Resource | None = None
    context: dict[str, Any] | None = None
    evaluations: list[EvaluationItem] | None = Field(None, max_length=MAX_CHECKS)
    options: EvaluationOptions | None = None


class EvaluationsResponse(BaseModel):
    evaluations: list[EvaluationResponse]


class AuthZenConfiguration(BaseModel):
    policy_decision_point: str
    access_evaluation_endpoint: str
    access_evaluations_endpoint: str
