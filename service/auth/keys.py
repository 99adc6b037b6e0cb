"""API key format, hashing and scopes.

A key reads ``cred_<prefix>_<secret>``: the prefix (10 hex characters) is public and names the
client in listings and logs; only the SHA-256 of the whole key is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Literal

Scope = Literal[
    "catalog:read",
    "catalog:write",
    "completions:write",
    "learners:read",
    "credentials:read",
    "credentials:write",
    "permissions:check",
    "audit:read",
    "reports:read",
    "xapi:read",
    "admin",
]
SCOPES: tuple[str, ...] = Scope.__args__  # type: ignore[attr-defined]

_KEY = re.compile(r"^cred_([0-9a-f]{10})_([A-Za-z0-9_-]{20,100})$")


def generate_key() -> tuple[str, str]:
    """A new key and its public prefix."""
    prefix = secrets.token_hex(5)
    return f"cred_{prefix}_{secrets.token_urlsafe(32)}", prefix


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_prefix(key: str) -> str | None:
    """The prefix of a well-formed key, or None."""
    match = _KEY.match(key)
    return match.group(1) if match else None


def hashes_match(key: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented key with a stored hash."""
    return hmac.compare_digest(hash_key(key), stored_hash)


def grants(scopes: frozenset[str], needed: str) -> bool:
    return needed in scopes or "admin" in scopes
