"""Compact JWS signing and strict parsing/verification (RFC 7515), as OB's VC-JWT uses it.

Only ``alg``, ``kid`` and ``typ`` (= ``JWT``) header parameters exist; the algorithms are
EdDSA (Ed25519), ES256 and RS256. Parsing is done here rather than through a JOSE library so
that every refusal is explicit and the hot path stays cheap: strict base64url, JSON without
duplicate members, and parsed public keys cached by their JWK members.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from credentials._encoding import (
    EncodingError,
    b64url_decode,
    b64url_encode,
    json_dumps_compact,
    json_loads_strict,
)
from credentials.errors import KeyFormatError, MisuseError, TokenError
from credentials.keys import (
    ALGORITHM_ALIASES,
    SUPPORTED_ALGORITHMS,
    PublicKey,
    public_key_from_jwk,
)
from credentials.signer import Signer

__all__ = [
    "DEFAULT_LEEWAY",
    "DEFAULT_MAX_TOKEN_BYTES",
    "ResolveKey",
    "ResolvedKey",
    "VerifiedJwt",
    "check_allowed_algorithms",
    "sign_jwt",
    "verify_jwt",
]

DEFAULT_MAX_TOKEN_BYTES = 64 * 1024
"""Tokens longer than this (in bytes) are refused before any parsing."""

DEFAULT_LEEWAY = timedelta(seconds=60)
"""Clock-skew tolerance applied to validity periods."""

_HEADER_PARAMS = frozenset({"alg", "kid", "typ"})
_VALIDATED_ALLOW_LISTS: set[frozenset[str]] = set()
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_SIG_LEN = {"EdDSA": 64, "ES256": 64}
_JWT_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti"})


@dataclass(frozen=True, slots=True)
class ResolvedKey:
    """A public key found for a ``kid``, with its lifecycle state.

    Attributes:
        jwk: the public JWK.
        compromised_at: if the key was compromised, from when: tokens whose ``iat`` (or, if
            absent, ``nbf``) is at or after this time fail the signature check. Pass the key's
            creation time to distrust every token it signed.
    """

    jwk: Mapping[str, Any]
    compromised_at: datetime | None = None


ResolveKey: TypeAlias = Callable[[str], ResolvedKey | Mapping[str, Any] | None]
"""``resolve_key(kid)`` -> the key (a `ResolvedKey` or a bare public JWK) or ``None``."""


class Invalid(Exception):
    """Internal: one stage of verification failed (``check`` names the stage)."""

    def __init__(self, check: str, reason: str) -> None:
        super().__init__(reason)
        self.check = check
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ParsedToken:
    """Internal: a syntactically valid compact JWS."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class VerifiedJwt:
    """A JWT whose signature and time claims were verified by `verify_jwt`.

    Attributes:
        header: the JOSE header (``alg``, ``kid``, ``typ``).
        claims: the payload.
    """

    header: dict[str, Any]
    claims: dict[str, Any]


def check_allowed_algorithms(allowed_algorithms: Iterable[str]) -> frozenset[str]:
    """Validate an algorithm allow-list and return it as a frozenset.

    Raises:
        MisuseError: the list is empty, a bare string, or names ``none``, an HMAC algorithm
            or an algorithm this library does not implement.
    """
    if isinstance(allowed_algorithms, str | bytes):
        raise MisuseError("allowed_algorithms must be a collection of names, not a string")
    try:
        algs = frozenset(allowed_algorithms)
    except TypeError:
        raise MisuseError("allowed_algorithms must be a collection of names") from None
    if algs in _VALIDATED_ALLOW_LISTS:  # verify() runs this on every call; keep it cheap
        return algs
    if not algs:
        raise MisuseError("allowed_algorithms must not be empty")
    for alg in algs:
        if not isinstance(alg, str) or alg.lower() == "none":
            raise MisuseError("'none' (unsecured JWTs) can never be allowed")
        if alg.upper().startswith("HS"):
            raise MisuseError(f"HMAC algorithm {alg!r} can never be allowed (key confusion)")
        if alg not in SUPPORTED_ALGORITHMS:
            raise MisuseError(f"unsupported algorithm {alg!r}; use {sorted(SUPPORTED_ALGORITHMS)}")
    _VALIDATED_ALLOW_LISTS.add(algs)  # at most 2**3 - 1 subsets of SUPPORTED_ALGORITHMS
    return algs


def sign_jwt(claims: Mapping[str, Any], signer: Signer) -> str:
    """Sign ``claims`` as a compact JWT with header exactly ``{alg, kid, typ: "JWT"}``.

    Use `sign_credential` for OB credentials (it lints and adds the VC-JWT claims); this is
    for other signed documents (status-list credentials, audit checkpoints).

    Raises:
        MisuseError: the signer's algorithm is unsupported, its kid is empty, or it returned
            a signature of the wrong size.
    """
    alg = signer.alg
    if alg not in SUPPORTED_ALGORITHMS:
        raise MisuseError(f"signer algorithm {alg!r} is not supported")
    kid = signer.kid
    if not isinstance(kid, str) or not kid:
        raise MisuseError("signer kid must be a non-empty string")
    header = b64url_encode(json_dumps_compact({"alg": alg, "kid": kid, "typ": "JWT"}))
    signing_input = f"{header}.{b64url_encode(json_dumps_compact(dict(claims)))}"
    signature = signer.sign(signing_input.encode())
    expected = _SIG_LEN.get(alg)
    if expected is not None and len(signature) != expected:
        raise MisuseError(f"{alg} signer returned {len(signature)} bytes, expected {expected}")
    return f"{signing_input}.{b64url_encode(signature)}"


def _segment(text: str, name: str, *, canonical: bool = False) -> bytes:
    try:
        return b64url_decode(text, canonical=canonical)
    except (EncodingError, UnicodeEncodeError):
        raise Invalid("format", f"{name} is not valid base64url") from None


def _json_object(raw: bytes, name: str) -> dict[str, Any]:
    try:
        value = json_loads_strict(raw)
    except EncodingError as exc:
        raise Invalid("format", f"{name} is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise Invalid("format", f"{name} is not a JSON object")
    return value


def _parse_header(segment: str) -> dict[str, Any]:
    header = _json_object(_segment(segment, "header"), "header")
    extra = header.keys() - _HEADER_PARAMS
    if extra:
        if "jwk" in extra and isinstance(header["jwk"], dict) and "d" in header["jwk"]:
            raise Invalid("format", "header 'jwk' carries a private key ('d'); refused")
        raise Invalid("format", f"header parameter(s) not allowed: {', '.join(sorted(extra))}")
    if not isinstance(header.get("alg"), str):
        raise Invalid("format", "header 'alg' missing or not a string")
    if "typ" in header and header["typ"] != "JWT":
        raise Invalid("format", f"header 'typ' must be 'JWT', got {header['typ']!r}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise Invalid("format", "header 'kid' missing or not a non-empty string")
    return header


# Pure function of the segment. An issuer uses a handful of distinct headers, so a verifier
# parses each once; only short segments are cached (bounded memory). Errors are not cached.
_parse_header_cached = functools.lru_cache(maxsize=256)(_parse_header)
_CACHED_HEADER_CHARS = 512


def parse_compact(token: object, max_token_bytes: int) -> ParsedToken:
    """Internal: parse a compact JWS strictly; raise `Invalid` ("format") on any problem."""
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            raise Invalid("format", "token is not ASCII") from None
    if not isinstance(token, str):
        raise Invalid("format", "token is not a string")
    if not token.isascii():
        raise Invalid("format", "token is not ASCII")
    if len(token) > max_token_bytes:
        raise Invalid("format", f"token is {len(token)} bytes, over the {max_token_bytes} cap")
    parts = token.split(".")
    if len(parts) != 3:
        raise Invalid("format", f"not a compact JWS (expected 3 parts, got {len(parts)})")
    head = parts[0]
    parse = _parse_header_cached if len(head) <= _CACHED_HEADER_CHARS else _parse_header
    header = dict(parse(head))  # a copy: callers get a dict they may keep
    payload = _json_object(_segment(parts[1], "payload"), "payload")
    signature = _segment(parts[2], "signature", canonical=True)
    signing_input = token[: len(parts[0]) + len(parts[1]) + 1].encode("ascii")
    return ParsedToken(header, payload, signing_input, signature)


_KEY_CACHE: dict[tuple[Any, ...], tuple[str, PublicKey]] = {}
_KEY_CACHE_MAX = 256
_KEY_FIELDS = ("kty", "crv", "x", "y", "n", "e", "alg", "use")


def load_public_key(jwk: Mapping[str, Any]) -> tuple[str, PublicKey]:
    """Internal: the algorithm family and public key of a JWK (``KeyFormatError`` if unusable)."""
    # Memoises a pure function of the JWK members, so it can never serve a stale key.
    if not isinstance(jwk, Mapping):
        raise KeyFormatError("resolved key is not a JWK object")
    if not _PRIVATE_MEMBERS.isdisjoint(jwk):
        raise KeyFormatError("JWK carries private members")
    cache_key = tuple(jwk.get(name) for name in _KEY_FIELDS)
    hit = _KEY_CACHE.get(cache_key)
    if hit is None:
        hit = public_key_from_jwk(jwk)
        if len(_KEY_CACHE) >= _KEY_CACHE_MAX:
            _KEY_CACHE.clear()
        _KEY_CACHE[cache_key] = hit
    return hit


def numeric_date(value: object) -> float | None:
    """Internal: a JWT NumericDate as a finite float, or None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:  # an integer beyond any float
        return None
    return seconds if math.isfinite(seconds) else None


def _token_time(payload: Mapping[str, Any]) -> float | None:
    for claim in ("iat", "nbf"):
        if claim in payload:
            return numeric_date(payload[claim])
    return None


def check_signature(
    parsed: ParsedToken, allowed: frozenset[str], resolve_key: ResolveKey
) -> tuple[str, str]:
    """Internal: verify the signature; return ``(alg, kid)`` or raise `Invalid` ("signature")."""
    alg: str = parsed.header["alg"]
    kid: str = parsed.header["kid"]
    if alg.lower() == "none":
        raise Invalid("signature", "unsecured token (alg 'none') refused")
    if alg.upper().startswith("HS"):
        raise Invalid("signature", f"HMAC algorithm {alg!r} refused (public-key confusion)")
    family = ALGORITHM_ALIASES.get(alg, alg)  # "Ed25519" (RFC 9864) is EdDSA on Ed25519 keys
    if family not in allowed:
        raise Invalid("signature", f"algorithm {alg!r} is not on the allow-list")
    resolved = resolve_key(kid)
    if resolved is None:
        raise Invalid("signature", f"unknown key id {kid!r}")
    if isinstance(resolved, ResolvedKey):
        jwk, compromised_at = resolved.jwk, resolved.compromised_at
    else:
        jwk, compromised_at = resolved, None
    try:
        key_alg, key = load_public_key(jwk)
    except KeyFormatError as exc:
        raise Invalid("signature", f"key {kid!r} is unusable: {exc}") from None
    if key_alg != family:
        raise Invalid(
            "signature",
            f"token algorithm {alg!r} does not match the key type of {kid!r} ({key_alg})",
        )
    if not _signature_valid(family, key, parsed.signature, parsed.signing_input):
        raise Invalid("signature", "signature does not match (token altered or wrong key)")
    if compromised_at is not None:
        when = _token_time(parsed.payload)
        if when is None or when >= compromised_at.timestamp():
            raise Invalid(
                "signature",
                f"key {kid!r} was compromised at {compromised_at.isoformat()}; "
                "this token was issued at or after that time (or carries no iat/nbf)",
            )
    return alg, kid


def _signature_valid(alg: str, key: PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        if alg == "EdDSA" and isinstance(key, ed25519.Ed25519PublicKey):
            if len(signature) != 64:
                return False
            key.verify(signature, data)
        elif alg == "ES256" and isinstance(key, ec.EllipticCurvePublicKey):
            if len(signature) != 64:
                return False
            der = encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            key.verify(der, data, ec.ECDSA(hashes.SHA256()))
        elif alg == "RS256" and isinstance(key, rsa.RSAPublicKey):
            if len(signature) != (key.key_size + 7) // 8:
                return False
            key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
        else:  # pragma: no cover - excluded by the alg/key-type check above
            return False
    except InvalidSignature:
        return False
    return True


def _numeric_date(payload: Mapping[str, Any], claim: str) -> float | None:
    value = payload.get(claim)
    if value is None:
        return None
    seconds = numeric_date(value)
    if seconds is None:
        raise Invalid("claims", f"'{claim}' must be a NumericDate (seconds)")
    return seconds


def verify_jwt(
    token: str | bytes,
    *,
    allowed_algorithms: Iterable[str],
    resolve_key: ResolveKey,
    now: datetime | None = None,
    leeway: timedelta = DEFAULT_LEEWAY,
    max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
) -> VerifiedJwt:
    """Verify a generic compact JWT (status-list credentials, audit checkpoints...).

    Applies the same header and signature rules as `verify`; when ``now`` is given, ``nbf``
    and ``exp`` (if present) are checked with ``leeway``.

    Raises:
        MisuseError: unsafe or empty ``allowed_algorithms``, or a naive ``now``.
        TokenError: the token is malformed, its signature does not verify, or it is outside
            its validity period; ``check`` and ``reason`` say which and why.
    """
    allowed = check_allowed_algorithms(allowed_algorithms)
    if now is not None and now.utcoffset() is None:
        raise MisuseError("now must be a timezone-aware datetime")
    try:
        parsed = parse_compact(token, max_token_bytes)
        check_signature(parsed, allowed, resolve_key)
        if now is not None:
            at = now.timestamp()
            nbf = _numeric_date(parsed.payload, "nbf")
            exp = _numeric_date(parsed.payload, "exp")
            if nbf is not None and at < nbf - leeway.total_seconds():
                raise Invalid("claims", f"not valid before {_iso(nbf)}")
            if exp is not None and at >= exp + leeway.total_seconds():
                raise Invalid("claims", f"expired at {_iso(exp)}")
    except Invalid as exc:
        raise TokenError(exc.check, exc.reason) from None
    return VerifiedJwt(parsed.header, parsed.payload)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def jwt_claim_names() -> frozenset[str]:
    """Internal: the registered JWT claim names stripped from a payload to get the credential."""
    return _JWT_CLAIMS
