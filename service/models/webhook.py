"""Webhook subscriptions, the events they receive, deliveries and their attempts."""

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime

_BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class WebhookSubscription(SQLModel, table=True):
    __tablename__ = "webhook_subscription"

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    url: str = Field(sa_column=Column(String(2048), nullable=False))
    events: list[str] = Field(sa_column=Column(JSON, nullable=False))
    description: str | None = Field(default=None, max_length=500)
    include_jwt: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    include_data_integrity: bool = Field(
        default=False,
        sa_column=Column(Boolean, nullable=False, server_default=false()),
    )
    enabled: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    secret_ciphertext: str = Field(
        sa_column=Column(Text, nullable=False),
        description="AES-256-GCM under the key-encryption key (HMAC needs the secret itself)",
    )
    start_seq: int = Field(
        sa_column=Column(BigInteger, nullable=False),
        description="audit seq of its creation: only later changes are delivered",
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    deleted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class WebhookEvent(SQLModel, table=True):
    """One event, with the exact body every delivery of it sends (the outbox payload)."""

    __tablename__ = "webhook_event"
    __table_args__ = (
        # Scanner events (threshold set) happen once per subject and threshold, however many
        # scanners run; relayed events have no threshold (NULLs never collide).
        UniqueConstraint("type", "subject", "threshold"),
    )

    id: str = Field(sa_column=Column(String(40), primary_key=True))
    type: str = Field(sa_column=Column(String(40), nullable=False))
    subject: str = Field(sa_column=Column(String(400), nullable=False))
    threshold: str | None = Field(default=None, sa_column=Column(String(40)))
    audit_seq: int | None = Field(default=None, sa_column=Column(BigInteger, unique=True))
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    body: str = Field(sa_column=Column(Text, nullable=False))


class WebhookDelivery(SQLModel, table=True):
    """One event for one subscription: pending until a 2xx, failed after the horizon."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        Index(
            "ix_webhook_delivery_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        # "Is an earlier delivery of this subscription and key still pending?" (the claim's
        # ordering check) must stay an index probe even before statistics exist.
        Index(
            "ix_webhook_delivery_pending_order",
            "subscription_id",
            "ordering_key",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: int | None = Field(
        default=None, sa_column=Column(_BIG_ID, primary_key=True, autoincrement=True)
    )
    subscription_id: str = Field(
        sa_column=Column(String(32), ForeignKey("webhook_subscription.id"), nullable=False)
    )
    event_id: str = Field(
        sa_column=Column(String(40), ForeignKey("webhook_event.id"), nullable=False)
    )
    ordering_key: str = Field(
        sa_column=Column(String(400), nullable=False),
        description="the event's subject: one delivery per subscription and key in flight",
    )
    status: str = Field(max_length=12, description="pending | succeeded | failed | cancelled")
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    next_attempt_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    deadline_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    lease_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    lease_token: str | None = Field(default=None, max_length=32)
    last_status_code: int | None = Field(default=None, sa_column=Column(Integer))
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    completed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class WebhookAttempt(SQLModel, table=True):
    __tablename__ = "webhook_attempt"

    id: int | None = Field(
        default=None, sa_column=Column(_BIG_ID, primary_key=True, autoincrement=True)
    )
    delivery_id: int = Field(
        sa_column=Column(_BIG_ID, ForeignKey("webhook_delivery.id"), nullable=False, index=True)
    )
    attempted_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    duration_ms: int = Field(sa_column=Column(Integer, nullable=False))
    status_code: int | None = Field(default=None, sa_column=Column(Integer))
    error: str | None = Field(default=None, max_length=500)
    response_body: str | None = Field(default=None, sa_column=Column(Text))
    worker: str = Field(max_length=100)


class WebhookRelayCursor(SQLModel, table=True):
    """One row: the last audit seq the relay turned into webhook events."""

    __tablename__ = "webhook_relay_cursor"

    id: int = Field(default=1, primary_key=True)
    last_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
