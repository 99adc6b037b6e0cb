"""One offer, many wallets at once, on a live server (PostgreSQL, READ COMMITTED): of many
simultaneous token requests with the same pre-authorized code exactly one gets a token, and of
many simultaneous credential requests with that token (each with a valid key proof of its own)
exactly one gets the credential; the offer names that one wallet."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from credentials.holder import did_jwk
from credentials.keys import public_jwk
from tests.interop.test_jose_npm import _earn
from tests.robustness.live import free_port, prepare, start

pytestmark = [pytest.mark.slow]
CLIENTS = 12


def _code(offer_uri: str) -> str:
    offer = json.loads(parse_qs(urlsplit(offer_uri).query)["credential_offer"][0])
    code: str = offer["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"][
        "pre-authorized_code"
    ]
    return code


def _proof(base: str, nonce: str) -> tuple[str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = {k: v for k, v in public_jwk(key.public_key()).items() if k in ("kty", "crv", "x", "y")}
    did = did_jwk(jwk)
    token = pyjwt.encode(
        {"aud": base, "iat": int(time.time()), "nonce": nonce},
        key,
        algorithm="ES256",
        headers={"typ": "openid4vci-proof+jwt", "kid": did + "#0"},
    )
    return did, token


def test_one_offer_delivers_once_under_concurrent_wallets(live_db: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env, key = prepare(live_db, tmp_path)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start(env | {"CREDENCE_BASE_URL": base}, key, tmp_path, port=port, workers=2)
    try:
        credential_id, _ = _earn(server, "race-wallet")
        headers = {"Authorization": f"Bearer {key}"}
        offer = httpx.post(f"{base}/v1/credentials/{credential_id}/offers", headers=headers).json()
        code = _code(offer["offer_uri"])
        form = {
            "grant_type": "urn:ietf:params:oauth:grant-type:pre-authorized_code",
            "pre-authorized_code": code,
        }

        async def tokens() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                return await asyncio.gather(
                    *(client.post("/oid4vci/token", data=form) for _ in range(CLIENTS))
                )

        answers = asyncio.run(tokens())
        won = [a for a in answers if a.status_code == 200]
        assert len(won) == 1, [a.text for a in answers]
        assert {a.json()["error"] for a in answers if a.status_code != 200} == {"invalid_grant"}
        access = won[0].json()["access_token"]

        nonce = httpx.post(f"{base}/oid4vci/nonce").json()["c_nonce"]
        proofs = [_proof(base, nonce) for _ in range(CLIENTS)]
        body: dict[str, Any] = {
            "credential_configuration_id": "social-media/foundations:jwt_vc_json"
        }

        async def credentials() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                return await asyncio.gather(
                    *(
                        client.post(
                            "/oid4vci/credential",
                            json=body | {"proofs": {"jwt": [proof]}},
                            headers={"Authorization": f"Bearer {access}"},
                        )
                        for _, proof in proofs
                    )
                )

        delivered = asyncio.run(credentials())
        ok = [i for i, a in enumerate(delivered) if a.status_code == 200]
        assert len(ok) == 1, [a.text for a in delivered]
        assert {a.status_code for a in delivered} == {200, 401}
        winner = proofs[ok[0]][0]
        [listed] = httpx.get(
            f"{base}/v1/credentials/{credential_id}/offers", headers=headers
        ).json()["items"]
        assert listed["status"] == "delivered" and listed["delivered_to"] == winner
        events = httpx.get(f"{base}/v1/audit/events", params={"limit": 500}, headers=headers).json()
        deliveries = [e for e in events["items"] if e["action"] == "credential.delivered"]
        assert [e["data"]["to"] for e in deliveries] == [winner]
    finally:
        server.stop()
