"""Every door applies the one API-key rule (``service.auth.service.admit``): the same key gets
the same answer, status and ``detail``, whether it calls a REST route, the permission check (GET
and POST), AuthZEN or xAPI. Only xAPI words its missing-key message and challenge for LRS
clients (HTTP Basic)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pytest

from service.auth.service import INVALID_KEY, NO_KEY
from service.xapi.auth import NO_KEY as XAPI_NO_KEY
from tests.xapi.conftest import statement

BEARER_CHALLENGE = 'Bearer realm="credence"'
XAPI_CHALLENGE = 'Basic realm="credence-xapi", Bearer realm="credence"'


@dataclass(frozen=True)
class Door:
    name: str
    method: str
    path: str
    scope: str
    json: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    no_key: str = NO_KEY
    challenge: str = BEARER_CHALLENGE


CHECK = {"learner_id": "ana", "program": "post-on-brand-accounts"}
DOORS = [
    Door("rest", "GET", "/v1/audit/events", "audit:read"),
    Door(
        "check-get",
        "GET",
        "/v1/permissions/check?learner_id=ana&program=post-on-brand-accounts",
        "permissions:check",
    ),
    Door("check-post", "POST", "/v1/permissions/check", "permissions:check", {"checks": [CHECK]}),
    Door(
        "authzen",
        "POST",
        "/access/v1/evaluation",
        "permissions:check",
        {
            "subject": {"type": "user", "id": "ana"},
            "action": {"name": "run"},
            "resource": {"type": "program", "id": "post-on-brand-accounts"},
        },
    ),
    Door(
        "xapi",
        "POST",
        "/xapi/statements",
        "completions:write",
        statement(account="ana"),
        (("X-Experience-API-Version", "1.0.3"),),
        XAPI_NO_KEY,
        XAPI_CHALLENGE,
    ),
]


def call(client, door: Door, authorization: str | None):  # type: ignore[no-untyped-def]
    headers = dict(door.headers)
    if authorization is not None:
        headers["Authorization"] = authorization
    return client.request(door.method, door.path, json=door.json, headers=headers)


def refused(response, status: int, detail: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["detail"] == detail
    return body


@pytest.fixture
def keys(client, make_key, admin_headers) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """One key of each kind the rule tells apart."""
    revoked = make_key("admin", name="revoked")
    prefix = revoked.split("_")[1]
    assert client.delete(f"/v1/api-clients/{prefix}", headers=admin_headers).status_code == 200
    real = make_key("catalog:read", name="lacking")
    return {
        "malformed": "not-a-key",
        "unknown": "cred_0000000000_" + "x" * 43,
        "forged": real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB"),
        "revoked": revoked,
        "lacking": real,
        "admin": make_key("admin", name="root"),
    }


@pytest.mark.parametrize("door", DOORS, ids=lambda d: d.name)
def test_every_door_answers_every_key_alike(client, keys, door: Door) -> None:  # type: ignore[no-untyped-def]
    for authorization in (None, "Bearer", "Bearer  ", "Token abc"):
        response = call(client, door, authorization)
        refused(response, 401, door.no_key)
        assert response.headers["www-authenticate"] == door.challenge
    for kind in ("malformed", "unknown", "forged", "revoked"):
        response = call(client, door, f"Bearer {keys[kind]}")
        assert response.status_code == 401, kind
        refused(response, 401, INVALID_KEY)
        assert response.headers["www-authenticate"] == door.challenge
    lacking = call(client, door, f"Bearer {keys['lacking']}")
    body = refused(lacking, 403, f"This API key lacks the '{door.scope}' scope.")
    assert body["required_scope"] == door.scope
    assert "www-authenticate" not in lacking.headers
    admitted = call(client, door, f"Bearer {keys['admin']}")
    assert admitted.status_code not in (401, 403), admitted.text


def test_xapi_basic_goes_through_the_same_rule(client, keys) -> None:  # type: ignore[no-untyped-def]
    door = DOORS[-1]

    def basic(key: str) -> str:
        _, prefix, secret = key.split("_", 2)
        return "Basic " + base64.b64encode(f"{prefix}:{secret}".encode()).decode()

    for kind in ("forged", "revoked"):
        response = call(client, door, basic(keys[kind]))
        refused(response, 401, INVALID_KEY)
        assert response.headers["www-authenticate"] == XAPI_CHALLENGE
    body = refused(call(client, door, basic(keys["lacking"])), 403, door_lacks(door))
    assert body["required_scope"] == door.scope
    assert call(client, door, basic(keys["admin"])).status_code == 200


def door_lacks(door: Door) -> str:
    return f"This API key lacks the '{door.scope}' scope."


@pytest.mark.parametrize("door", DOORS[1:4], ids=lambda d: d.name)
def test_a_malformed_check_is_refused_for_the_key_first(client, keys, door: Door) -> None:  # type: ignore[no-untyped-def]
    """401 and 403 come before the 422/400 that a malformed request would get."""
    broken = Door(door.name, door.method, door.path.split("?")[0], door.scope, {"checks": 7})
    refused(call(client, broken, None), 401, NO_KEY)
    refused(call(client, broken, f"Bearer {keys['revoked']}"), 401, INVALID_KEY)
    refused(call(client, broken, f"Bearer {keys['lacking']}"), 403, door_lacks(door))
    assert call(client, broken, f"Bearer {keys['admin']}").status_code in (400, 422)
