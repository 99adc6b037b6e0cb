"""Signing keys. The private key is only ever stored encrypted (AES-256-GCM under the KEK)."""

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary, String
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime


class SigningKey(SQLModel, table=True):
    __tablename__ = "signing_key"

    kid: str = Field(sa_column=Column(String(64), primary_key=True))
    alg: str = Field(max_length=10)
    state: str = Field(max_length=12, index=True, description="active | retired")
    public_jwk: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    private_key_encrypted: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    retired_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    compromised_at: datetime | None = Field(
        default=None,
        sa_column=Column(UTCDateTime()),
        description="credentials this key signed after this time fail verification",
    )
