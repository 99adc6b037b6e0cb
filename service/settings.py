"""Configuration from the environment (prefix ``CREDENCE_``), read once in the app factory."""

from __future__ import annotations

import base64
import binascii
from functools import cached_property
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Key-encryption key used in development only; production refuses to start with it.
DEVELOPMENT_KEK = base64.b64encode(b"credence-development-kek-0123456").decode()


class Settings(BaseSettings):
    """Every setting, its default, and its environment variable (``CREDENCE_<NAME>``)."""

    model_config = SettingsConfigDict(env_prefix="CREDENCE_", env_file=None, extra="ignore")

    env: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///./credence.db"
    base_url: str = "http://127.0.0.1:8000"
    issuer_id: str | None = Field(
        default=None,
        description="Issuer id in credentials: an https URL or a did:web DID (default: base_url).",
    )
    issuer_name: str = "Credence Development Issuer"
    key_encryption_key: str = Field(
        default=DEVELOPMENT_KEK,
        description="Base64 of 32 random bytes; encrypts signing keys at rest.",
    )
    signing_algorithm: Literal["EdDSA", "ES256", "RS256"] = "EdDSA"
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
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

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("key_encryption_key")
    @classmethod
    def _valid_kek(cls, value: str) -> str:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("key_encryption_key must be base64") from exc
        if len(raw) != 32:
            raise ValueError("key_encryption_key must decode to exactly 32 bytes")
        return value

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Settings:
        if self.env == "production":
            if self.key_encryption_key == DEVELOPMENT_KEK:
                raise ValueError(
                    "CREDENCE_ENV=production refuses the development key-encryption key: "
                    "set CREDENCE_KEY_ENCRYPTION_KEY to base64 of 32 random bytes"
                )
            if not self.base_url.startswith("https://"):
                raise ValueError("CREDENCE_ENV=production needs an https:// CREDENCE_BASE_URL")
        return self

    @cached_property
    def kek_bytes(self) -> bytes:
        return base64.b64decode(self.key_encryption_key)

    @property
    def effective_issuer_id(self) -> str:
        return self.issuer_id or self.base_url

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
