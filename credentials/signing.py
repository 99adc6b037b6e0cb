"""Sign OB 3.0 credentials as VC-JWTs (OB 3.0 "JSON Web Token Proof Format")."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from credentials._encoding import parse_datetime
from credentials.errors import MisuseError
from credentials.jws import sign_jwt
from credentials.lint import lint_credential
from credentials.signer import Signer

__all__ = ["sign_credential", "vc_jwt_claims"]


def _seconds(text: str) -> int:
    return math.floor(parse_datetime(text).timestamp())


def vc_jwt_claims(doc: Mapping[str, Any], *, now: datetime | None = None) -> dict[str, Any]:
    """Return the JWT payload for a credential: the credential plus the VC-JWT claims.

    ``iss`` = issuer id, ``jti`` = credential id, ``sub`` = ``credentialSubject.id`` (when it
    has one), ``nbf`` = ``validFrom``, ``exp`` = ``validUntil`` (when set), and ``iat`` = ``now``
    when given. The document must already be well-formed (see `lint_credential`).
    """
    issuer = doc["issuer"]
    claims: dict[str, Any] = dict(doc)
    claims["iss"] = issuer if isinstance(issuer, str) else issuer["id"]
    claims["jti"] = doc["id"]
    subject = doc["credentialSubject"]
    if isinstance(subject, Mapping) and "id" in subject:
        claims["sub"] = subject["id"]
    claims["nbf"] = _seconds(doc["validFrom"])
    if "validUntil" in doc:
        claims["exp"] = _seconds(doc["validUntil"])
    if now is not None:
        if now.utcoffset() is None:
            raise MisuseError("now must be a timezone-aware datetime")
        claims["iat"] = math.floor(now.timestamp())
    return claims


def _check_kid(kid: str) -> None:
    if kid.startswith("did:"):
        if "#" not in kid:
            raise MisuseError(f"a DID key id needs a fragment: {kid!r}")
        return
    parts = urlsplit(kid)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise MisuseError(f"the signer kid must be an absolute URL or DID URL, got {kid!r}")


def sign_credential(doc: Mapping[str, Any], signer: Signer, *, now: datetime | None = None) -> str:
    """Lint a credential, then sign it as an OB 3.0 VC-JWT.

    The header is exactly ``{alg, kid, typ: "JWT"}``; the payload is the credential plus
    ``iss``, ``jti``, ``sub``, ``nbf``, ``exp`` (when ``validUntil`` is set) and ``iat`` (when
    ``now`` is given).

    Args:
        doc: the credential, e.g. from `build_credential`.
        signer: the key to sign with; its ``kid`` must be an absolute URL or DID URL.
        now: the signing time, written as ``iat``.

    Returns:
        The compact JWT.

    Raises:
        LintError: the document is not a valid OB 3.0 credential (nothing is signed).
        MisuseError: the signer's kid is not absolute, or ``now`` is naive.
    """
    lint_credential(doc)
    _check_kid(signer.kid)
    for claim in ("iss", "jti", "sub", "nbf", "exp", "iat", "aud"):
        if claim in doc:
            raise MisuseError(f"the credential already has a JWT claim {claim!r}")
    return sign_jwt(vc_jwt_claims(doc, now=now), signer)
