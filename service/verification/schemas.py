"""Request and response shapes of verification and audit checkpoints (documented in OpenAPI)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class VerifyRequest(BaseModel):
    """The JSON form of a verification request (or send the bare JWT as `application/vc+jwt`,
    the bare Data Integrity credential as `application/vc`)."""

    credential: str | dict[str, Any] = Field(
        description="The credential as a compact VC-JWT, or its Data Integrity form (a JSON-LD "
        "object with an eddsa-rdfc-2022 proof)"
    )
    recipient: str | None = Field(
        default=None,
        max_length=320,
        description="An email address: adds a `recipient` check that the credential was issued "
        "to it (its salted-hash identifier)",
    )


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
        "recipient",
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
