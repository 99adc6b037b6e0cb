"""What the offers API says."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class OfferCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tx_code: bool = Field(
        default=False,
        description="Also require a six-digit transaction code, returned once here, for you to "
        "send the earner by another channel than the offer",
    )


class OfferPublic(BaseModel):
    id: str
    credential_id: str
    status: Literal["open", "redeemed", "delivered", "expired", "revoked"] = Field(
        description="open: not used yet; redeemed: a wallet has the token, not yet the "
        "credential; delivered: in the wallet; expired / revoked: closed unused"
    )
    tx_code_required: bool
    created_at: datetime
    expires_at: datetime
    delivered_at: datetime | None = None
    delivered_to: str | None = Field(default=None, description="The wallet's DID")
    delivered_format: Literal["jwt_vc_json", "ldp_vc"] | None = None


class OfferCreated(OfferPublic):
    offer_uri: str = Field(
        description="openid-credential-offer://?credential_offer=... for an OID4VCI wallet "
        "(shown once: only a hash of its code is kept)"
    )
    tx_code: str | None = Field(
        default=None, description="The transaction code, when asked for (shown once)"
    )
    qr_svg: str = Field(description="The offer URI as a QR code, SVG data URI")
    qr_png: str = Field(description="The offer URI as a QR code, PNG data URI")
    exchange_url: str = Field(
        description="The same offer as a VC-API exchange (DIDAuth, then the Data Integrity "
        "form), for the Learner Credential Wallet (shown once)"
    )
    lcw_link: str = Field(
        description="The Learner Credential Wallet deep link to that exchange (lcw.app)"
    )
    lcw_qr_png: str = Field(description="The LCW deep link as a QR code, PNG data URI")


class OfferList(BaseModel):
    items: list[OfferPublic]
