"""The offers' secrets: high-entropy codes kept only as SHA-256 hashes, and stateless nonces
(an expiry and an HMAC under a key derived from the key-encryption key)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

_NONCE_CONTEXT = b"credence/oid4vci-nonce/v1"
NONCE_SECONDS = 300


def new_code() -> str:
    """256 bits, URL-safe."""
    return secrets.token_urlsafe(32)


def new_tx_code() -> str:
    """A six-digit transaction code (sent to the earner apart from the offer)."""
    return f"{secrets.randbelow(1_000_000):06d}"


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _nonce_key(kek: bytes) -> bytes:
    return hmac.new(kek, _NONCE_CONTEXT, hashlib.sha256).digest()


def new_nonce(kek: bytes, *, now: float | None = None) -> tuple[str, int]:
    """A fresh ``c_nonce`` and its lifetime in seconds."""
    expires = int(now if now is not None else time.time()) + NONCE_SECONDS
    body = f"{expires}.{secrets.token_urlsafe(12)}"
    mac = hmac.new(_nonce_key(kek), body.encode(), hashlib.sha256).digest()[:16]
    return f"{body}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}", NONCE_SECONDS


def nonce_valid(kek: bytes, nonce: str, *, now: float | None = None) -> bool:
    """Made here, unaltered and not expired (replay is stopped by the offer: one delivery)."""
    parts = nonce.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or len(nonce) > 200:
        return False
    body = f"{parts[0]}.{parts[1]}"
    expected = hmac.new(_nonce_key(kek), body.encode(), hashlib.sha256).digest()[:16]
    given = parts[2] + "=" * (-len(parts[2]) % 4)
    try:
        genuine = hmac.compare_digest(base64.urlsafe_b64decode(given), expected)
    except ValueError:
        return False
    return genuine and int(parts[0]) > (now if now is not None else time.time())
