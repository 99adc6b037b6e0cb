"""Email settings (``CREDENCE_SMTP_<NAME>``): read by the app factory and the worker. Mail is
on when ``CREDENCE_SMTP_URL`` is set; the URL's scheme says how the connection is secured."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import timedelta
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Security = Literal["starttls", "tls", "none"]
_SCHEMES: dict[str, tuple[Security, int]] = {
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
    "smtp": ("none", 25),
}


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: Security
    username: str | None
    password: str | None

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def parse_smtp_url(url: str) -> SmtpServer:
    """``smtp+starttls://user:pass@host:587`` (STARTTLS, required), ``smtps://host:465`` (TLS
    from the first byte) or ``smtp://host:25`` (no TLS; loopback relays only in production)."""
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise ValueError(
            "CREDENCE_SMTP_URL must start with smtp+starttls://, smtps:// or smtp:// "
            f"(got {parts.scheme or 'no scheme'!r})"
        )
    if not parts.hostname:
        raise ValueError("CREDENCE_SMTP_URL names no host")
    security, default_port = _SCHEMES[parts.scheme]
    try:
        port = parts.port or default_port
    except ValueError as exc:
        raise ValueError(f"CREDENCE_SMTP_URL has an invalid port: {exc}") from None
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return SmtpServer(parts.hostname, port, security, username, password)


class MailSettings(BaseSettings):
    """Where and how earners' email goes (``CREDENCE_SMTP_<NAME>``)."""

    model_config = SettingsConfigDict(env_prefix="CREDENCE_SMTP_", env_file=None, extra="ignore")

    url: SecretStr | None = Field(
        default=None, description="the SMTP server; unset: no email is sent (nor queued)"
    )
    sender: str = Field(
        default="Credence <credentials@localhost>",
        validation_alias="CREDENCE_SMTP_FROM",
        description="From: of every message",
    )
    reply_to: str | None = Field(default=None, description="Reply-To: of every message")
    templates: Path | None = Field(
        default=None,
        description="a folder whose <kind>.subject.txt / <kind>.txt / <kind>.html replace the "
        "built-in templates of that name",
    )
    timeout: float = Field(default=20.0, gt=0, description="one SMTP session, seconds")
    ca_file: Path | None = Field(
        default=None, description="CA bundle that the server's certificate must chain to"
    )
    horizon: timedelta = Field(
        default=timedelta(days=3), description="retry a message for this long, then give up"
    )
    max_age: timedelta = Field(
        default=timedelta(days=3),
        description="events older than this when the relay reads them are not mailed",
    )
    backoff_base: timedelta = timedelta(seconds=30)
    backoff_max: timedelta = timedelta(hours=2)
    lease: timedelta = Field(
        default=timedelta(minutes=5),
        description="a claimed message is another worker's again after this (crashed worker)",
    )
    batch_size: int = Field(default=20, ge=1, le=500, description="messages per SMTP session")

    @field_validator("sender", "reply_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        _, address = parseaddr(value)
        if "@" not in address:
            raise ValueError(f"not an email address: {value!r}")
        Address(addr_spec=address)  # raises on what a header cannot carry
        return value

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value():
            parse_smtp_url(value.get_secret_value())
            return value
        return None

    @field_validator("templates", "ca_file")
    @classmethod
    def _exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.exists():
            raise ValueError(f"{value} does not exist")
        return value

    @property
    def enabled(self) -> bool:
        return self.url is not None

    @property
    def server(self) -> SmtpServer:
        assert self.url is not None, "mail is not configured"
        return parse_smtp_url(self.url.get_secret_value())

    def refuse_in_production(self) -> str | None:
        """Why production must not start with these settings, if it must not."""
        if not self.enabled:
            return None
        if self.server.security == "none" and not self.server.loopback:
            return (
                "CREDENCE_ENV=production refuses plain smtp:// to a remote host: use "
                "smtp+starttls:// or smtps:// (plain smtp:// is for a relay on loopback)"
            )
        if parseaddr(self.sender)[1].lower().endswith("@localhost"):
            return (
                "CREDENCE_ENV=production needs CREDENCE_SMTP_FROM, an address of your own "
                "domain (the default sender, credentials@localhost, would not be delivered)"
            )
        return None
