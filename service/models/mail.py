"""Email to earners: the messages waiting to go out (or gone), and the relay's cursor."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    text,
)
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime

_BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class MailMessage(SQLModel, table=True):
    """One email to one earner about one credential: pending until the SMTP server accepts it,
    failed after the horizon or a permanent refusal. Rendered when sent, from the templates."""

    __tablename__ = "mail_message"
    __table_args__ = (
        Index(
            "ix_mail_message_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: int | None = Field(
        default=None, sa_column=Column(_BIG_ID, primary_key=True, autoincrement=True)
    )
    kind: str = Field(max_length=16, description="awarded | renewed | expiring | revoked")
    credential_id: str = Field(
        sa_column=Column(String(45), ForeignKey("credential.id"), nullable=False, index=True)
    )
    learner_id: str = Field(
        sa_column=Column(String(128), ForeignKey("learner.id"), nullable=False, index=True)
    )
    to_address: str = Field(max_length=320)
    dedupe_key: str | None = Field(
        default=None,
        sa_column=Column(String(200), unique=True),
        description="one message per event (audit seq, expiry threshold); null for a re-send",
    )
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(max_length=12, description="pending | sent | failed")
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    deadline_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    lease_token: str | None = Field(default=None, max_length=32)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class MailRelayCursor(SQLModel, table=True):
    """One row: the last audit seq the mail relay has read (created by the migration at the
    chain's head then, so enabling SMTP never mails the history)."""

    __tablename__ = "mail_relay_cursor"

    id: int = Field(default=1, primary_key=True)
    last_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
