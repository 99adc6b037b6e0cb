"""Bitstring status lists: lists of 131,072 slots, one slot per credential and purpose."""

from datetime import datetime

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime


class StatusList(SQLModel, table=True):
    __tablename__ = "status_list"

    id: int | None = Field(default=None, primary_key=True)
    purpose: str = Field(max_length=12, description="revocation | suspension")
    size: int = 131_072
    used: int = 0
    revision: int = Field(default=1, description="bumped whenever a bit changes (ETag)")
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class StatusSlot(SQLModel, table=True):
    """One index of one list, held by one credential; ``is_set`` is the bit."""

    __tablename__ = "status_slot"
    __table_args__ = (UniqueConstraint("list_id", "idx"),)

    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(sa_column=Column(Integer, ForeignKey("status_list.id"), nullable=False))
    idx: int
    # Checked at commit: issuing claims the slots before it inserts the credential, signed
    # (the signature covers the slots' indices; migration 0016).
    credential_id: str = Field(
        sa_column=Column(
            String(45),
            ForeignKey("credential.id", deferrable=True, initially="DEFERRED"),
            nullable=False,
            index=True,
        )
    )
    purpose: str = Field(max_length=12)
    is_set: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, default=False))
