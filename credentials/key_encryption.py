"""Private keys encrypted at rest: AES-256-GCM under a key-encryption key (KEK).

Blob format, version 1 (all lengths in bytes)::

    0x01 | nonce (12) | AES-256-GCM ciphertext of the PKCS#8 DER private key + tag (16)

The associated data binds the blob to its key id: ``b"credence-key-v1\\x00" + kid (UTF-8)``, so a
blob copied onto another key row fails to decrypt.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_der_private_key,
)

from credentials.errors import KeyDecryptionError, KeyFormatError, MisuseError
from credentials.keys import PrivateKey, algorithm_for_key

__all__ = ["decrypt_private_key", "encrypt_private_key"]

_VERSION_1 = 1
_NONCE_BYTES = 12
_TAG_BYTES = 16
_AAD_PREFIX = b"credence-key-v1\x00"


def _check_inputs(kek: bytes, kid: str) -> None:
    if not isinstance(kek, bytes | bytearray) or len(kek) != 32:
        raise MisuseError("the key-encryption key must be exactly 32 bytes (AES-256)")
    if not isinstance(kid, str) or not kid:
        raise MisuseError("kid must be a non-empty string")


def encrypt_private_key(private_key: PrivateKey, kek: bytes, kid: str) -> bytes:
    """Encrypt a private key for storage.

    Args:
        private_key: the key to protect (any supported type).
        kek: the 32-byte key-encryption key (from settings or a KMS).
        kid: the key id the blob belongs to; bound as associated data.

    Returns:
        A versioned blob (see the module docstring) safe to store in a database.

    Raises:
        MisuseError: KEK not 32 bytes or empty kid.
    """
    _check_inputs(kek, kid)
    algorithm_for_key(private_key)  # refuse unsupported keys before storing them
    der = private_key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(bytes(kek)).encrypt(nonce, der, _AAD_PREFIX + kid.encode())
    return bytes([_VERSION_1]) + nonce + sealed


def decrypt_private_key(blob: bytes, kek: bytes, kid: str) -> PrivateKey:
    """Decrypt a blob made by `encrypt_private_key`.

    Raises:
        MisuseError: KEK not 32 bytes or empty kid.
        KeyFormatError: unknown version, truncated blob or unsupported key inside.
        KeyDecryptionError: authentication failed (wrong KEK, wrong kid or tampered blob).
    """
    _check_inputs(kek, kid)
    if len(blob) < 1 + _NONCE_BYTES + _TAG_BYTES:
        raise KeyFormatError("encrypted key blob is truncated")
    if blob[0] != _VERSION_1:
        raise KeyFormatError(f"unknown encrypted key format version {blob[0]}")
    nonce = blob[1 : 1 + _NONCE_BYTES]
    try:
        der = AESGCM(bytes(kek)).decrypt(
            nonce, blob[1 + _NONCE_BYTES :], _AAD_PREFIX + kid.encode()
        )
    except InvalidTag as exc:
        raise KeyDecryptionError(
            "could not decrypt private key: wrong key-encryption key, wrong kid or tampered blob"
        ) from exc
    key = load_der_private_key(der, password=None)
    if not isinstance(key, PrivateKey):
        raise KeyFormatError(f"unsupported private key type {type(key).__name__}")
    algorithm_for_key(key)
    return key
