"""Webhook settings (prefix ``CREDENCE_WEBHOOK_``), read by the app factory and the worker."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class WebhookSettings(BaseSettings):
    """Delivery, retry, scanner and outbound-safety settings (``CREDENCE_WEBHOOK_<NAME>``)."""

    model_config = SettingsConfigDict(env_prefix="CREDENCE_WEBHOOK_", env_file=None, extra="ignore")

    expiring_thresholds_days: Annotated[list[int], NoDecode] = Field(
        default=[30, 7], description="credential.expiring fires once at each of these (days)"
    )
    expired_lookback: timedelta = Field(
        default=timedelta(days=30),
        description="credential.expired is emitted for credentials that expired within this",
    )
    horizon: timedelta = Field(
        default=timedelta(days=3), description="retry a failing delivery for this long"
    )
    backoff_base: timedelta = timedelta(seconds=5)
    backoff_max: timedelta = timedelta(hours=6)
    connect_timeout: float = Field(default=5.0, gt=0)
    timeout: float = Field(default=15.0, gt=0, description="whole attempt, seconds")
    lease: timedelta = Field(
        default=timedelta(seconds=60),
        description="a claimed delivery is another worker's again after this (crashed worker)",
    )
    response_body_cap: int = Field(default=1024, ge=0, le=65536)
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="host names, IPs or CIDR networks that may be non-public (comma-separated)",
    )
    batch_size: int = Field(
        default=16,
        ge=1,
        le=200,
        description="deliveries a worker claims and sends at once (its concurrent connections)",
    )
    poll_interval: float = Field(default=1.0, gt=0)
    in_serve: bool = Field(
        default=False,
        description="also run the delivery worker inside each `credence serve` process",
    )
    scan_interval: float = Field(default=60.0, gt=0)

    @field_validator("expiring_thresholds_days", "allowed_hosts", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("expiring_thresholds_days")
    @classmethod
    def _positive_days(cls, value: list[int]) -> list[int]:
        if any(days < 1 for days in value):
            raise ValueError("expiring thresholds are whole days >= 1")
        return sorted(set(value), reverse=True)

    @model_validator(mode="after")
    def _lease_outlives_an_attempt(self) -> WebhookSettings:
        if self.lease.total_seconds() <= self.timeout:
            raise ValueError(
                "CREDENCE_WEBHOOK_LEASE must be longer than CREDENCE_WEBHOOK_TIMEOUT, or a slow "
                "attempt could be taken over and sent twice at once"
            )
        return self
