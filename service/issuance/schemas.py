"""Credential shapes: the credentials API, manual awards, re-evaluation and learner progress."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service.core.ids import LEVEL_ID_PATTERN
from service.learners.schemas import LearnerId


class CredentialPublic(BaseModel):
    id: str
    learner_id: str
    level: str
    level_version: int
    status: Literal["active", "suspended", "revoked"]
    expired: bool
    superseded_by: str | None
    issued_at: datetime
    valid_from: datetime
    valid_until: datetime | None
    status_changed_at: datetime | None
    status_reason: str | None
    renewal: bool
    manual: bool
    evidence: list[str]


class CredentialDetail(CredentialPublic):
    credential: dict[str, Any] = Field(description="The decoded credential, exactly as signed")
    jwt: str = Field(description="The compact VC-JWT")
    page_url: str = Field(
        description="The credential's public page (no API key): what to share or link to"
    )
    linkedin_url: str = Field(
        description="LinkedIn's 'Add to profile' link for this certification (name, issuer, "
        "issue and expiry month, page URL, credential id)"
    )


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None


class ManualAward(BaseModel):
    model_config = ConfigDict(extra="forbid")

    learner_id: LearnerId
    level: Annotated[str, StringConstraints(pattern=LEVEL_ID_PATTERN)]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    override: bool = Field(default=False, description="Award even without the prerequisites")


class EvaluationReport(BaseModel):
    level: str
    learners_evaluated: int
    credentials_issued: int


class CourseNeeded(BaseModel):
    course: str
    min_score: float | None = None


class MissingPublic(BaseModel):
    courses: list[CourseNeeded] = Field(
        description="Required courses still without a counting completion"
    )
    electives_needed: int = Field(description="How many more electives must be completed")
    electives_from: list[str] = Field(description="Electives that would count")
    levels: list[str] = Field(description="Prerequisite levels not held")
    reasons: list[str] = Field(description="Cut-offs and scores, in plain words")
    renewal: bool = Field(description="True when this is the (shorter) renewal path")


class LevelProgressPublic(BaseModel):
    level: str
    name: str
    status: Literal["held", "earnable", "suspended", "missing"]
    credential_id: str | None = None
    valid_until: datetime | None = Field(default=None, description="Held until")
    renewable_from: datetime | None = Field(default=None, description="Renewal window opens")
    missing: MissingPublic | None = None


class LearnerProgress(BaseModel):
    learner_id: str
    at: datetime
    credentials: list[CredentialPublic] = Field(
        description=(
            "Credentials current at `at` (awarded by then, not revoked or superseded by then),"
            " with their status then; expired ones flagged"
        )
    )
    levels: list[LevelProgressPublic] = Field(description="Every active level, prerequisites first")
