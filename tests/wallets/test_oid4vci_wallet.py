"""OID4VCI 1.0 issuance as a real wallet does it: the OpenWallet Foundation's wallet-side
library (@openid4vc/openid4vci, pinned in tests/interop/package.json) against a live server,
offer → metadata → token → nonce → key proof → credential; the credential it receives names the
wallet's DID and verifies with the independent verifiers (npm jose against the JWKS, Digital
Bazaar's vc for the Data Integrity form) and Credence's own; replayed, expired, withdrawn,
wrong-nonce, wrong-audience and wrong-key attempts are each refused with the protocol's code,
and nothing is issued twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.interop.node import pinned_contexts, run_node
from tests.interop.test_jose_npm import _earn
from tests.robustness.live import LiveServer, free_port, prepare, start

pytestmark = pytest.mark.slow


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    from tests.conftest import fresh_database

    tmp: Path = tmp_path_factory.mktemp("wallet")
    with fresh_database(request.param, tmp) as url:
        env, key = prepare(url, tmp)
        port = free_port()
        env |= {"CREDENCE_BASE_URL": f"http://127.0.0.1:{port}"}
        live = start(env, key, tmp, port=port)
        try:
            yield live
        finally:
            live.stop()


def _offer(server: LiveServer, credential_id: str, **body: Any) -> dict[str, Any]:
    answer = httpx.post(
        f"{server.url}/v1/credentials/{credential_id}/offers",
        json=body,
        headers={"Authorization": f"Bearer {server.key}"},
    )
    assert answer.status_code == 201, answer.text
    offer: dict[str, Any] = answer.json()
    return offer


def _wallet(offer: dict[str, Any], **options: Any) -> dict[str, Any]:
    result: dict[str, Any] = run_node(
        "oid4vci-wallet.mjs", {"offer": offer["offer_uri"], **options}
    )
    return result


def _verify(server: LiveServer, credential: str | dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"{server.url}/v1/verify", json={"credential": credential})
    assert answer.status_code == 200, answer.text
    verdict: dict[str, Any] = answer.json()
    return verdict


def _offers(server: LiveServer, credential_id: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{server.url}/v1/credentials/{credential_id}/offers",
        headers={"Authorization": f"Bearer {server.key}"},
    )
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def test_a_wallet_receives_the_jwt_credential_bound_to_its_did(server: LiveServer) -> None:
    credential_id, original = _earn(server, "wallet-jwt")
    offer = _offer(server, credential_id)
    assert offer["offer_uri"].startswith("openid-credential-offer://?credential_offer=")
    assert offer["qr_png"].startswith("data:image/png;base64,")
    assert offer["status"] == "open" and offer["tx_code"] is None

    got = _wallet(offer)
    assert "error" not in got, got
    assert got["draftVersion"] == "V1" and got["format"] == "jwt_vc_json"
    assert got["configurationId"] == "social-media/foundations:jwt_vc_json"
    assert got["proof"]["header"]["typ"] == "openid4vci-proof+jwt"
    [jwt] = got["credentials"]
    claims = json.loads(__import__("base64").urlsafe_b64decode(jwt.split(".")[1] + "=="))
    assert claims["sub"] == got["did"] and got["did"].startswith("did:jwk:")
    assert claims["credentialSubject"]["id"] == got["did"]
    assert claims["jti"] == credential_id  # the same award: id, status, validity
    original_claims = json.loads(
        __import__("base64").urlsafe_b64decode(original.split(".")[1] + "==")
    )
    assert claims["credentialStatus"] == original_claims["credentialStatus"]
    assert claims["validUntil"] == original_claims["validUntil"]

    verdict = _verify(server, jwt)
    assert verdict["verified"] is True, verdict
    independent = run_node(
        "verify-jose.mjs",
        {"jwt": jwt, "jwksUri": f"{server.url}/.well-known/jwks.json", "issuer": server.url},
    )
    assert independent["jwks"]["verified"] is True, independent

    [listed] = _offers(server, credential_id)
    assert listed["status"] == "delivered" and listed["delivered_to"] == got["did"]
    assert listed["delivered_format"] == "jwt_vc_json"
    events = httpx.get(
        f"{server.url}/v1/audit/events",
        params={"limit": 500},
        headers={"Authorization": f"Bearer {server.key}"},
    ).json()["items"]
    actions = [e["action"] for e in events if e["subject"] == f"credential:{credential_id}"]
    assert "credential.offered" in actions and "credential.delivered" in actions


def test_a_wallet_receives_the_data_integrity_form(server: LiveServer) -> None:
    credential_id, _ = _earn(server, "wallet-di")
    got = _wallet(
        _offer(server, credential_id),
        configurationId="social-media/foundations:ldp_vc",
        alg="EdDSA",
    )
    assert "error" not in got, got
    [document] = got["credentials"]
    assert document["credentialSubject"]["id"] == got["did"]
    proofs = document["proof"] if isinstance(document["proof"], list) else [document["proof"]]
    assert [p["cryptosuite"] for p in proofs] == ["eddsa-rdfc-2022"]
    assert _verify(server, document)["verified"] is True
    independent = run_node(
        "verify-di.mjs",
        {
            "credential": document,
            "contexts": pinned_contexts(),
            "fetch": True,
            "jwksUri": f"{server.url}/.well-known/jwks.json",
        },
    )
    assert independent == {"verified": True, "error": ""}


def test_a_used_offer_is_refused_and_nothing_is_issued_twice(server: LiveServer) -> None:
    credential_id, _ = _earn(server, "wallet-replay")
    got = _wallet(_offer(server, credential_id), mode="replay")
    assert "error" not in got, got
    assert got["replay"]["error"] == "invalid_grant", got["replay"]
    assert [o["status"] for o in _offers(server, credential_id)] == ["delivered"]


@pytest.mark.parametrize(
    ("mode", "code"),
    [
        ("wrong-nonce", "invalid_nonce"),
        ("wrong-audience", "invalid_proof"),
        ("wrong-key", "invalid_proof"),
        ("no-proof", "invalid_proof"),
    ],
)
def test_bad_key_proofs_are_refused_with_their_codes(
    server: LiveServer, mode: str, code: str
) -> None:
    credential_id, _ = _earn(server, f"wallet-{mode}")
    got = _wallet(_offer(server, credential_id), mode=mode)
    assert (got.get("stage"), got.get("error")) == ("credential", code), got
    assert [o["status"] for o in _offers(server, credential_id)] == ["redeemed"]  # not delivered


def test_a_transaction_code_is_required_when_asked_for(server: LiveServer) -> None:
    credential_id, _ = _earn(server, "wallet-tx")
    offer = _offer(server, credential_id, tx_code=True)
    assert offer["tx_code"] and offer["tx_code"].isdigit() and len(offer["tx_code"]) == 6
    missing = _wallet(offer, mode="no-tx-code")
    assert (missing["stage"], missing["error"]) == ("token", "invalid_request"), missing
    wrong = _wallet(offer, txCode="000000" if offer["tx_code"] != "000000" else "111111")
    assert (wrong["stage"], wrong["error"]) == ("token", "invalid_grant"), wrong
    right = _wallet(offer, txCode=offer["tx_code"])
    assert "error" not in right, right


def test_a_withdrawn_or_expired_offer_is_refused(server: LiveServer) -> None:
    credential_id, _ = _earn(server, "wallet-withdrawn")
    offer = _offer(server, credential_id)
    deleted = httpx.delete(
        f"{server.url}/v1/offers/{offer['id']}", headers={"Authorization": f"Bearer {server.key}"}
    )
    assert deleted.status_code == 204
    got = _wallet(offer)
    assert (got["stage"], got["error"]) == ("token", "invalid_grant"), got

    later = _offer(server, credential_id)
    engine = create_engine(server.env["CREDENCE_DATABASE_URL"])
    with engine.begin() as connection:  # the offer's week has passed
        connection.execute(
            text("UPDATE credential_offer SET expires_at = created_at WHERE id = :id"),
            {"id": later["id"]},
        )
    engine.dispose()
    got = _wallet(later)
    assert (got["stage"], got["error"]) == ("token", "invalid_grant"), got
    assert "expired" in got["description"]


def test_a_revoked_credential_is_not_offered(server: LiveServer) -> None:
    credential_id, _ = _earn(server, "wallet-revoked")
    headers = {"Authorization": f"Bearer {server.key}"}
    httpx.post(f"{server.url}/v1/credentials/{credential_id}/revoke", headers=headers)
    refused = httpx.post(f"{server.url}/v1/credentials/{credential_id}/offers", headers=headers)
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/credential-not-offerable")
