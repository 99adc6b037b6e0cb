"""Request and response shapes of verification and audit checkpoints (documented in OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from service.core.times import AwareInstant


class VerifyRequest(BaseModel):
    """The JSON form of a verification request (or send the bare JWT as `application/vc+jwt`)."""

    credential: str = Field(description="The credential as a compact VC-JWT")


class CheckPublic(BaseModel):
    check: Literal[
        "format",
        "issuer",
        "signature",
        "claims",
        "validity",
        "revocation",
        "suspension",
        "schema",
    ]
    ok: bool
    status: Literal["ok", "failed", "skipped"] = Field(
        description="`skipped`: not checkable or not reached after an earlier failure"
    )
    detail: str


class VerificationPublic(BaseModel):
    verified: bool = Field(
        description="True when no check failed and format, issuer, signature, claims, validity and "
        "schema passed"
    )
    checks: list[CheckPublic]
    credential: dict[str, Any] | None = Field(
        description="The decoded credential (unverified when `verified` is false); null when "
        "the token could not be decoded"
    )


class CheckpointPublic(BaseModel):
    seq: int = Field(description="The head event's seq (0: empty chain)")
    hash: str = Field(description="The head event's hash")
    at: str | None = Field(description="The head event's time, as hashed into the chain")
    jwt: str = Field(description="A JWT over {seq, hash, at}, signed with the issuer's key")
    kid: str = Field(description="The key that signed it (header kid)")


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
