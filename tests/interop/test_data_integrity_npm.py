"""Strangers accept our Data Integrity proofs: Digital Bazaar's @digitalbazaar/vc with the
eddsa-rdfc-2022 cryptosuite (what the DCC verifier and wallets use) verifies them, and our
canonical form is byte-for-byte rdf-canonize's, control characters included."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from credentials import IssuerProfile, LocalSigner, generate_signing_key
from credentials.data_integrity import (
    canonicalize,
    multikey_from_public_key,
    sign_data_integrity,
)
from tests.credentials.conftest import make_credential
from tests.interop.node import pinned_contexts, run_node

DID = "did:web:issuer.example"
METHOD = f"{DID}#key-1"


def _issued() -> tuple[dict[str, Any], dict[str, Any]]:
    """A credential signed by a did:web issuer, and the issuer's DID document."""
    key = generate_signing_key("EdDSA")
    now = datetime.now(UTC).replace(microsecond=0)
    doc = make_credential(
        issuer=IssuerProfile(id=DID, name="Acme Social"),
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=365),
        revocation_index=None,
    )
    secured = sign_data_integrity(
        doc, LocalSigner(key, kid=METHOD), verification_method=METHOD, created=now
    )
    controller = {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": DID,
        "verificationMethod": [
            {
                "id": METHOD,
                "type": "Multikey",
                "controller": DID,
                "publicKeyMultibase": multikey_from_public_key(key.public_key()),
            }
        ],
        "assertionMethod": [METHOD],
    }
    return secured, controller


def _verify(credential: dict[str, Any], controller: dict[str, Any]) -> dict[str, Any]:
    payload = {
        "credential": credential,
        "documents": {DID: controller},
        "contexts": pinned_contexts(),
    }
    result: dict[str, Any] = run_node("verify-di.mjs", payload)
    return result


def test_digital_bazaar_vc_verifies_our_proof() -> None:
    credential, controller = _issued()
    result = _verify(credential, controller)
    assert result == {"verified": True, "error": ""}


def test_digital_bazaar_vc_refuses_a_changed_credential() -> None:
    credential, controller = _issued()
    credential["credentialSubject"]["achievement"]["name"] = "Black belt"
    result = _verify(credential, controller)
    assert result["verified"] is False
    assert "Invalid signature" in result["error"] or "verif" in result["error"].lower()


def test_our_canonical_form_is_rdf_canonize_s() -> None:
    """Every control character, quotes, backslashes and random Unicode text (no surrogates)."""
    rng = random.Random(20261204)
    texts = [f"x{chr(n)}y" for n in [*range(0x20), 0x7F]] + ['q"\\', "é ✓ 😀", ""]
    alphabet = [chr(n) for n in [*range(0x20), *range(0x20, 0x80), 0xE9, 0x2713, 0x1F600]]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(60)]
    documents = []
    for text in texts:
        doc = make_credential()
        doc["name"] = text
        doc["credentialSubject"]["achievement"]["criteria"]["narrative"] = text[::-1] or "x"
        documents.append(doc)
    theirs = run_node("canonize.mjs", {"documents": documents, "contexts": pinned_contexts()})
    for doc, expected in zip(documents, theirs, strict=True):
        assert canonicalize(doc) == expected, repr(doc["name"])
