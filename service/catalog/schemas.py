"""Request and response shapes of the catalog API (definitions come from the document model)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from service.catalog.document import (
    CourseDef,
    Description,
    LevelDef,
    Name,
    ProgramDef,
    RoleDef,
    TrackDef,
)


class _Meta(BaseModel):
    revision: int = Field(description="Changes on every update; the ETag is its quoted value")
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = None


class CoursePublic(CourseDef, _Meta):
    pass


class TrackPublic(_Meta):
    id: str
    name: str
    description: str | None = None
    levels: list[str] = Field(description="Level ids of the track, by rank")


class TrackCreate(TrackDef):
    """A track, optionally with its levels."""


class TrackUpdate(BaseModel):
    """A track's own fields; its levels are changed through their own endpoints."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description | None = None


class ProgramPublic(ProgramDef, _Meta):
    pass


class RolePublic(RoleDef, _Meta):
    pass


class LevelPublic(_Meta):
    id: str = Field(description="track/level", examples=["social-media/foundations"])
    track: str
    slug: str = Field(description="The level's id within its track")
    name: str
    description: str | None = None
    rank: int
    requires: dict[str, Any]
    valid_for: str | None = None
    renewal: dict[str, Any] | None = None
    recency: str | None = None
    version: int = Field(description="Current version of the earning rules")
    prerequisites: list[str] = Field(description="Effective prerequisites (implied included)")


class LevelVersionPublic(BaseModel):
    level: str
    version: int
    rules: dict[str, Any]
    prerequisites: list[str]
    created_at: datetime


class CatalogApplyResult(BaseModel):
    dry_run: bool
    applied: bool
    revision: int
    summary: dict[str, int]
    changes: list[dict[str, Any]]


UpdateModels: dict[str, type[BaseModel]] = {
    "course": CourseDef,
    "track": TrackDef,
    "program": ProgramDef,
    "role": RoleDef,
    "level": LevelDef,
}
