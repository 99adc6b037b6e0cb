"""What the earners' API says: a queued or sent email, and a learner's self-service link."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class MailMessagePublic(BaseModel):
    id: int
    kind: Literal["awarded", "renewed", "expiring", "revoked"]
    to: str = Field(description="The address it was queued for")
    status: Literal["pending", "sent", "failed"] = Field(
        description="pending: waiting or being retried; sent: the SMTP server accepted it; "
        "failed: refused for good, or not accepted within CREDENCE_SMTP_HORIZON"
    )
    attempts: int
    last_error: str | None = None
    created_at: datetime
    next_attempt_at: datetime | None = Field(default=None, description="While pending")
    sent_at: datetime | None = None


class MailMessageList(BaseModel):
    items: list[MailMessagePublic]


class LearnerLink(BaseModel):
    url: str = Field(description="The learner's own page: no password, no API key")
    expires_at: datetime
