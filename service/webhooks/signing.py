"""Standard Webhooks signing, and the signing secret kept encrypted at rest.

The secret cannot be stored as a hash the way API keys are: the sender computes an HMAC with it
on every delivery. It is encrypted with AES-256-GCM under the key-encryption key instead, with
the subscription id as associated data (a ciphertext copied to another row does not decrypt).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
_SECRET_BYTES = 32
_NONCE_BYTES = 12


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form ``whsec_<base64>``."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key a ``whsec_`` secret stands for."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def encrypt_secret(secret: str, kek: bytes, subscription_id: str) -> str:
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(kek).encrypt(nonce, secret.encode(), subscription_id.encode())
    return base64.b64encode(nonce + sealed).decode()


def decrypt_secret(ciphertext: str, kek: bytes, subscription_id: str) -> str:
    raw = base64.b64decode(ciphertext)
    nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
    return AESGCM(kek).decrypt(nonce, sealed, subscription_id.encode()).decode()


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(key: bytes, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key, message_id, timestamp, body),
    }
