"""Credentials (stored exactly as signed) and their status history."""

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime

LIVE_CREDENTIAL = "superseded_by IS NULL AND status <> 'revoked'"


class Credential(SQLModel, table=True):
    __tablename__ = "credential"
    __table_args__ = (
        # Covering on PostgreSQL: a permission check reads a learner's credentials from it
        # alone (migration 0015).
        Index(
            "ix_credential_learner_level",
            "learner_id",
            "level_id",
            postgresql_include=[
                "id",
                "valid_from",
                "valid_until",
                "status",
                "status_changed_at",
                "superseded_by",
                "superseded_at",
                "issued_at",
            ],
        ),
        Index("ix_credential_valid_until", "valid_until"),
        # At most one live (neither superseded nor revoked) credential per learner and level.
        Index(
            "uq_credential_live",
            "learner_id",
            "level_id",
            unique=True,
            sqlite_where=text(LIVE_CREDENTIAL),
            postgresql_where=text(LIVE_CREDENTIAL),
        ),
    )

    id: str = Field(sa_column=Column(String(45), primary_key=True), description="urn:uuid:...")
    learner_id: str = Field(sa_column=Column(String(128), ForeignKey("learner.id"), nullable=False))
    level_id: str = Field(sa_column=Column(String(129), ForeignKey("level.id"), nullable=False))
    level_version: int = Field(sa_column=Column(Integer, nullable=False))
    issued_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    valid_from: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    valid_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    status: str = Field(max_length=12, description="active | suspended | revoked")
    status_changed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    status_reason: str | None = Field(default=None, max_length=500)
    superseded_by: str | None = Field(default=None, max_length=45)
    superseded_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    renewal: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    manual: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    evidence: list[str] = Field(sa_column=Column(JSON, nullable=False))
    kid: str = Field(max_length=64)
    jwt: str = Field(sa_column=Column(Text, nullable=False))


class CredentialStatusEvent(SQLModel, table=True):
    """Every status change with its time, so decisions 'as of' a past time can be answered."""

    __tablename__ = "credential_status_event"

    id: int | None = Field(default=None, primary_key=True)
    credential_id: str = Field(
        sa_column=Column(String(45), ForeignKey("credential.id"), nullable=False, index=True)
    )
    status: str = Field(max_length=12)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    reason: str | None = Field(default=None, max_length=500)
    actor: str = Field(max_length=200)
