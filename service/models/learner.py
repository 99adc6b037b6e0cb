"""Learners and the history of their attributes."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime


class Learner(SQLModel, table=True):
    __tablename__ = "learner"

    id: str = Field(sa_column=Column(String(128), primary_key=True))
    email: str | None = Field(default=None, max_length=320, index=True)
    name: str | None = Field(default=None, max_length=200)
    did: str | None = Field(default=None, max_length=2048)
    public_profile: bool | None = Field(
        default=None,
        description="name shown on public credential pages; null: the deployment's default",
    )
    subject_uuid: str = Field(
        max_length=36, description="stable urn:uuid: subject id used in credentials"
    )
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    revision: int = 1
    facts_revision: int = Field(
        default=0,
        sa_column=Column(BigInteger, nullable=False, server_default="0"),
        description="bumped by database triggers whenever the learner's credentials, status "
        "events, attribute history or completions change (permission checks cache by it)",
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class LearnerAttributeChange(SQLModel, table=True):
    """One attribute set, changed or removed (``value`` null) at ``changed_at``."""

    __tablename__ = "learner_attribute_change"
    __table_args__ = (
        # Covering on PostgreSQL, for the permission check (migration 0015).
        Index(
            "ix_learner_attribute_change_lookup",
            "learner_id",
            "name",
            "changed_at",
            postgresql_include=["value", "id"],
        ),
    )

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    learner_id: str = Field(sa_column=Column(String(128), ForeignKey("learner.id"), nullable=False))
    name: str = Field(max_length=64)
    value: str | None = Field(default=None, max_length=200)
    changed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
