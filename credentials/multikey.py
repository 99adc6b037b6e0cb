"""Ed25519 keys in their ``Multikey`` form (``publicKeyMultibase``: ``z`` + base58btc of the
multicodec ``0xed01`` and the 32 key bytes), as Data Integrity verification methods name them."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from credentials._encoding import base58btc_decode, base58btc_encode
from credentials.errors import KeyFormatError

__all__ = ["multikey_from_public_key", "public_key_from_multikey"]

_ED25519_MULTICODEC = b"\xed\x01"


def multikey_from_public_key(key: Ed25519PublicKey) -> str:
    """The ``publicKeyMultibase`` of an Ed25519 key (``z6Mk…``)."""
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "z" + base58btc_encode(_ED25519_MULTICODEC + raw)


def public_key_from_multikey(value: str) -> Ed25519PublicKey:
    """The Ed25519 key a ``publicKeyMultibase`` holds; `KeyFormatError` for anything else."""
    if not isinstance(value, str) or not value.startswith("z"):
        raise KeyFormatError("publicKeyMultibase must be base58btc (start with 'z')")
    try:
        raw = base58btc_decode(value[1:])
    except ValueError as exc:
        raise KeyFormatError(f"publicKeyMultibase: {exc}") from None
    if len(raw) != 34 or raw[:2] != _ED25519_MULTICODEC:
        raise KeyFormatError("publicKeyMultibase is not an Ed25519 public key (0xed01 + 32 bytes)")
    return Ed25519PublicKey.from_public_bytes(raw[2:])
