"""Signing keys as the keys API shows and manages them (never the private half)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from service.core.times import AwareInstant


class KeyPublic(BaseModel):
    """A signing key as published and managed (never the private half)."""

    kid: str = Field(description="RFC 7638 thumbprint (the JWKS kid)")
    key_id: str = Field(description="The header kid of JWTs it signs (JWKS URL or DID URL)")
    alg: str
    state: Literal["active", "retired"]
    created_at: datetime
    retired_at: datetime | None = None
    compromised_at: datetime | None = Field(
        default=None, description="Tokens it signed at or after this time fail verification"
    )


class KeyCompromise(BaseModel):
    at: AwareInstant | None = Field(
        default=None, description="Distrust what the key signed from this time (default now)"
    )
    rotate: bool = Field(
        default=True, description="If it is the active key, make a new active key at once"
    )


class KeyCompromised(BaseModel):
    key: KeyPublic
    active: KeyPublic | None = Field(description="The new active key, when one was made")
