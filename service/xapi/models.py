"""Every accepted xAPI statement id, the hash of its content and what it mapped to."""

from datetime import datetime

from sqlalchemy import Column, ForeignKey, String
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime


class XapiStatement(SQLModel, table=True):
    """One accepted statement; ``completion_id`` is set when it became a completion."""

    __tablename__ = "xapi_statement"

    id: str = Field(sa_column=Column(String(36), primary_key=True), description="statement UUID")
    content_hash: str = Field(max_length=64, description="SHA-256 of the canonical statement")
    source: str = Field(max_length=64, index=True, description="the API client prefix")
    verb_id: str = Field(max_length=500)
    activity_id: str = Field(max_length=2048)
    outcome: str = Field(max_length=32, description="completion | ignored")
    reason: str | None = Field(default=None, max_length=200, description="why it was ignored")
    completion_id: str | None = Field(
        default=None, sa_column=Column(String(36), ForeignKey("completion.id"), nullable=True)
    )
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
