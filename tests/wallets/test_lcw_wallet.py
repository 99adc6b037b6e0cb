"""The Learner Credential Wallet's ways in, against a live server, with a client that does what
LCW does with LCW's own libraries (tests/interop/lcw-wallet.mjs: @digitalcredentials/vc,
Ed25519Signature2020, a fresh did:key; verifier-core to check what it receives): the request
link (`https://lcw.app/request.html?...&vc_request_url=...`) that every LCW version follows, and
the VC-API exchange with DIDAuth. The credential names the wallet's DID and verifies; a
replayed, re-challenged or unsigned presentation gets nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.interop.node import run_node
from tests.interop.test_jose_npm import _earn
from tests.robustness.live import LiveServer, free_port, prepare, start

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp: Path = tmp_path_factory.mktemp("lcw")
    env, key = prepare(f"sqlite:///{tmp / 'credence.db'}", tmp)
    port = free_port()
    live = start(env | {"CREDENCE_BASE_URL": f"http://127.0.0.1:{port}"}, key, tmp, port=port)
    try:
        yield live
    finally:
        live.stop()


def _offer(server: LiveServer, learner: str) -> tuple[str, dict[str, Any]]:
    credential_id, _ = _earn(server, learner)
    answer = httpx.post(
        f"{server.url}/v1/credentials/{credential_id}/offers",
        headers={"Authorization": f"Bearer {server.key}"},
    )
    assert answer.status_code == 201, answer.text
    offer: dict[str, Any] = answer.json()
    return credential_id, offer


def _lcw(link: str, **options: Any) -> dict[str, Any]:
    result: dict[str, Any] = run_node("lcw-wallet.mjs", {"link": link, **options})
    return result


def test_the_lcw_request_link_delivers_the_credential_bound_to_the_wallet(
    server: LiveServer,
) -> None:
    credential_id, offer = _offer(server, "lcw-1")
    assert offer["lcw_link"].startswith("https://lcw.app/request.html?issuer=")
    assert "auth_type=bearer" in offer["lcw_link"]
    got = _lcw(offer["lcw_link"])
    assert got["flow"] == "legacy" and got["status"] == 200, got
    assert got["presentation"]["proof"]["type"] == "Ed25519Signature2020"
    [credential] = got["credentials"]
    assert credential["id"] == credential_id
    assert credential["credentialSubject"]["id"] == got["did"]
    assert got["did"].startswith("did:key:z6Mk")
    assert got["lcwWouldStore"] is True
    verdict = httpx.post(f"{server.url}/v1/verify", json={"credential": credential}).json()
    assert verdict["verified"] is True, verdict
    # LCW's own verifier (verifier-core): signature, status list and expiry hold; the issuer is
    # in no DCC registry (LCW downloads those; offline here), which LCW shows but accepts
    [checked] = got["verification"]
    log = {entry["id"]: entry["valid"] for entry in checked["log"]}
    assert log == {
        "valid_signature": True,
        "revocation_status": True,
        "expiration": True,
        "registered_issuer": False,
    }, checked
    listed = httpx.get(
        f"{server.url}/v1/credentials/{credential_id}/offers",
        headers={"Authorization": f"Bearer {server.key}"},
    ).json()["items"]
    assert [(o["status"], o["delivered_to"]) for o in listed] == [("delivered", got["did"])]


def test_the_vc_api_exchange_asks_for_didauth_then_delivers(server: LiveServer) -> None:
    _, offer = _offer(server, "lcw-2")
    request = {"credentialRequestOrigin": server.url, "protocols": {"vcapi": offer["exchange_url"]}}
    link = "https://lcw.app/request?request=" + quote(json.dumps(request))
    got = _lcw(link)
    assert got["flow"] == "vcapi" and got["status"] == 200, got
    asked = got["initial"]["response"]["verifiablePresentationRequest"]
    assert asked["query"][0]["type"] == "DIDAuthentication"
    assert asked["domain"] == server.url and asked["challenge"]
    [credential] = got["credentials"]
    assert credential["credentialSubject"]["id"] == got["did"]
    assert httpx.post(f"{server.url}/v1/verify", json={"credential": credential}).json()["verified"]


@pytest.mark.parametrize(
    ("mode", "status"), [("tamper-challenge", 400), ("unsigned", 400), ("wrong-domain", 400)]
)
def test_a_presentation_that_does_not_authenticate_gets_nothing(
    server: LiveServer, mode: str, status: int
) -> None:
    _, offer = _offer(server, f"lcw-{mode}")
    if mode == "wrong-domain":  # only the VC-API exchange asks for a domain
        request = {
            "credentialRequestOrigin": server.url,
            "protocols": {"vcapi": offer["exchange_url"]},
        }
        got = _lcw("https://lcw.app/request?request=" + quote(json.dumps(request)), mode=mode)
    else:
        got = _lcw(offer["lcw_link"], mode=mode)
    assert got["status"] == status, got
    assert got["response"]["type"].endswith("/presentation-refused"), got
    assert got["credentials"] == []
    again = _lcw(offer["lcw_link"])  # the offer is still open for the real wallet
    assert again["status"] == 200


def test_a_replayed_presentation_gets_nothing_more(server: LiveServer) -> None:
    _, offer = _offer(server, "lcw-replay")
    got = _lcw(offer["lcw_link"], mode="replay")
    assert got["status"] == 200 and len(got["credentials"]) == 1
    assert got["replay"]["status"] == 410, got["replay"]
    assert got["replay"]["response"]["type"].endswith("/exchange-closed")
