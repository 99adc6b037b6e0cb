"""Offers of a credential to the earner's wallet (OID4VCI pre-authorized code, VC-API exchange):
only hashes of their secrets are kept; each delivers at most once."""

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer, String
from sqlmodel import Field, SQLModel

from service.db import UTCDateTime


class CredentialOffer(SQLModel, table=True):
    __tablename__ = "credential_offer"

    id: str = Field(sa_column=Column(String(32), primary_key=True))
    credential_id: str = Field(
        sa_column=Column(String(45), ForeignKey("credential.id"), nullable=False, index=True)
    )
    learner_id: str = Field(sa_column=Column(String(128), ForeignKey("learner.id"), nullable=False))
    code_hash: str = Field(
        sa_column=Column(String(64), nullable=False, unique=True),
        description="SHA-256 of the pre-authorized code",
    )
    tx_code_hash: str | None = Field(default=None, max_length=64)
    tx_code_failures: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    exchange_hash: str | None = Field(
        default=None,
        sa_column=Column(String(64), unique=True),
        description="SHA-256 of the VC-API exchange id",
    )
    challenge: str | None = Field(default=None, max_length=64, description="VC-API DIDAuth")
    access_token_hash: str | None = Field(default=None, sa_column=Column(String(64), unique=True))
    token_expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_by: str = Field(max_length=200)
    code_used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    delivered_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    delivered_to: str | None = Field(default=None, max_length=2048, description="the wallet's DID")
    delivered_format: str | None = Field(default=None, max_length=16)
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
