"""Every accepted xAPI statement (as stored, with what it mapped to), the agents it can be
found by, and the attachment data kept when ``CREDENCE_XAPI_ATTACHMENTS=store``."""

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime


class XapiStatement(SQLModel, table=True):
    """One accepted statement; ``completion_id`` is set when it became a completion."""

    __tablename__ = "xapi_statement"
    __table_args__ = (
        # GET /xapi/statements pages by stored time (received_at), newest first
        Index("ix_xapi_statement_received_at", "received_at", "id"),
        # the activity filter, and "is this statement voided?" (a voiding statement's object
        # id is here); hash on PostgreSQL, whose b-tree entries cannot hold a 2048-character IRI
        Index("ix_xapi_statement_activity_id", "activity_id", postgresql_using="hash"),
    )

    id: str = Field(sa_column=Column(String(36), primary_key=True), description="statement UUID")
    content_hash: str = Field(max_length=64, description="SHA-256 of the canonical statement")
    source: str = Field(max_length=64, index=True, description="the API client prefix")
    verb_id: str = Field(max_length=500)
    activity_id: str = Field(max_length=2048, description="the object's id")
    object_type: str | None = Field(
        default=None, max_length=16, description="Activity, Agent, Group, StatementRef, ..."
    )
    outcome: str = Field(max_length=32, description="completion | ignored")
    reason: str | None = Field(default=None, max_length=200, description="why it was ignored")
    completion_id: str | None = Field(
        default=None, sa_column=Column(String(36), ForeignKey("completion.id"), nullable=True)
    )
    received_at: datetime = Field(
        sa_column=Column(UTCDateTime(), nullable=False), description="the statement's stored"
    )
    statement: str | None = Field(
        default=None,
        sa_column=Column(Text(), nullable=True),
        description="the statement as stored (JSON, with id, stored, authority, version and "
        "timestamp set); null for statements accepted before statements were kept",
    )


class XapiStatementAgent(SQLModel, table=True):
    """An agent a statement is about (its actor or its Agent/Group object, or a member of
    either group), by the SHA-256 of the agent's identifier: what ``agent=`` finds."""

    __tablename__ = "xapi_statement_agent"

    statement_id: str = Field(
        sa_column=Column(String(36), ForeignKey("xapi_statement.id"), primary_key=True)
    )
    agent_key: str = Field(sa_column=Column(String(64), primary_key=True, index=True))


class XapiAttachment(SQLModel, table=True):
    """Attachment data received in a multipart statement request, by its SHA-2."""

    __tablename__ = "xapi_attachment"

    sha2: str = Field(sa_column=Column(String(128), primary_key=True))
    content_type: str = Field(max_length=255)
    length: int = Field(sa_column=Column(Integer(), nullable=False))
    content: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
