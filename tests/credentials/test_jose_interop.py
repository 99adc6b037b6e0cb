"""Cross-check with an independent JOSE implementation (joserfc), in both directions."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet, import_key

from credentials import (
    generate_signing_key,
    jwks_document,
    key_id_url,
    public_jwk,
    sign_credential,
    vc_jwt_claims,
    verify,
)

from .conftest import ALL_ALGS, ISSUER_BASE, NOW, make_credential, signer_for


@pytest.fixture(autouse=True)
def _quiet_eddsa_deprecation() -> Iterator[None]:
    # joserfc warns that "EdDSA" is superseded by "Ed25519" (RFC 9864); OB names EdDSA.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def published(signer: Any) -> KeySet:
    """The issuer's JWKS as Credence serves it: each key under the kid its tokens carry, so
    joserfc picks the key by the header kid as given (no fragment or URL handling)."""
    return KeySet.import_key_set(jwks_document([{**signer.public_jwk, "kid": signer.kid}]))  # type: ignore[arg-type]


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_joserfc_verifies_our_tokens_with_our_jwks(alg: str) -> None:
    signer = signer_for(alg)
    doc = make_credential()
    token = sign_credential(doc, signer, now=NOW)
    decoded = jwt.decode(token, published(signer), algorithms=[alg])
    assert decoded.header == {"alg": alg, "kid": signer.kid, "typ": "JWT"}
    assert decoded.claims["jti"] == doc["id"]
    assert decoded.claims["credentialSubject"] == doc["credentialSubject"]


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_joserfc_rejects_our_tokens_when_tampered(alg: str) -> None:
    signer = signer_for(alg)
    token = sign_credential(make_credential(), signer)
    head, payload, sig = token.split(".")
    tampered = f"{head}.{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{sig}"
    with pytest.raises(BadSignatureError):
        jwt.decode(tampered, published(signer), algorithms=[alg])


@pytest.mark.parametrize("alg", ALL_ALGS)
def test_we_verify_tokens_joserfc_signs(alg: str) -> None:
    private = generate_signing_key(alg, rsa_bits=2048)  # type: ignore[arg-type]
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    their_key = import_key(pem, {"EdDSA": "OKP", "ES256": "EC", "RS256": "RSA"}[alg])
    jwk = public_jwk(private)
    kid = key_id_url(ISSUER_BASE, jwk["kid"])
    doc = make_credential()
    claims = vc_jwt_claims(doc, now=NOW)
    token = jwt.encode({"alg": alg, "kid": kid, "typ": "JWT"}, claims, their_key, algorithms=[alg])
    result = verify(
        token,
        allowed_algorithms=[alg],
        resolve_key={kid: jwk}.get,
        now=NOW,
    )
    assert result.verified, result.checks
    assert result.credential == doc


def test_our_jwk_thumbprint_matches_joserfc() -> None:
    for alg in ALL_ALGS:
        jwk = signer_for(alg).public_jwk
        assert import_key(jwk).thumbprint() == jwk["kid"]  # type: ignore[arg-type]
