"""Key generation, public JWKs (RFC 7517/7638), JWKS documents and key-id URLs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeAlias
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from credentials._encoding import EncodingError, b64url_decode, b64url_encode
from credentials.errors import KeyFormatError, MisuseError
from credentials.multikey import public_key_from_multikey

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "Algorithm",
    "PrivateKey",
    "PublicKey",
    "algorithm_for_key",
    "generate_signing_key",
    "jwk_thumbprint",
    "jwks_document",
    "key_id_url",
    "public_jwk",
    "public_key_from_jwk",
    "thumbprint_of_kid",
]

Algorithm: TypeAlias = Literal["EdDSA", "ES256", "RS256"]
"""The JWS algorithms Credence signs and verifies with."""

SUPPORTED_ALGORITHMS: frozenset[str] = frozenset({"EdDSA", "ES256", "RS256"})

#: Fully-specified names (RFC 9864) that verification accepts for a supported algorithm:
#: ``Ed25519`` is EdDSA restricted to Ed25519 keys, the only EdDSA curve supported here.
ALGORITHM_ALIASES: dict[str, str] = {"Ed25519": "EdDSA"}

PrivateKey: TypeAlias = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
"""A private signing key of one of the supported types."""

PublicKey: TypeAlias = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
"""A public verification key of one of the supported types."""

MIN_RSA_BITS = 2048

# RFC 7638 §3.2: the required members of each key type, in lexicographic order.
_THUMBPRINT_MEMBERS: dict[str, tuple[str, ...]] = {
    "OKP": ("crv", "kty", "x"),
    "EC": ("crv", "kty", "x", "y"),
    "RSA": ("e", "kty", "n"),
}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def generate_signing_key(alg: Algorithm = "EdDSA", *, rsa_bits: int = 3072) -> PrivateKey:
    """Generate a new private key for ``alg``.

    Args:
        alg: ``"EdDSA"`` (Ed25519, the default), ``"ES256"`` (P-256) or ``"RS256"``.
        rsa_bits: modulus size for RS256 keys; at least 2048.

    Raises:
        MisuseError: unknown algorithm or an RSA size below 2048 bits.
    """
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "RS256":
        if rsa_bits < MIN_RSA_BITS:
            raise MisuseError(f"RSA keys must have at least {MIN_RSA_BITS} bits")
        return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    raise MisuseError(f"unsupported algorithm {alg!r}; use one of {sorted(SUPPORTED_ALGORITHMS)}")


def algorithm_for_key(key: PrivateKey | PublicKey) -> Algorithm:
    """Return the JWS algorithm a key signs with (one algorithm per key type).

    Raises:
        KeyFormatError: the key type, curve or size is not supported.
    """
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise KeyFormatError(f"unsupported EC curve {key.curve.name}; only P-256 (ES256)")
        return "ES256"
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise KeyFormatError(f"RSA key of {key.key_size} bits; at least {MIN_RSA_BITS}")
        return "RS256"
    raise KeyFormatError(f"unsupported key type {type(key).__name__}")


def _uint_b64(value: int, length: int | None = None) -> str:
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url_encode(value.to_bytes(size, "big"))


def _raw_public_jwk(key: PublicKey) -> dict[str, str]:
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
    if isinstance(key, ec.EllipticCurvePublicKey):
        nums = key.public_numbers()
        return {"kty": "EC", "crv": "P-256", "x": _uint_b64(nums.x, 32), "y": _uint_b64(nums.y, 32)}
    nums_rsa = key.public_numbers()
    return {"kty": "RSA", "n": _uint_b64(nums_rsa.n), "e": _uint_b64(nums_rsa.e)}


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """Compute the RFC 7638 SHA-256 JWK thumbprint, base64url-encoded.

    Raises:
        KeyFormatError: unknown ``kty`` or a required member is missing / not a string.
    """
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None:
        raise KeyFormatError(f"unsupported kty {jwk.get('kty')!r}")
    required: dict[str, str] = {}
    for name in members:
        value = jwk.get(name)
        if not isinstance(value, str):
            raise KeyFormatError(f"JWK member {name!r} missing or not a string")
        required[name] = value
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True).encode()
    return b64url_encode(hashlib.sha256(canonical).digest())


def public_jwk(key: PrivateKey | PublicKey) -> dict[str, str]:
    """Return the public JWK of a key with ``kid`` (RFC 7638 thumbprint), ``alg`` and ``use``.

    Private keys are accepted; only their public half is exported.
    """
    alg = algorithm_for_key(key)
    pub: PublicKey = (
        key.public_key()
        if isinstance(
            key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
        )
        else key
    )
    jwk = _raw_public_jwk(pub)
    jwk["kid"] = jwk_thumbprint(jwk)
    jwk["alg"] = alg
    jwk["use"] = "sig"
    return jwk


def jwks_document(jwks: Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Wrap public JWKs into a JWKS document ``{"keys": [...]}``.

    Raises:
        MisuseError: a JWK carries private members (``d``, ``p``, ``k``...) or has no ``kid``.
    """
    keys: list[dict[str, Any]] = []
    for jwk in jwks:
        private = _PRIVATE_MEMBERS.intersection(jwk)
        if private:
            raise MisuseError(f"refusing to publish private JWK members {sorted(private)}")
        if not isinstance(jwk.get("kid"), str):
            raise MisuseError("every published JWK needs a 'kid'")
        keys.append(dict(jwk))
    return {"keys": keys}


#: Where a URL issuer serves each public key as one JWK (``application/jwk+json``).
KEY_PATH = "/keys/"
#: The kid form of credentials issued before keys had their own URL (still resolved).
LEGACY_KEY_FRAGMENT = "/.well-known/jwks.json#"


def key_id_url(issuer_base: str, thumbprint: str) -> str:
    """Build the absolute ``kid`` for a key from the issuer's base URL or ``did:web`` DID.

    ``https://issuer.example`` -> ``https://issuer.example/keys/<thumbprint>``, a URL that
    serves exactly that public JWK; ``did:web:issuer.example`` ->
    ``did:web:issuer.example#<thumbprint>``, a verification method of the DID document. The
    same string is the key's ``kid`` in the issuer's JWKS, so a JOSE library matching header
    ``kid`` against ``jwks_uri`` finds it as given.

    Raises:
        MisuseError: the base is neither an absolute http(s) URL nor a ``did:web`` DID, or it
            already carries a fragment/query.
    """
    if not thumbprint or "#" in thumbprint or "/" in thumbprint:
        raise MisuseError("thumbprint must be a non-empty string without '#' or '/'")
    if issuer_base.startswith("did:"):
        if not issuer_base.startswith("did:web:") or "#" in issuer_base:
            raise MisuseError(f"not a did:web DID without fragment: {issuer_base!r}")
        return f"{issuer_base}#{thumbprint}"
    parts = urlsplit(issuer_base)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise MisuseError(f"issuer base must be an absolute http(s) URL: {issuer_base!r}")
    return f"{issuer_base.rstrip('/')}{KEY_PATH}{thumbprint}"


def thumbprint_of_kid(issuer_base: str, kid: str) -> str | None:
    """The thumbprint a header ``kid`` or proof ``verificationMethod`` of this issuer names
    (the current form, the ``/.well-known/jwks.json#<thumbprint>`` form of earlier
    credentials, or a did:web Ed25519 key's ``#<publicKeyMultibase>``), else None."""
    if issuer_base.startswith("did:"):
        prefixes: tuple[str, ...] = (f"{issuer_base}#",)
    else:
        base = issuer_base.rstrip("/")
        prefixes = (f"{base}{KEY_PATH}", f"{base}{LEGACY_KEY_FRAGMENT}")
    for prefix in prefixes:
        if kid.startswith(prefix):
            rest = kid[len(prefix) :]
            if len(rest) == MULTIKEY_ED25519_LENGTH and rest.startswith("z6Mk"):
                return _thumbprint_of_multikey(rest)
            return rest if rest and "/" not in rest and "#" not in rest else None
    return None


MULTIKEY_ED25519_LENGTH = 48  # "z" + base58btc of the 2-byte multicodec and 32 key bytes


def _thumbprint_of_multikey(value: str) -> str | None:
    """The thumbprint of the Ed25519 key a did:web ``#<publicKeyMultibase>`` method names (the
    form Data Integrity proofs use), None when it is no such key."""
    try:
        return jwk_thumbprint(public_jwk(public_key_from_multikey(value)))
    except KeyFormatError:
        return None


def _member_bytes(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str) or not value:
        raise KeyFormatError(f"JWK member {name!r} missing or not a string")
    try:
        return b64url_decode(value, canonical=True)
    except (EncodingError, UnicodeEncodeError) as exc:
        raise KeyFormatError(f"JWK member {name!r} is not valid base64url") from exc


def public_key_from_jwk(jwk: Mapping[str, Any]) -> tuple[Algorithm, PublicKey]:
    """Load a public JWK strictly and return ``(algorithm, key)``.

    The algorithm follows from the key type (OKP/Ed25519 -> EdDSA, EC/P-256 -> ES256,
    RSA >= 2048 bits -> RS256); if the JWK states ``alg`` it must agree, and ``use`` if present
    must be ``sig``.

    Raises:
        KeyFormatError: private members, symmetric keys, unsupported types or malformed values.
    """
    private = _PRIVATE_MEMBERS.intersection(jwk)
    if private:
        raise KeyFormatError(f"JWK carries private members {sorted(private)}")
    kty = jwk.get("kty")
    key: PublicKey
    alg: Algorithm
    if kty == "OKP":
        if jwk.get("crv") != "Ed25519":
            raise KeyFormatError(f"unsupported OKP curve {jwk.get('crv')!r}")
        x = _member_bytes(jwk, "x")
        if len(x) != 32:
            raise KeyFormatError("Ed25519 'x' must be 32 bytes")
        key, alg = ed25519.Ed25519PublicKey.from_public_bytes(x), "EdDSA"
    elif kty == "EC":
        if jwk.get("crv") != "P-256":
            raise KeyFormatError(f"unsupported EC curve {jwk.get('crv')!r}")
        x, y = _member_bytes(jwk, "x"), _member_bytes(jwk, "y")
        if len(x) != 32 or len(y) != 32:
            raise KeyFormatError("P-256 'x' and 'y' must be 32 bytes each")
        try:
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)
        except ValueError as exc:
            raise KeyFormatError("EC point is not on P-256") from exc
        alg = "ES256"
    elif kty == "RSA":
        n = int.from_bytes(_member_bytes(jwk, "n"), "big")
        e = int.from_bytes(_member_bytes(jwk, "e"), "big")
        if n.bit_length() < MIN_RSA_BITS:
            raise KeyFormatError(f"RSA modulus of {n.bit_length()} bits; at least {MIN_RSA_BITS}")
        try:
            key = rsa.RSAPublicNumbers(e, n).public_key()
        except ValueError as exc:
            raise KeyFormatError(f"invalid RSA key: {exc}") from exc
        alg = "RS256"
    else:
        raise KeyFormatError(f"unsupported key type {kty!r}")
    stated = jwk.get("alg")
    if stated is not None and ALGORITHM_ALIASES.get(stated, stated) != alg:
        raise KeyFormatError(f"JWK alg {stated!r} does not match its {kty} key ({alg})")
    use = jwk.get("use")
    if use is not None and use != "sig":
        raise KeyFormatError(f"JWK use {use!r} is not 'sig'")
    return alg, key
