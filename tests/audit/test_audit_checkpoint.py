"""GET /v1/audit/checkpoint: the chain head and a JWT of it signed with the issuer's key."""

from __future__ import annotations

from typing import Any

from credentials import GENESIS_HASH, verify_checkpoint
from tests.verification.conftest import Demo


def _resolver(client: Any) -> Any:
    keys = {k["kid"]: k for k in client.get("/.well-known/jwks.json").json()["keys"]}
    return keys.get  # the header kid as given


def test_the_checkpoint_states_the_head_and_is_signed(demo: Demo, make_key: Any) -> None:
    demo.earn("ana")
    auditor = {"Authorization": f"Bearer {make_key('audit:read', name='auditor')}"}
    response = demo.client.get("/v1/audit/checkpoint", headers=auditor)
    assert response.status_code == 200, response.text
    body = response.json()
    events = demo.client.get("/v1/audit/events?limit=500", headers=auditor).json()["items"]
    head = events[-1]
    assert (body["seq"], body["hash"]) == (head["seq"], head["hash"])
    assert body["at"].endswith("Z") and body["at"][:19] == head["at"][:19]
    signed = verify_checkpoint(
        body["jwt"],
        allowed_algorithms={"ES256", "EdDSA", "RS256"},
        resolve_key=_resolver(demo.client),
    )
    assert (signed.seq, signed.hash, signed.at) == (body["seq"], body["hash"], body["at"])
    assert signed.issuer == "https://credence.test"
    assert body["kid"].startswith("https://credence.test/keys/")
    again = demo.client.get("/v1/audit/checkpoint", headers=auditor).json()
    assert again["seq"] == body["seq"]  # reading a checkpoint appends nothing


def test_the_checkpoint_needs_the_audit_scope(demo: Demo, make_key: Any) -> None:
    assert demo.client.get("/v1/audit/checkpoint").status_code == 401
    other = {"Authorization": f"Bearer {make_key('credentials:read')}"}
    assert demo.client.get("/v1/audit/checkpoint", headers=other).status_code == 403


def test_a_checkpoint_is_not_a_credential(demo: Demo) -> None:
    demo.earn("ana")
    token = demo.client.get("/v1/audit/checkpoint", headers=demo.admin).json()["jwt"]
    body = demo.verify(token)
    assert body["verified"] is False


def test_an_empty_chain_has_a_genesis_checkpoint(client: Any, admin_headers: Any) -> None:
    body = client.get("/v1/audit/checkpoint", headers=admin_headers).json()
    # creating the admin key and the development signing key are already events
    assert body["seq"] >= 1 and body["hash"] != GENESIS_HASH
