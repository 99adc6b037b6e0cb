"""A did:web issuer's VC-JWTs verify with did-jwt (npm; the JOSE layer of Veramo and
did-jwt-vc), which reads keys typed JsonWebKey2020 or Multikey, not JsonWebKey."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from credentials import (
    IssuerProfile,
    LocalSigner,
    did_web_document,
    generate_signing_key,
    sign_credential,
)
from tests.credentials.conftest import make_credential
from tests.interop.node import run_node

DID = "did:web:issuer.example"


def _verify(alg: str, *, publish: bool = True) -> dict[str, Any]:
    signer = LocalSigner(generate_signing_key(alg), issuer_base=DID)  # type: ignore[arg-type]
    now = datetime.now(UTC).replace(microsecond=0)
    credential = make_credential(
        issuer=IssuerProfile(id=DID, name="Acme Social"),
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=365),
    )
    published = signer if publish else LocalSigner(generate_signing_key(alg), issuer_base=DID)  # type: ignore[arg-type]
    document = did_web_document(DID, [published.public_jwk])
    result: dict[str, Any] = run_node(
        "verify-jwt-did.mjs", {"jwt": sign_credential(credential, signer), "didDocument": document}
    )
    return {**result, "header_kid": signer.kid}


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_did_jwt_verifies_with_the_key_the_header_names(alg: str) -> None:
    result = _verify(alg)
    assert result["verified"] is True, result["error"]
    assert result["kid"] == result["header_kid"]


def test_did_jwt_refuses_a_key_the_issuer_did_not_publish() -> None:
    result = _verify("ES256", publish=False)
    assert result["verified"] is False
    assert "signature" in result["error"].lower() or "no matching" in result["error"].lower()
