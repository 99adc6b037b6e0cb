"""Request and response bodies of the webhooks API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from service.webhooks.events import DEFAULT_EVENTS, EventType


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=2048, examples=["https://hooks.example.com/credence"])
    events: list[EventType] = Field(
        default=list(DEFAULT_EVENTS),
        min_length=1,
        max_length=20,
        description="event types to receive (default: all but completion.received)",
    )
    description: str | None = Field(default=None, max_length=500)
    include_jwt: bool = Field(
        default=False, description="add the signed VC-JWT to credential.issued/renewed payloads"
    )
    include_data_integrity: bool = Field(
        default=False,
        description="add the credential's Data Integrity form (JSON-LD, eddsa-rdfc-2022 proof) "
        "to credential.issued/renewed payloads",
    )


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=8, max_length=2048)
    events: list[EventType] | None = Field(default=None, min_length=1, max_length=20)
    description: str | None = Field(default=None, max_length=500)
    include_jwt: bool | None = None
    include_data_integrity: bool | None = None
    enabled: bool | None = Field(
        default=None, description="a disabled subscription gets no new deliveries"
    )


class WebhookPublic(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str | None
    include_jwt: bool
    include_data_integrity: bool
    enabled: bool
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookPublic):
    secret: str = Field(
        description="the signing secret (Standard Webhooks `whsec_...`); shown only this once"
    )


class AttemptPublic(BaseModel):
    attempted_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    response_body: str | None = Field(description="the start of the receiver's answer")
    worker: str


class DeliveryPublic(BaseModel):
    id: int
    event_id: str
    event_type: str
    status: str = Field(description="pending | succeeded | failed | cancelled")
    attempts: int
    next_attempt_at: datetime | None = Field(description="when pending")
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    completed_at: datetime | None
    attempt_log: list[AttemptPublic]
