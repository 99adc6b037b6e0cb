"""Holder key proofs, offline: did:jwk, did:key (Ed25519, P-256) and a bare jwk header name the
wallet's key; PyJWT signs the proofs (an independent JOSE library); each wrong part is refused
with the OID4VCI code that says what was wrong."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from credentials._encoding import b64url_encode, base58btc_encode
from credentials.holder import HolderProofError, did_jwk, holder_jwk, verify_key_proof
from credentials.keys import public_jwk

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
AUD = "https://credence.example"
TYP = "openid4vci-proof+jwt"


def _did_key(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> str:
    public = key.public_key()
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = b"\xed\x01" + public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    else:
        raw = b"\x80\x24" + public.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    return "did:key:z" + base58btc_encode(raw)


def _proof(key: Any, header: dict[str, Any], **claims: Any) -> str:
    alg = "EdDSA" if isinstance(key, ed25519.Ed25519PrivateKey) else "ES256"
    payload = {"aud": AUD, "iat": int(NOW.timestamp()), "nonce": "n-1"} | claims
    return pyjwt.encode(payload, key, algorithm=alg, headers={"typ": TYP} | header)


def _verify(token: str, **options: Any) -> Any:
    return verify_key_proof(
        token,
        typ=TYP,
        audience=AUD,
        now=NOW,
        allowed_algorithms=("ES256", "EdDSA"),
        check_nonce=lambda n: n == "n-1",
        **options,
    )


@pytest.mark.parametrize("kind", ["p256", "ed25519"])
def test_did_key_did_jwk_and_jwk_headers_name_the_holder(kind: str) -> None:
    key = (
        ec.generate_private_key(ec.SECP256R1())
        if kind == "p256"
        else ed25519.Ed25519PrivateKey.generate()
    )
    jwk = {k: v for k, v in public_jwk(key.public_key()).items() if k in ("kty", "crv", "x", "y")}
    by_did_key = _did_key(key)
    assert holder_jwk(by_did_key)["x"] == jwk["x"]
    assert _verify(_proof(key, {"kid": by_did_key + "#" + by_did_key[8:]})).holder == by_did_key
    by_did_jwk = did_jwk(jwk)
    assert _verify(_proof(key, {"kid": by_did_jwk + "#0"})).holder == by_did_jwk
    assert _verify(_proof(key, {"jwk": jwk})).holder == by_did_jwk  # a bare key is a did:jwk


def test_every_wrong_part_is_refused_with_its_code() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    other = ec.generate_private_key(ec.SECP256R1())
    kid = _did_key(key) + "#0"
    cases = {
        "wrong audience": (_proof(key, {"kid": kid}, aud="https://elsewhere"), "invalid_proof"),
        "wrong nonce": (_proof(key, {"kid": kid}, nonce="n-2"), "invalid_nonce"),
        "no nonce": (_proof(key, {"kid": kid}, nonce=None), "invalid_nonce"),
        "stale": (
            _proof(key, {"kid": kid}, iat=int((NOW - timedelta(hours=1)).timestamp())),
            "invalid_proof",
        ),
        "from the future": (
            _proof(key, {"kid": kid}, iat=int((NOW + timedelta(hours=1)).timestamp())),
            "invalid_proof",
        ),
        "another key signed": (_proof(other, {"kid": kid}), "invalid_proof"),
        "did:web is not fetched": (
            _proof(key, {"kid": "did:web:wallet.example#k"}),
            "invalid_proof",
        ),
        "kid without fragment": (_proof(key, {"kid": _did_key(key)}), "invalid_proof"),
        "both kid and jwk": (
            _proof(key, {"kid": kid, "jwk": public_jwk(key.public_key())}),
            "invalid_proof",
        ),
        "a certificate chain": (
            _proof(key, {"kid": kid, "x5u": "https://x.example/c"}),
            "invalid_proof",
        ),
        "wrong typ": (
            pyjwt.encode(
                {"aud": AUD, "iat": int(NOW.timestamp()), "nonce": "n-1"},
                key,
                algorithm="ES256",
                headers={"kid": kid, "typ": "JWT"},
            ),
            "invalid_proof",
        ),
        "HMAC": (
            pyjwt.encode(
                {"aud": AUD, "iat": int(NOW.timestamp()), "nonce": "n-1"},
                "k" * 32,
                algorithm="HS256",
                headers={"kid": kid, "typ": TYP},
            ),
            "invalid_proof",
        ),
        "not a JWS": ("a.b", "invalid_proof"),
    }
    for name, (token, code) in cases.items():
        with pytest.raises(HolderProofError) as raised:
            _verify(token)
        assert raised.value.code == code, name


def test_a_private_key_in_the_did_or_header_is_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    private = json.loads(pyjwt.algorithms.ECAlgorithm.to_jwk(key))
    leaked = "did:jwk:" + b64url_encode(json.dumps(private).encode())
    with pytest.raises(HolderProofError, match="public JWK"):
        _verify(_proof(key, {"kid": leaked + "#0"}))
    with pytest.raises(HolderProofError):
        _verify(_proof(key, {"jwk": private}))
