"""Digital Bazaar's @digitalbazaar/vc (eddsa-rdfc-2022, the stack of the DCC verifier and
wallets) verifies the Data Integrity form a live Credence serves, dereferencing the proof's key
and the issuer's controller document from the server itself: with a URL issuer and with a
did:web issuer, on a fresh server with default settings (ES256 VC-JWTs beside Ed25519 proofs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.interop.node import pinned_contexts, run_node
from tests.interop.test_jose_npm import _earn
from tests.robustness.live import LiveServer, free_port, prepare, start


@pytest.fixture(scope="module", params=["url", "did:web"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    tmp: Path = tmp_path_factory.mktemp("di")
    env, key = prepare(f"sqlite:///{tmp / 'credence.db'}", tmp)
    port = free_port()
    if request.param == "did:web":
        env |= {"CREDENCE_ISSUER_ID": f"did:web:127.0.0.1%3A{port}"}
    live = start(env | {"CREDENCE_BASE_URL": f"http://127.0.0.1:{port}"}, key, tmp, port=port)
    try:
        yield live
    finally:
        live.stop()


def _served(server: LiveServer, learner: str) -> dict[str, Any]:
    credential_id, _ = _earn(server, learner)
    response = httpx.get(
        f"{server.url}/v1/credentials/{credential_id}",
        headers={"Authorization": f"Bearer {server.key}", "Accept": "application/vc"},
    )
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def _verify(server: LiveServer, credential: dict[str, Any]) -> dict[str, Any]:
    payload = {
        "credential": credential,
        "contexts": pinned_contexts(),
        "fetch": True,
        "jwksUri": f"{server.url}/.well-known/jwks.json",
    }
    result: dict[str, Any] = run_node("verify-di.mjs", payload)
    return result


def test_digital_bazaar_verifies_what_the_server_serves(server: LiveServer) -> None:
    document = _served(server, "di-1")
    assert _verify(server, document) == {"verified": True, "error": ""}


def test_digital_bazaar_refuses_it_altered(server: LiveServer) -> None:
    document = _served(server, "di-2")
    document["credentialSubject"]["achievement"]["name"] = "Black Belt"
    result = _verify(server, document)
    assert result["verified"] is False
    assert result["error"]


def test_digital_bazaar_sees_a_revocation_in_the_live_list(server: LiveServer) -> None:
    document = _served(server, "di-3")
    credential_id = document["id"]
    revoked = httpx.post(
        f"{server.url}/v1/credentials/{credential_id}/revoke",
        json={"reason": "left the company"},
        headers={"Authorization": f"Bearer {server.key}"},
    )
    assert revoked.status_code == 200, revoked.text
    result = _verify(server, document)
    assert result["verified"] is False
    assert "revocation" in result["error"]


def test_digital_bazaars_status_checker_reads_the_data_integrity_list(server: LiveServer) -> None:
    """@digitalbazaar/vc-bitstring-status-list (what the DCC verifier runs) fetches the list in
    its Data Integrity form, verifies its proof and issuer, and reads the bit."""
    document = _served(server, "di-4")

    def verify() -> dict[str, Any]:
        payload = {
            "credential": document,
            "contexts": pinned_contexts(),
            "fetch": True,
            "bitstringStatus": True,
        }
        result: dict[str, Any] = run_node("verify-di.mjs", payload)
        return result

    assert verify() == {"verified": True, "error": ""}
    revoked = httpx.post(
        f"{server.url}/v1/credentials/{document['id']}/revoke",
        json={"reason": "left the company"},
        headers={"Authorization": f"Bearer {server.key}"},
    )
    assert revoked.status_code == 200, revoked.text
    assert verify()["verified"] is False


def test_did_jwt_verifies_the_served_vc_jwt_of_a_did_web_issuer(server: LiveServer) -> None:
    """The VC-JWT of the same live server, checked by did-jwt with the DID document the server
    publishes (the URL issuer's JWT is covered by npm jose in test_jose_npm.py)."""
    if "CREDENCE_ISSUER_ID" not in server.env:
        pytest.skip("a URL issuer has no DID document: npm jose covers its VC-JWT")
    _, jwt = _earn(server, "di-5")
    did_document = httpx.get(f"{server.url}/.well-known/did.json").json()
    assert did_document["id"] == server.env["CREDENCE_ISSUER_ID"]
    result = run_node("verify-jwt-did.mjs", {"jwt": jwt, "didDocument": did_document})
    assert result["verified"] is True, result["error"]


def test_a_recipient_identifier_and_badge_image_pass_safe_mode_and_verify(
    server: LiveServer,
) -> None:
    """A learner with an email: the credential carries the salted-hash IdentityObject and the
    Achievement's Image; JSON-LD safe mode defines both and the proof still verifies."""
    put = httpx.put(
        f"{server.url}/v1/learners/di-6",
        json={"name": "Dana", "email": "dana@example.com"},
        headers={"Authorization": f"Bearer {server.key}"},
    )
    assert put.status_code in (200, 201), put.text
    document = _served(server, "di-6")
    subject = document["credentialSubject"]
    assert subject["identifier"][0]["type"] == "IdentityObject"
    assert subject["achievement"]["image"]["type"] == "Image"
    assert _verify(server, document) == {"verified": True, "error": ""}
