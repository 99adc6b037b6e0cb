"""POST /v1/verify and ``credence verify`` on credentials the service issued: live status bits,
retired keys after rotation, compromised keys, other issuers; the JSON, text and JWT bodies."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlmodel import Session

from credentials import (
    Achievement,
    IssuerProfile,
    LocalSigner,
    build_credential,
    decrypt_private_key,
    sign_credential,
)
from service.models import SigningKey
from tests.conftest import status_entries
from tests.verification.conftest import (
    BASE,
    Demo,
    check_map,
    claims_of,
    detail,
    header_of,
    save,
)

JWT_CLAIMS = {"iss", "jti", "sub", "nbf", "exp", "iat"}

ALL_OK = {
    "format": "ok",
    "issuer": "ok",
    "signature": "ok",
    "claims": "ok",
    "validity": "ok",
    "revocation": "ok",
    "suspension": "ok",
    "schema": "ok",
}


def test_an_issued_credential_verifies_in_each_body_form(demo: Demo) -> None:
    credential_id, token = demo.earn("ana")
    forms: list[dict[str, Any]] = [
        {"content": token, "headers": {"Content-Type": "application/vc+jwt"}},
        {"content": f"\n  {token}\n", "headers": {"Content-Type": "text/plain; charset=utf-8"}},
        {"json": {"credential": token}},
        {"content": token},  # no Content-Type at all
    ]
    for form in forms:
        response = demo.client.post("/v1/verify", **form)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["verified"] is True, body
        assert check_map(body) == ALL_OK
        assert all(c["ok"] for c in body["checks"])
        assert body["credential"]["id"] == f"urn:uuid:{credential_id.removeprefix('urn:uuid:')}"
        assert "iss" not in body["credential"]  # JWT claims are not part of the credential
    assert "Credence Development Issuer" in detail(body, "issuer")


def test_credence_verify_accepts_it_with_the_served_jwks_and_lists(
    demo: Demo, cli: Any, tmp_path: Path
) -> None:
    _, token = demo.earn("ana")
    jwks = save(tmp_path / "jwks.json", demo.client.get("/.well-known/jwks.json").text)
    lists = []
    for entry in status_entries(claims_of(token)):
        served = demo.client.get(entry["statusListCredential"].removeprefix(BASE))
        assert served.status_code == 200
        lists += ["--status-list", save(tmp_path / f"{entry['statusPurpose']}.jwt", served.text)]
    cred = save(tmp_path / "cred.jwt", token)
    result = cli("verify", cred, "--jwks", jwks, *lists)
    assert result.exit_code == 0, result.output
    assert "VERIFIED" in result.output and "NOT VERIFIED" not in result.output


def test_credentials_of_the_earlier_kid_form_keep_verifying(demo: Demo) -> None:
    """Before keys had their own URL, header kids read <base>/.well-known/jwks.json#<thumb>:
    a credential signed so by this issuer's key still verifies, online."""
    _, token = demo.earn("ana")
    thumbprint = header_of(token)["kid"].rsplit("/", 1)[1]
    assert header_of(token)["kid"] == f"{BASE}/keys/{thumbprint}"
    app = demo.client.app
    with Session(app.state.engine) as session:  # type: ignore[attr-defined]
        row = session.get(SigningKey, thumbprint)
        assert row is not None
        private = decrypt_private_key(
            row.private_key_encrypted,
            app.state.settings.kek_bytes,  # type: ignore[attr-defined]
            thumbprint,
        )
    legacy = LocalSigner(private, kid=f"{BASE}/.well-known/jwks.json#{thumbprint}")
    credential = {k: v for k, v in claims_of(token).items() if k not in JWT_CLAIMS}
    old_token = sign_credential(credential, legacy)
    assert header_of(old_token)["kid"].endswith(f"/.well-known/jwks.json#{thumbprint}")
    body = demo.verify(old_token)
    assert body["verified"] is True, body["checks"]


def test_retired_keys_keep_verifying_after_rotation(demo: Demo, cli: Any, tmp_path: Path) -> None:
    _, old = demo.earn("ana")
    rotated = demo.client.post("/v1/keys/rotate", headers=demo.admin)
    assert rotated.status_code == 200, rotated.text
    new_key = rotated.json()
    assert new_key["state"] == "active" and new_key["key_id"].endswith("/keys/" + new_key["kid"])
    _, middle = demo.earn("ben")
    result = cli("keys", "rotate")  # the CLI rotates the same way
    assert result.exit_code == 0, result.output
    _, new = demo.earn("cy")
    kids = [header_of(t)["kid"] for t in (old, middle, new)]
    assert len(set(kids)) == 3
    assert kids[1] == new_key["key_id"]

    served = demo.client.get("/.well-known/jwks.json").json()["keys"]
    assert {k["kid"] for k in served if k["kty"] != "OKP"} == set(kids)  # and the Ed25519 key
    for token in (old, middle, new):
        assert demo.verify(token)["verified"] is True
    jwks = save(tmp_path / "jwks.json", demo.client.get("/.well-known/jwks.json").text)
    for token in (old, new):
        result = cli("verify", save(tmp_path / "t.jwt", token), "--jwks", jwks)
        assert result.exit_code == 0, result.output  # status lists not given: skipped, still ok

    listing = cli("keys", "list")
    assert listing.exit_code == 0
    lines = [line for line in listing.output.splitlines()[1:] if line.strip()]
    states = [line.split()[1:3] for line in lines]
    # ES256 is the default (what the 1EdTech validator accepts); rotating it leaves the Ed25519
    # key that signs Data Integrity proofs active
    assert [state for alg, state in states if alg == "ES256"] == ["retired", "retired", "active"]
    assert [state for alg, state in states if alg == "EdDSA"] == ["active"]

    events = demo.client.get("/v1/audit/events", headers=demo.admin).json()["items"]
    actions = [e["action"] for e in events if e["subject"].startswith("key:")]
    assert actions == ["key.created", "key.created", "key.rotated", "key.rotated"]


def test_revoked_fails_revocation_and_suspended_fails_until_reinstated(demo: Demo) -> None:
    revoked_id, revoked = demo.earn("ana")
    suspended_id, suspended = demo.earn("ben")
    demo.status(revoked_id, "revoke")
    demo.status(suspended_id, "suspend")

    body = demo.verify(revoked)
    assert body["verified"] is False
    assert check_map(body) == {**ALL_OK, "revocation": "failed"}
    assert detail(body, "revocation").startswith("revoked")

    body = demo.verify(suspended)
    assert body["verified"] is False
    assert check_map(body) == {**ALL_OK, "suspension": "failed"}
    assert detail(body, "suspension").startswith("suspended")

    demo.status(suspended_id, "reinstate")
    assert demo.verify(suspended)["verified"] is True


def test_a_compromised_key_fails_what_it_signed_after_the_compromise_time(demo: Demo) -> None:
    _, before = demo.earn("ana")
    kid = header_of(before)["kid"].rsplit("/", 1)[1]
    iat = claims_of(before)["iat"]
    while datetime.now(UTC).timestamp() < iat + 1.05:  # iat has whole seconds
        time.sleep(0.05)
    _, after = demo.earn("ben")
    assert claims_of(after)["iat"] > iat
    assert header_of(after)["kid"] == header_of(before)["kid"]

    since = datetime.fromtimestamp(claims_of(after)["iat"], UTC)
    response = demo.client.post(
        f"/v1/keys/{kid}/compromise", json={"at": since.isoformat()}, headers=demo.admin
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["key"]["compromised_at"].startswith(since.strftime("%Y-%m-%dT%H:%M:%S"))
    assert body["key"]["state"] == "retired"
    assert body["active"] is not None and body["active"]["kid"] != kid

    assert demo.verify(before)["verified"] is True
    failed = demo.verify(after)
    assert failed["verified"] is False
    assert check_map(failed)["signature"] == "failed"
    assert "compromised" in detail(failed, "signature")

    _, fresh = demo.earn("cy")  # the successor key issues again at once
    assert demo.verify(fresh)["verified"] is True

    again = demo.client.post(f"/v1/keys/{kid}/compromise", headers=demo.admin)
    assert again.status_code == 409
    unknown = demo.client.post("/v1/keys/nope/compromise", headers=demo.admin)
    assert unknown.status_code == 404
    future = demo.client.post(
        f"/v1/keys/{body['active']['kid']}/compromise",
        json={"at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
        headers=demo.admin,
    )
    assert future.status_code == 422
    events = demo.client.get("/v1/audit/events", headers=demo.admin).json()["items"]
    compromised = [e for e in events if e["action"] == "key.compromised"]
    assert [e["subject"] for e in compromised] == [f"key:{kid}"]


def test_key_endpoints_need_the_admin_scope(demo: Demo, make_key: Any) -> None:
    reader = {"Authorization": f"Bearer {make_key('credentials:read', 'audit:read')}"}
    assert demo.client.post("/v1/keys/rotate").status_code == 401
    assert demo.client.post("/v1/keys/rotate", headers=reader).status_code == 403
    assert demo.client.post("/v1/keys/x/compromise", headers=reader).status_code == 403


def test_a_credential_from_another_issuer_is_not_verified(demo: Demo) -> None:
    demo.earn("ana")  # so the service has keys and lists
    other = LocalSigner(ed25519.Ed25519PrivateKey.generate(), issuer_base="https://other.example")
    doc = build_credential(
        issuer=IssuerProfile(id="https://other.example", name="Other", url="https://other.example"),
        achievement=Achievement(
            id="https://other.example/levels/x",
            name="X",
            description="X",
            criteria_narrative="X",
        ),
        subject_id="urn:uuid:0f2b4d8e-8a8c-4c55-9d59-1f0c2c7c9b11",
        valid_from=datetime.now(UTC) - timedelta(days=1),
    )
    body = demo.verify(sign_credential(doc, other, now=datetime.now(UTC)))
    assert body["verified"] is False
    checks = check_map(body)
    assert checks["issuer"] == "failed" and checks["signature"] == "failed"
    assert "https://other.example" in detail(body, "issuer")
    assert "not one of this issuer's keys" in detail(body, "signature")


def test_a_token_naming_our_key_but_another_issuer_fails_the_issuer_check(demo: Demo) -> None:
    _, token = demo.earn("ana")
    claims = claims_of(token)
    claims["iss"] = "https://evil.example"
    import base64
    import json

    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    head, _, signature = token.split(".")
    body = demo.verify(f"{head}.{forged_payload}.{signature}")
    assert body["verified"] is False
    assert check_map(body)["issuer"] == "failed"
    assert check_map(body)["signature"] == "failed"  # the payload changed under the signature


def test_suspension_is_enforced_online_without_a_published_entry(demo: Demo) -> None:
    """By default a credential carries its revocation entry only (the OB 3.0 JSON Schema
    types credentialStatus as one object); POST /v1/verify still reports a suspension, from
    this issuer's records."""
    credential_id, token = demo.earn("ana")
    assert claims_of(token)["credentialStatus"]["statusPurpose"] == "revocation"
    assert check_map(demo.verify(token))["suspension"] == "ok"
    assert "records" in detail(demo.verify(token), "suspension")
    demo.status(credential_id, "suspend")
    suspended = demo.verify(token)
    assert suspended["verified"] is False
    assert check_map(suspended)["suspension"] == "failed"
    demo.status(credential_id, "reinstate")
    assert demo.verify(token)["verified"] is True


@pytest.mark.suspension_entry
def test_the_suspension_entry_is_published_when_configured(demo: Demo) -> None:
    credential_id, token = demo.earn("ana")
    entries = claims_of(token)["credentialStatus"]
    assert [e["statusPurpose"] for e in entries] == ["revocation", "suspension"]
    demo.status(credential_id, "suspend")
    suspended = demo.verify(token)
    assert check_map(suspended)["suspension"] == "failed"
    assert "records" not in detail(suspended, "suspension")  # read from the entry's list bit
