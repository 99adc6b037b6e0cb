"""Recipient binding: a learner's email is in each credential as a salted SHA-256
IdentityObject (never in clear), and POST /v1/verify, credence verify and the library confirm
"issued to alice@example.com" on request, in both forms of the credential."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from credentials import IdentityObject, check_recipient, verify
from tests.verification.conftest import BASE, Demo, check_map, claims_of, detail, save

ALICE = "Alice.Example@Example.com"


def _earn_with_email(demo: Demo, learner: str, email: str | None) -> tuple[str, str]:
    body: dict[str, Any] = {"name": "Alice"} | ({"email": email} if email else {})
    put = demo.client.put(f"/v1/learners/{learner}", json=body, headers=demo.admin)
    assert put.status_code in (200, 201), put.text
    return demo.earn(learner)


def _verify(demo: Demo, credential: object, recipient: str) -> dict[str, Any]:
    response = demo.client.post(
        "/v1/verify", json={"credential": credential, "recipient": recipient}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_email_is_a_salted_hash_in_the_credential(demo: Demo) -> None:
    _, token = _earn_with_email(demo, "alice", ALICE)
    (identity,) = claims_of(token)["credentialSubject"]["identifier"]
    assert identity["identityType"] == "emailAddress" and identity["hashed"] is True
    assert ALICE.lower() not in json.dumps(claims_of(token)).lower()  # never in clear
    expected = IdentityObject.hashed_value(ALICE.lower(), salt=identity["salt"])
    assert identity["identityHash"] == expected.identity_hash


def test_verify_confirms_the_recipient_in_either_form(demo: Demo) -> None:
    credential_id, token = _earn_with_email(demo, "alice", ALICE)
    document = demo.client.get(
        f"/v1/credentials/{credential_id}", headers={**demo.admin, "Accept": "application/vc"}
    ).json()
    for credential in (token, document):
        confirmed = _verify(demo, credential, "alice.example@example.com")  # any case
        assert confirmed["verified"] is True
        assert check_map(confirmed)["recipient"] == "ok"
        other = _verify(demo, credential, "mallory@example.com")
        assert other["verified"] is False
        assert check_map(other)["recipient"] == "failed"
        assert "not issued to mallory@example.com" in detail(other, "recipient")
    by_query = demo.client.post(
        "/v1/verify",
        params={"recipient": ALICE},
        content=token,
        headers={"Content-Type": "application/vc+jwt"},
    )
    assert check_map(by_query.json())["recipient"] == "ok"
    without = demo.verify(token)
    assert "recipient" not in check_map(without)  # only when asked


def test_a_learner_without_email_has_no_recipient_to_confirm(demo: Demo) -> None:
    _, token = _earn_with_email(demo, "bob", None)
    assert "identifier" not in claims_of(token)["credentialSubject"]
    body = _verify(demo, token, "bob@example.com")
    assert body["verified"] is False
    assert "names no email recipient" in detail(body, "recipient")


def test_a_recipient_that_is_not_a_string_is_a_422(demo: Demo) -> None:
    _, token = _earn_with_email(demo, "alice", ALICE)
    response = demo.client.post("/v1/verify", json={"credential": token, "recipient": 7})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


def test_credence_verify_takes_a_recipient(demo: Demo, cli: Any, tmp_path: Path) -> None:
    _, token = _earn_with_email(demo, "alice", ALICE)
    jwks = save(tmp_path / "jwks.json", demo.client.get("/.well-known/jwks.json").text)
    saved = save(tmp_path / "cred.jwt", token)
    ok = cli("verify", saved, "--jwks", jwks, "--issuer", BASE, "--recipient", ALICE)
    assert ok.exit_code == 0, ok.output
    assert "issued to" in ok.output
    refused = cli("verify", saved, "--jwks", jwks, "--issuer", BASE, "--recipient", "x@y.z")
    assert refused.exit_code == 1 and "not issued to x@y.z" in refused.output


def test_the_library_check_matches_plain_identities_too(demo: Demo) -> None:
    _, token = _earn_with_email(demo, "alice", ALICE)
    keys = {k["kid"]: k for k in demo.client.get("/.well-known/jwks.json").json()["keys"]}
    result = verify(
        token, allowed_algorithms={"ES256", "EdDSA"}, resolve_key=keys.get, now=datetime.now(UTC)
    )
    assert check_recipient(result, ALICE).check("recipient").status == "ok"
    subject = result.credential["credentialSubject"]  # type: ignore[index]
    subject["identifier"] = [
        {
            "type": "IdentityObject",
            "identityType": "emailAddress",
            "hashed": False,
            "identityHash": "carol@example.com",
        }
    ]
    assert check_recipient(result, "Carol@example.com").check("recipient").status == "ok"
