"""Every operation the OpenAPI document marks with ``x-required-scope`` refuses a missing key
(401), a revoked key (401) and a key without the scope (403), and writes nothing doing so."""

from __future__ import annotations

import json
import re

from sqlalchemy import text

from service.auth.keys import SCOPES
from service.models import metadata
from tests.conftest import REPO

DOCUMENT = json.loads((REPO / "openapi" / "openapi.json").read_text())
OPERATIONS = [
    (method.upper(), path, op["x-required-scope"])
    for path, item in DOCUMENT["paths"].items()
    for method, op in item.items()
    if isinstance(op, dict) and "x-required-scope" in op
]


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "probe-1", path)


def _snapshot(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return {
            t.name: connection.execute(text(f'SELECT count(*) FROM "{t.name}"')).scalar_one()
            for t in metadata.sorted_tables
        }


def test_the_document_marks_the_protected_operations() -> None:
    assert len(OPERATIONS) >= 30
    paths = {path for _, path, _ in OPERATIONS}
    assert {"/v1/api-clients", "/v1/catalog", "/v1/completions"} <= paths


def test_no_key_revoked_key_and_wrong_scope_are_refused_without_side_effects(  # type: ignore[no-untyped-def]
    client, admin_headers, database
) -> None:
    created = client.post(
        "/v1/api-clients", json={"name": "doomed", "scopes": ["admin"]}, headers=admin_headers
    ).json()
    client.delete(f"/v1/api-clients/{created['prefix']}", headers=admin_headers)
    revoked = {"Authorization": f"Bearer {created['key']}"}
    keys_by_scope = {}
    for scope in SCOPES:
        if scope != "admin":
            key = client.post(
                "/v1/api-clients", json={"name": scope, "scopes": [scope]}, headers=admin_headers
            ).json()["key"]
            keys_by_scope[scope] = {"Authorization": f"Bearer {key}"}
    before = _snapshot(database.engine)
    failures = []
    for method, path, scope in OPERATIONS:
        url = _url(path)
        other = next(s for s in keys_by_scope if s != scope)
        for label, headers, expected in (
            ("no key", {}, 401),
            ("revoked key", revoked, 401),
            (f"key with only {other}", keys_by_scope[other], 403),
        ):
            response = client.request(method, url, headers=headers, json={})
            ok = (
                response.status_code == expected
                and response.headers["content-type"] == "application/problem+json"
            )
            if not ok:
                failures.append(f"{method} {path} with {label}: {response.status_code}")
    assert failures == []
    assert _snapshot(database.engine) == before


PUBLIC = {
    ("POST", "/v1/verify"),
    ("GET", "/v1/status-lists/{list_id}"),
}


def test_every_v1_operation_is_protected_unless_deliberately_public() -> None:
    unprotected = [
        (method.upper(), path)
        for path, item in DOCUMENT["paths"].items()
        for method, op in item.items()
        if path.startswith("/v1/") and "x-required-scope" not in op
    ]
    assert set(unprotected) <= PUBLIC, unprotected
