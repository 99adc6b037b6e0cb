"""The append-only, hash-chained audit log (DESIGN.md §6)."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, String
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    actor: str = Field(sa_column=Column(String(200), nullable=False))
    action: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    subject: str = Field(sa_column=Column(String(300), nullable=False, index=True))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(sa_column=Column(String(64), nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
