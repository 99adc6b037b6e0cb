"""Completions: append-only records of learners finishing courses, as learning systems sent them."""

from datetime import datetime

from sqlalchemy import JSON, Boolean, Column, Float, ForeignKey, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime


class Completion(SQLModel, table=True):
    __tablename__ = "completion"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        # Covering on PostgreSQL, for the permission check (migration 0015).
        Index(
            "ix_completion_learner_course",
            "learner_id",
            "course_id",
            postgresql_include=["id", "completed_at", "passed", "score"],
        ),
        Index("ix_completion_completed_at", "completed_at"),
    )

    id: str = Field(sa_column=Column(String(36), primary_key=True))
    learner_id: str = Field(sa_column=Column(String(128), ForeignKey("learner.id"), nullable=False))
    course_id: str = Field(sa_column=Column(String(128), ForeignKey("course.id"), nullable=False))
    completed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    score: float | None = Field(default=None, sa_column=Column(Float))
    passed: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    source: str = Field(max_length=64, description="the API client (prefix) or importer")
    external_id: str | None = Field(default=None, max_length=200)
    request_hash: str = Field(max_length=64, description="SHA-256 of the canonical request")
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    issued: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False),
        description="ids of the credentials this completion caused (the idempotent replay)",
    )
