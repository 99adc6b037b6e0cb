"""npm `jose` verifies a served credential with nothing but the issuer's jwks_uri and the token:
createRemoteJWKSet matches the header kid as given, and that kid URL serves exactly one JWK."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.interop.node import run_node
from tests.robustness.live import LiveServer, prepare, start


@pytest.fixture(scope="module", params=["ES256", "EdDSA", "RS256"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A fresh development server signing with each algorithm offered (ES256: the default)."""
    tmp: Path = tmp_path_factory.mktemp("jose")
    env, key = prepare(f"sqlite:///{tmp / 'credence.db'}", tmp)
    live = start(env | {"CREDENCE_SIGNING_ALGORITHM": request.param}, key, tmp)
    try:
        yield live
    finally:
        live.stop()


def _earn(server: LiveServer, learner: str) -> tuple[str, str]:
    headers = {"Authorization": f"Bearer {server.key}"}
    at = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    issued: list[dict[str, Any]] = []
    for course, score in (("policy-101", 90), ("brand-voice-101", None)):
        body: dict[str, Any] = {"learner_id": learner, "course_id": course, "completed_at": at}
        if score is not None:
            body["score"] = score
        response = httpx.post(f"{server.url}/v1/completions", json=body, headers=headers)
        assert response.status_code == 201, response.text
        issued += response.json()["issued"]
    (credential,) = issued
    jwt = httpx.get(
        f"{server.url}/v1/credentials/{credential['id']}",
        headers={**headers, "Accept": "application/vc+jwt"},
    ).text
    return credential["id"], jwt


def test_jose_verifies_with_the_jwks_uri_and_with_the_kid_url(server: LiveServer) -> None:
    credential_id, jwt = _earn(server, "jose-1")
    header = json.loads(base64.urlsafe_b64decode(jwt.split(".")[0] + "=="))
    assert header["alg"] == server.env["CREDENCE_SIGNING_ALGORITHM"]
    result = run_node(
        "verify-jose.mjs",
        {"jwt": jwt, "jwksUri": f"{server.url}/.well-known/jwks.json", "issuer": server.url},
    )
    assert result["jwks"] == {"verified": True, "error": "", "jti": credential_id}
    by_kid = result["kidUrl"]
    assert by_kid["verified"] is True, by_kid["error"]
    assert by_kid["contentType"].startswith("application/jwk+json")


def test_jose_refuses_a_token_of_another_issuer(server: LiveServer) -> None:
    _, jwt = _earn(server, "jose-2")
    result = run_node(
        "verify-jose.mjs",
        {
            "jwt": jwt,
            "jwksUri": f"{server.url}/.well-known/jwks.json",
            "issuer": "https://someone-else.example",
        },
    )
    assert result["jwks"]["verified"] is False
    assert "iss" in result["jwks"]["error"]
