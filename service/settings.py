"""Configuration from the environment (prefix ``CREDENCE_``), read once in the app factory.

Secrets (the key-encryption key, and the database URL, which may carry a password) are
``SecretStr``: ``repr``, ``str``, ``model_dump`` and validation errors show ``**********``;
code that needs the value asks for it with ``get_secret_value()``.
"""

from __future__ import annotations

import base64
import binascii
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: Key-encryption key used in development only; production refuses to start with it.
DEVELOPMENT_KEK = base64.b64encode(b"credence-development-kek-0123456").decode()
_MIN_DISTINCT_BYTES = 16  # 32 random bytes have ~30 distinct values; fewer than 16: ~never


def weak_key_reason(raw: bytes) -> str | None:
    """Why ``raw`` does not look like random bytes (None when it does): every byte the same,
    few distinct bytes (a short pattern repeated), a counting sequence, or printable text."""
    distinct = len(set(raw))
    if distinct == 1:
        return "every byte is the same"
    if distinct < _MIN_DISTINCT_BYTES:
        return f"it has only {distinct} distinct byte values (random keys have about 30)"
    if len({(b - a) % 256 for a, b in pairwise(raw)}) == 1:
        return "its bytes are a counting sequence"
    if all(32 <= b < 127 for b in raw):
        return "it is printable text (a password or phrase), not random bytes"
    return None


class Settings(BaseSettings):
    """Every setting, its default, and its environment variable (``CREDENCE_<NAME>``)."""

    model_config = SettingsConfigDict(
        env_prefix="CREDENCE_", env_file=None, extra="ignore", hide_input_in_errors=True
    )

    env: Literal["development", "production"] = "development"
    database_url: SecretStr = Field(
        default=SecretStr("sqlite:///./credence.db"),
        description="SQLite file or PostgreSQL URL (secret: it may carry a password).",
    )
    database_pool_size: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="PostgreSQL connections each served process keeps open; with "
        "database_max_overflow, what one process may hold at once. Size both so that "
        "processes x (pool + overflow + 2) stays under the server's max_connections.",
    )
    database_max_overflow: int = Field(
        default=20,
        ge=0,
        le=1000,
        description="PostgreSQL connections a process may open beyond the pool under load.",
    )
    base_url: str = "http://127.0.0.1:8000"
    issuer_id: str | None = Field(
        default=None,
        description="Issuer id in credentials: an https URL or a did:web DID (default: base_url).",
    )
    issuer_name: str = "Credence Development Issuer"
    key_encryption_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_KEK),
        description="Base64 of 32 random bytes; encrypts signing keys at rest.",
    )
    # ES256 is the one algorithm both the 1EdTech OB 3.0 validator (RS256/ES256 only) and
    # did-jwt accept; EdDSA and RS256 stay available.
    signing_algorithm: Literal["EdDSA", "ES256", "RS256"] = "ES256"
    credential_formats: Annotated[list[Literal["jwt", "di"]], NoDecode] = Field(
        default=["jwt", "di"],
        description="The forms of a credential this deployment hands out (comma-separated): "
        "`jwt` (the VC-JWT: always, it is the stored copy) and `di` (the same credential with a "
        "Data Integrity proof, derived on request). POST /v1/verify accepts both either way.",
    )
    public_names: bool = Field(
        default=False,
        description="Show the learner's name on a credential's public page (off: the page "
        "says 'a learner').",
    )
    learner_link_days: int = Field(
        default=30,
        ge=1,
        le=366,
        description="How long a learner's signed self-service link (in their emails, or from "
        "POST /v1/learners/{id}/link) keeps working, in days.",
    )
    offer_days: int = Field(
        default=7,
        ge=1,
        le=90,
        description="How long an offer of a credential to a wallet (OID4VCI, VC-API) stays "
        "open, in days; each works once.",
    )
    suspension_status_entry: bool = Field(
        default=False,
        description="Publish a suspension entry in each new credential beside the revocation "
        "one (credentialStatus becomes an array, which the OB 3.0 JSON Schema refuses); off, "
        "suspension is still enforced online (POST /v1/verify, permission checks).",
    )
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_header_bytes: int = Field(
        default=16_384,
        ge=1024,
        description="Largest request head (request line and headers) `credence serve` reads; "
        "a bigger one gets a 431 and the connection is closed.",
    )
    permission_cache_learners: int = Field(
        default=10_000,
        ge=0,
        description="Learners whose parsed facts each process keeps for permission checks "
        "(checked against the database's facts revision on every request; 0 keeps none; "
        "about 10 KB each for a learner with a few credentials).",
    )
    log_level: str = "INFO"
    log_json: bool = True
    dev_key_file: str = ".credence-dev-key"

    @field_validator("credential_formats", mode="before")
    @classmethod
    def _split_formats(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("credential_formats")
    @classmethod
    def _jwt_is_stored(cls, value: list[str]) -> list[str]:
        if "jwt" not in value:
            raise ValueError("jwt is always issued (it is the stored copy): jwt or jwt,di")
        return list(dict.fromkeys(value))

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("key_encryption_key")
    @classmethod
    def _valid_kek(cls, value: SecretStr) -> SecretStr:
        try:
            raw = base64.b64decode(value.get_secret_value(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("key_encryption_key must be base64") from exc
        if len(raw) != 32:
            raise ValueError("key_encryption_key must decode to exactly 32 bytes")
        return value

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Settings:
        if self.env == "production":
            if self.key_encryption_key.get_secret_value() == DEVELOPMENT_KEK:
                raise ValueError(
                    "CREDENCE_ENV=production refuses the development key-encryption key: "
                    "set CREDENCE_KEY_ENCRYPTION_KEY to base64 of 32 random bytes"
                )
            weak = weak_key_reason(self.kek_bytes)
            if weak is not None:
                raise ValueError(
                    f"CREDENCE_ENV=production refuses a low-entropy key-encryption key ({weak}): "
                    "set CREDENCE_KEY_ENCRYPTION_KEY to base64 of 32 random bytes"
                )
            if not self.base_url.startswith("https://"):
                raise ValueError("CREDENCE_ENV=production needs an https:// CREDENCE_BASE_URL")
        return self

    @property
    def kek_bytes(self) -> bytes:
        return base64.b64decode(self.key_encryption_key.get_secret_value())

    @property
    def effective_issuer_id(self) -> str:
        return self.issuer_id or self.base_url

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.get_secret_value().startswith("sqlite")
