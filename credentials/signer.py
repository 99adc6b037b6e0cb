"""The `Signer` protocol and an in-memory implementation.

A signer produces JWS signatures (already in JOSE form: raw ``r||s`` for ES256) over the signing
input. Keys may live in memory (`LocalSigner`), encrypted in a database (decrypt, then wrap in
`LocalSigner`) or in a KMS (implement the protocol).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from credentials.errors import MisuseError
from credentials.keys import PrivateKey, algorithm_for_key, key_id_url, public_jwk

__all__ = ["LocalSigner", "Signer"]


@runtime_checkable
class Signer(Protocol):
    """Something that signs JWS signing inputs with one key.

    Attributes:
        kid: the absolute key id URL put in the JWS header
            (e.g. ``https://issuer.example/keys/<thumbprint>``).
        alg: the JWS algorithm, ``EdDSA``, ``ES256`` or ``RS256``.
        public_jwk: the public JWK (``kid`` = RFC 7638 thumbprint, ``alg``, ``use: "sig"``).
    """

    @property
    def kid(self) -> str: ...

    @property
    def alg(self) -> str: ...

    @property
    def public_jwk(self) -> dict[str, Any]: ...

    def sign(self, data: bytes) -> bytes:
        """Return the JWS signature of ``data`` (raw ``r||s`` for ES256)."""
        ...


class LocalSigner:
    """A `Signer` holding a private key in memory.

    Args:
        private_key: an Ed25519, P-256 or RSA (>= 2048 bits) private key.
        issuer_base: the issuer's base URL or ``did:web`` DID; the ``kid`` becomes
            `key_id_url(issuer_base, thumbprint)`.
        kid: an explicit absolute key id instead of ``issuer_base``.

    Exactly one of ``issuer_base`` and ``kid`` must be given.
    """

    __slots__ = ("_alg", "_jwk", "_key", "_kid")

    def __init__(
        self, private_key: PrivateKey, *, issuer_base: str | None = None, kid: str | None = None
    ) -> None:
        if (issuer_base is None) == (kid is None):
            raise MisuseError("give exactly one of issuer_base= and kid=")
        self._key = private_key
        self._alg = algorithm_for_key(private_key)
        self._jwk = public_jwk(private_key)
        if kid is None:
            assert issuer_base is not None
            kid = key_id_url(issuer_base, self._jwk["kid"])
        self._kid = kid

    @property
    def kid(self) -> str:
        """The absolute key id URL used in JWS headers."""
        return self._kid

    @property
    def alg(self) -> str:
        """The JWS algorithm of this key."""
        return self._alg

    @property
    def public_jwk(self) -> dict[str, Any]:
        """A copy of the public JWK (``kid`` is the RFC 7638 thumbprint)."""
        return dict(self._jwk)

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` and return the JWS signature bytes."""
        key = self._key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(data)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        raise MisuseError(f"unsupported key type {type(key).__name__}")  # pragma: no cover

    def __repr__(self) -> str:
        return f"LocalSigner(alg={self._alg!r}, kid={self._kid!r})"
