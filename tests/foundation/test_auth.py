"""API keys: 401 without a valid key, 403 without the scope, secrets stored only as hashes."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import text

PROTECTED = "/v1/audit/events"


def test_missing_key_is_401_with_challenge(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get(PROTECTED)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["type"].endswith("/unauthorized")


def test_unknown_and_malformed_keys_are_401(client, make_key) -> None:  # type: ignore[no-untyped-def]
    real = make_key("audit:read")
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    for key in (forged, "cred_0000000000_" + "x" * 43, "not-a-key", ""):
        response = client.get(PROTECTED, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 401, key
    response = client.get(PROTECTED, headers={"Authorization": f"Basic {real}"})
    assert response.status_code == 401


def test_wrong_scope_is_403_right_scope_is_200(client, make_key) -> None:  # type: ignore[no-untyped-def]
    wrong = make_key("catalog:read")
    right = make_key("audit:read")
    admin = make_key("admin")
    denied = client.get(PROTECTED, headers={"Authorization": f"Bearer {wrong}"})
    assert denied.status_code == 403
    assert denied.headers["content-type"] == "application/problem+json"
    assert denied.json()["required_scope"] == "audit:read"
    assert client.get(PROTECTED, headers={"Authorization": f"Bearer {right}"}).status_code == 200
    assert client.get(PROTECTED, headers={"Authorization": f"Bearer {admin}"}).status_code == 200


def test_created_key_works_is_stored_hashed_and_revocation_is_immediate(  # type: ignore[no-untyped-def]
    client, admin_headers, database
) -> None:
    created = client.post(
        "/v1/api-clients", json={"name": "lms", "scopes": ["audit:read"]}, headers=admin_headers
    )
    assert created.status_code == 201
    body = created.json()
    key, prefix = body["key"], body["prefix"]
    assert key.startswith(f"cred_{prefix}_")
    with database.engine.connect() as connection:
        stored = connection.execute(text("SELECT * FROM api_client")).mappings().all()
    assert all(key not in str(dict(row).values()) for row in stored)

    headers = {"Authorization": f"Bearer {key}"}
    assert client.get(PROTECTED, headers=headers).status_code == 200
    listed = client.get("/v1/api-clients", headers=admin_headers).json()["items"]
    assert {c["prefix"] for c in listed} >= {prefix}
    assert all("key" not in c for c in listed)

    assert client.delete(f"/v1/api-clients/{prefix}", headers=admin_headers).status_code == 200
    assert client.get(PROTECTED, headers=headers).status_code == 401
    again = client.delete(f"/v1/api-clients/{prefix}", headers=admin_headers)
    assert again.status_code == 409
    assert client.delete("/v1/api-clients/ffffffffff", headers=admin_headers).status_code == 404


def test_creating_a_client_with_unknown_scope_is_422_and_writes_nothing(  # type: ignore[no-untyped-def]
    client, admin_headers, database
) -> None:
    response = client.post(
        "/v1/api-clients", json={"name": "x", "scopes": ["everything"]}, headers=admin_headers
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == "body.scopes.0"
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM api_client")).scalar() == 1


def test_cli_creates_lists_and_revokes_keys(database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"CREDENCE_DATABASE_URL": database.url, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    cli = [sys.executable, "-m", "service.cli"]
    made = subprocess.run(
        [*cli, "api-keys", "create", "--name", "hr-export", "--scope", "completions:write"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("cred_")
    listed = subprocess.run(
        [*cli, "api-keys", "list"], env=env, capture_output=True, text=True, check=True
    )
    prefix = key.split("_")[1]
    assert prefix in listed.stdout and "hr-export" in listed.stdout and key not in listed.stdout
    subprocess.run([*cli, "api-keys", "revoke", prefix], env=env, check=True, capture_output=True)
    bad = subprocess.run(
        [*cli, "api-keys", "create", "--name", "x", "--scope", "nope"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "Unknown scope" in bad.stderr
