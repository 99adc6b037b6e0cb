"""A wallet's proof of possession of its key, and the DIDs that name such keys without any
network: ``did:jwk`` and ``did:key`` (Ed25519 and P-256). Used to bind a credential to the
wallet that asked for it (OID4VCI key proofs ``openid4vci-proof+jwt``; VC-API DIDAuth
presentations signed as JWTs).

Nothing is fetched: a DID method that needs the network (``did:web``) is refused here, and a
caller that wants it must resolve it itself, under its own outbound rules.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from credentials._encoding import b64url_decode, b64url_encode, base58btc_decode
from credentials.errors import CredentialsError, KeyFormatError
from credentials.jws import (
    Invalid,
    ParsedToken,
    _json_object,
    _segment,
    check_allowed_algorithms,
    check_signature,
    numeric_date,
)
from credentials.keys import public_jwk
from credentials.multikey import public_key_from_multikey

__all__ = ["HolderProofError", "KeyProof", "did_jwk", "holder_jwk", "verify_key_proof"]

_P256_MULTICODEC = b"\x80\x24"  # varint of 0x1200, p256-pub (compressed point follows)
_ED25519_MULTICODEC = b"\xed\x01"
_PUBLIC_MEMBERS = ("crv", "kty", "x", "y", "n", "e")


class HolderProofError(CredentialsError):
    """A key proof that binds nothing. ``code`` is ``invalid_proof`` or ``invalid_nonce`` (the
    OID4VCI error codes); ``reason`` says what was wrong."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def did_jwk(jwk: Mapping[str, Any]) -> str:
    """The ``did:jwk`` DID of a public JWK (its public members, keys sorted)."""
    members = {k: jwk[k] for k in sorted(jwk) if k in _PUBLIC_MEMBERS}
    encoded = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return "did:jwk:" + b64url_encode(encoded)


def holder_jwk(did_url: str) -> dict[str, Any]:
    """The public JWK a ``did:jwk`` or ``did:key`` DID (URL) names; `KeyFormatError` for any
    other method or a malformed one."""
    did = did_url.split("#", 1)[0]
    if did.startswith("did:jwk:"):
        try:
            jwk = json.loads(b64url_decode(did[len("did:jwk:") :]))
        except (ValueError, UnicodeDecodeError) as exc:
            raise KeyFormatError(f"did:jwk does not hold a JSON key: {exc}") from None
        if not isinstance(jwk, dict) or "d" in jwk:
            raise KeyFormatError("did:jwk must hold one public JWK")
        return jwk
    if did.startswith("did:key:z"):
        value = did[len("did:key:") :]
        try:
            raw = base58btc_decode(value[1:])
        except ValueError as exc:
            raise KeyFormatError(f"did:key: {exc}") from None
        if raw[:2] == _ED25519_MULTICODEC:
            return public_jwk(public_key_from_multikey(value))
        if raw[:2] == _P256_MULTICODEC and len(raw) == 35:
            try:
                key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw[2:])
            except ValueError as exc:
                raise KeyFormatError(f"did:key P-256 point: {exc}") from None
            return public_jwk(key)
        raise KeyFormatError("did:key holds neither an Ed25519 nor a P-256 key")
    method = ":".join(did.split(":")[:2])
    raise KeyFormatError(f"{method or did!r} keys are not resolved (did:jwk, did:key only)")


_PROOF_HEADER = frozenset({"alg", "typ", "kid", "jwk"})


def _parse_proof(token: object, max_token_bytes: int) -> ParsedToken:
    """A compact JWS whose header holds only ``alg``, ``typ``, ``kid``, ``jwk`` (no ``crit``,
    no certificate chains, nothing that asks the verifier to fetch)."""
    if not isinstance(token, str) or not token.isascii():
        raise Invalid("format", "the proof is not an ASCII string")
    if len(token) > max_token_bytes:
        raise Invalid("format", f"the proof is over {max_token_bytes} bytes")
    parts = token.split(".")
    if len(parts) != 3:
        raise Invalid("format", "not a compact JWS")
    header = _json_object(_segment(parts[0], "header"), "header")
    extra = header.keys() - _PROOF_HEADER
    if extra:
        raise Invalid("format", f"header parameter(s) not allowed: {', '.join(sorted(extra))}")
    if not isinstance(header.get("alg"), str):
        raise Invalid("format", "header 'alg' missing or not a string")
    payload = _json_object(_segment(parts[1], "payload"), "payload")
    signature = _segment(parts[2], "signature", canonical=True)
    signing_input = token[: len(parts[0]) + len(parts[1]) + 1].encode("ascii")
    return ParsedToken(header, payload, signing_input, signature)


@dataclass(frozen=True, slots=True)
class KeyProof:
    """A verified proof: the holder's DID (``did:jwk`` for a bare ``jwk`` header), its key and
    the proof's claims."""

    holder: str
    jwk: Mapping[str, Any]
    claims: Mapping[str, Any]


def verify_key_proof(
    token: object,
    *,
    typ: str,
    audience: str,
    now: datetime,
    allowed_algorithms: Iterable[str],
    check_nonce: Callable[[str], bool],
    max_age_seconds: float = 300,
    leeway_seconds: float = 60,
    max_token_bytes: int = 16_384,
) -> KeyProof:
    """Verify a holder's key proof JWT: header ``typ`` as given, an allowed asymmetric ``alg``,
    the key in ``kid`` (a ``did:jwk`` / ``did:key`` DID URL) or ``jwk`` (never both); payload
    ``aud`` = ``audience``, ``iat`` within ``max_age_seconds`` (``leeway_seconds`` of clock
    skew ahead), ``nonce`` accepted by ``check_nonce``; and the signature by that key.

    Raises:
        HolderProofError: ``invalid_nonce`` for a missing, unknown or stale nonce, else
            ``invalid_proof``.
    """
    allowed = check_allowed_algorithms(allowed_algorithms)
    try:
        parsed = _parse_proof(token, max_token_bytes)
    except Invalid as exc:
        raise HolderProofError("invalid_proof", exc.reason) from None
    header, claims = parsed.header, parsed.payload
    if header.get("typ") != typ:
        raise HolderProofError("invalid_proof", f"typ must be {typ!r}, got {header.get('typ')!r}")
    kid, jwk = header.get("kid"), header.get("jwk")
    if (kid is None) == (jwk is None):
        raise HolderProofError("invalid_proof", "the header names its key by kid or jwk, once")
    try:
        if jwk is not None:
            if not isinstance(jwk, dict) or "d" in jwk:
                raise KeyFormatError("jwk must be one public JWK")
            key, holder = jwk, did_jwk(jwk)
            kid = holder + "#0"
            header = header | {"kid": kid}
        else:
            if not isinstance(kid, str) or "#" not in kid:
                raise KeyFormatError("kid must be a DID URL with a fragment")
            key, holder = holder_jwk(kid), kid.split("#", 1)[0]
    except KeyFormatError as exc:
        raise HolderProofError("invalid_proof", str(exc)) from None
    if claims.get("aud") != audience:
        raise HolderProofError(
            "invalid_proof", f"aud must be {audience!r}, got {claims.get('aud')!r}"
        )
    issued = numeric_date(claims.get("iat"))
    if issued is None:
        raise HolderProofError("invalid_proof", "iat is missing or not a number")
    age = now.timestamp() - issued
    if age > max_age_seconds or age < -leeway_seconds:
        raise HolderProofError("invalid_proof", f"iat is {age:.0f} s from now: not fresh")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not check_nonce(nonce):
        raise HolderProofError("invalid_nonce", "the nonce is missing, unknown or expired")
    signed = ParsedToken(header, claims, parsed.signing_input, parsed.signature)
    try:
        check_signature(signed, allowed, lambda _: key)
    except Invalid as exc:
        raise HolderProofError("invalid_proof", exc.reason) from None
    return KeyProof(holder=holder, jwk=key, claims=claims)
