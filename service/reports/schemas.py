"""Report shapes. Every report says when it was computed and for which moment."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from service.core.pagination import Page


class LevelRef(BaseModel):
    id: str
    name: str
    track: str
    rank: int


class LevelCertification(BaseModel):
    level: str
    holders: int = Field(description="learners holding the level at `at`")
    share: float | None = Field(description="holders / learners (null for an empty group)")
    expiring_30: int = Field(description="holders whose level lapses within 30 days of `at`")
    expiring_60: int
    expiring_90: int
    expired_not_renewed: int = Field(
        description="learners whose credential expired (not revoked) and who hold it no more"
    )
    in_progress: int = Field(
        description="learners never awarded the level with a counting completion toward it"
    )


class CertificationGroup(BaseModel):
    group: str | None = Field(description="the attribute's value; null: learners without one")
    learners: int = Field(description="learners in scope at `at`")
    levels: list[LevelCertification]


class CertificationReport(BaseModel):
    """Who holds which level, per group, at one moment."""

    computed_at: datetime
    at: datetime
    group_by: str | None
    track: str | None
    levels: list[LevelRef]
    groups: list[CertificationGroup]


class MonthRate(BaseModel):
    month: str = Field(examples=["2026-03"])
    start: datetime
    end: datetime = Field(description="exclusive")
    completions: int = Field(description="passed completions dated in the month")
    learners_completing: int = Field(description="learners with at least one of them")
    learners_in_scope: int = Field(description="learners in scope at the month's end")
    rate: float | None = Field(description="learners_completing / learners_in_scope")


class CompletionRateGroup(BaseModel):
    group: str | None
    months: list[MonthRate]


class CompletionRateReport(BaseModel):
    """The ongoing completion rate per calendar month (UTC), oldest month first."""

    computed_at: datetime
    group_by: str | None
    months: int
    groups: list[CompletionRateGroup]


class ComplianceCounts(BaseModel):
    learners: int = Field(description="learners holding the role")
    compliant: int
    due: int = Field(description="not compliant, the mandate's period still running")
    overdue: int


class ComplianceGroup(BaseModel):
    group: str | None
    learners: int
    compliant: int
    due: int
    overdue: int


class MandateCompliance(BaseModel):
    role: str
    level: str
    within: str = Field(examples=["P60D"])
    totals: ComplianceCounts
    groups: list[ComplianceGroup]


class OverdueLearner(BaseModel):
    learner_id: str
    name: str | None
    group: str | None
    role: str
    level: str
    role_since: datetime = Field(description="when the learner got the role")
    overdue_since: datetime = Field(description="role_since + the mandate's within")


class ComplianceReport(BaseModel):
    """Role mandates now: compliant, due and overdue learners, and the overdue list."""

    computed_at: datetime
    role: str | None
    group_by: str | None
    totals: ComplianceCounts = Field(description="over every mandate (learner x mandate pairs)")
    mandates: list[MandateCompliance]
    overdue: Page[OverdueLearner] = Field(
        description="overdue learners, by role, level, role_since; page with cursor/limit"
    )


class OverdueReport(BaseModel):
    computed_at: datetime
    role: str | None
    group_by: str | None
    items: list[OverdueLearner]
    next_cursor: str | None = None


class FunnelStep(BaseModel):
    level: str
    name: str
    rank: int
    reached: int = Field(description="learners ever awarded the level (revoked not counted)")
    conversion: float | None = Field(
        description="reached / the previous step's reached (the first step: / learners)"
    )


class FunnelReport(BaseModel):
    """How far learners get along a track."""

    computed_at: datetime
    track: str
    learners: int
    steps: list[FunnelStep]
