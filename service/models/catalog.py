"""Catalog tables. Definitions are kept in their canonical JSON form next to the columns that
are queried; archived objects stay (``archived_at``) so history keeps resolving.

Every object carries ``revision`` (its ETag); ``catalog_state.revision`` moves on every catalog
change so processes can cache compiled rules safely.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Integer, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime


def _ts(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


class Course(SQLModel, table=True):
    __tablename__ = "course"

    id: str = Field(sa_column=Column(String(128), primary_key=True))
    name: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    xapi_activity_id: str | None = Field(default=None, max_length=2048, index=True)
    revision: int = 1
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    archived_at: datetime | None = _ts(nullable=True)


class Track(SQLModel, table=True):
    __tablename__ = "track"

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    name: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    revision: int = 1
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    archived_at: datetime | None = _ts(nullable=True)


class Level(SQLModel, table=True):
    """A level (an Open Badges Achievement); ``id`` is ``track/level``."""

    __tablename__ = "level"
    __table_args__ = (UniqueConstraint("track_id", "local_id"),)

    id: str = Field(sa_column=Column(String(129), primary_key=True))
    track_id: str = Field(sa_column=Column(String(64), ForeignKey("track.id"), nullable=False))
    local_id: str = Field(max_length=64)
    name: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    rank: int
    image: str | None = Field(default=None, max_length=2048, description="badge image URL")
    version: int = Field(default=1, description="the current version of the earning rules")
    revision: int = 1
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    archived_at: datetime | None = _ts(nullable=True)


class LevelVersion(SQLModel, table=True):
    """The earning rules of a level as of one version; old versions stay readable."""

    __tablename__ = "level_version"

    level_id: str = Field(sa_column=Column(String(129), ForeignKey("level.id"), primary_key=True))
    version: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    rules: dict[str, Any] = Field(
        sa_column=Column(JSON, nullable=False),
        description="requires, valid_for, renewal, recency as in the catalog document",
    )
    prerequisites: list[str] = Field(
        sa_column=Column(JSON, nullable=False), description="effective prerequisite level ids"
    )
    fingerprint: str = Field(max_length=64)
    created_at: datetime = _ts()


class Program(SQLModel, table=True):
    """A program kind and its ``requires`` expression (canonical JSON)."""

    __tablename__ = "program"

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    name: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    requires: Any = Field(sa_column=Column(JSON, nullable=False))
    revision: int = 1
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    archived_at: datetime | None = _ts(nullable=True)


class Role(SQLModel, table=True):
    """A role mandate: learners with ``role`` = id must hold levels within a period."""

    __tablename__ = "role"

    id: str = Field(sa_column=Column(String(64), primary_key=True))
    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    mandatory: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    revision: int = 1
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    archived_at: datetime | None = _ts(nullable=True)


class CatalogState(SQLModel, table=True):
    """One row: a counter bumped by every catalog change (cache key for compiled rules)."""

    __tablename__ = "catalog_state"

    id: int = Field(default=1, primary_key=True)
    revision: int = 0
    updated_at: datetime | None = _ts(nullable=True)
