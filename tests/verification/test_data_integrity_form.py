"""The Data Integrity form of an issued credential: served beside the VC-JWT (the same
credential, an eddsa-rdfc-2022 proof by the issuer's Ed25519 key), verified by POST /v1/verify
and offline by the library with the same checks, refused when altered, revoked or signed by
another key; the key and the issuer's controller document dereference as verifiers expect."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from credentials import verify_document
from credentials.data_integrity import (
    CRYPTOSUITE,
    public_key_from_multikey,
    verify_data_integrity,
)
from credentials.jws import jwt_claim_names
from service.app import create_app
from service.settings import Settings
from tests.conftest import Database, status_entries
from tests.verification.conftest import BASE, DEMO, Demo, check_map, claims_of, detail, save
from tests.verification.test_verify_api import ALL_OK

DI = "application/vc"


def data_integrity(demo: Demo, credential_id: str, **kwargs: Any) -> dict[str, Any]:
    response = demo.client.get(
        f"/v1/credentials/{credential_id}",
        headers={**demo.admin, "Accept": DI},
        **kwargs,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(DI)
    document: dict[str, Any] = response.json()
    return document


def verify_json(demo: Demo, document: object) -> dict[str, Any]:
    response = demo.client.post("/v1/verify", json={"credential": document})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_same_credential_with_a_proof_by_the_ed25519_key(demo: Demo) -> None:
    credential_id, token = demo.earn("ana")
    document = data_integrity(demo, credential_id)
    by_format = demo.client.get(
        f"/v1/credentials/{credential_id}", params={"format": "di"}, headers=demo.admin
    )
    assert by_format.json() == document  # the same key gives the same bytes
    proof = document.pop("proof")
    claims = claims_of(token)
    assert document == {k: v for k, v in claims.items() if k not in jwt_claim_names()}
    assert [p["cryptosuite"] for p in proof] == [CRYPTOSUITE]
    method = proof[0]["verificationMethod"]
    assert method.startswith(f"{BASE}/keys/")
    issued = datetime.fromtimestamp(claims["iat"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert proof[0]["created"] == issued  # when it was issued (by a key older than that)


def test_posted_it_verifies_with_every_check_and_in_each_body_form(demo: Demo) -> None:
    credential_id, _ = demo.earn("ana")
    document = data_integrity(demo, credential_id)
    assert check_map(verify_json(demo, document)) == ALL_OK
    for media_type in (DI, "application/vc+ld+json"):
        response = demo.client.post(
            "/v1/verify", json=document, headers={"Content-Type": media_type}
        )
        body = response.json()
        assert body["verified"] is True and check_map(body) == ALL_OK, body


def test_an_altered_credential_fails_the_signature(demo: Demo) -> None:
    credential_id, _ = demo.earn("ana")
    document = data_integrity(demo, credential_id)
    altered = copy.deepcopy(document)
    altered["credentialSubject"]["achievement"]["name"] = "Black Belt"
    body = verify_json(demo, altered)
    assert body["verified"] is False
    assert check_map(body)["signature"] == "failed"
    assert "does not match" in detail(body, "signature")


def test_a_revoked_credential_fails_revocation_in_this_form_too(demo: Demo) -> None:
    credential_id, _ = demo.earn("ana")
    document = data_integrity(demo, credential_id)
    demo.status(credential_id, "revoke")
    body = verify_json(demo, document)
    assert body["verified"] is False
    assert check_map(body)["revocation"] == "failed"


def test_junk_documents_are_results_or_4xx_never_5xx(demo: Demo) -> None:
    credential_id, _ = demo.earn("ana")
    document = data_integrity(demo, credential_id)
    unknown_term = {**document, "favouriteColour": "blue"}
    assert check_map(verify_json(demo, unknown_term))["format"] == "failed"
    no_proof = {k: v for k, v in document.items() if k != "proof"}
    assert check_map(verify_json(demo, no_proof))["format"] == "failed"
    deep: Any = {}
    for _ in range(200):
        deep = {"credentialSubject": deep}
    assert verify_json(demo, {**document, **deep})["verified"] is False
    blanks = {**document, "evidence": [{"type": ["Evidence"]} for _ in range(200)]}
    assert "blank nodes" in detail(verify_json(demo, blanks), "format")
    refused = demo.client.post("/v1/verify", content=b"[1]", headers={"Content-Type": DI})
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")


def test_the_library_verifies_it_offline_with_the_published_key(demo: Demo) -> None:
    credential_id, _ = demo.earn("ana")
    document = data_integrity(demo, credential_id)
    method = document["proof"][0]["verificationMethod"]
    published = demo.client.get(method.removeprefix(BASE)).json()  # the JWK at the key's URL
    result = verify_document(
        document,
        resolve_key=lambda url: published if url == method else None,
        now=datetime.now(UTC),
        expected_issuer=BASE,
    )
    assert result.verified, result.checks
    assert result.check("revocation").status == "skipped"  # no status list given offline
    assert (
        verify_document(document, resolve_key=lambda url: None, now=datetime.now(UTC))
        .check("signature")
        .status
        == "failed"
    )


def test_the_key_and_the_issuer_dereference_as_json_ld(demo: Demo) -> None:
    credential_id, _ = demo.earn("ana")
    document = data_integrity(demo, credential_id)
    method = document["proof"][0]["verificationMethod"]
    as_jwk = demo.client.get(method.removeprefix(BASE))
    assert as_jwk.headers["content-type"].startswith("application/jwk+json")
    as_method = demo.client.get(
        method.removeprefix(BASE), headers={"Accept": "application/ld+json, application/json"}
    )
    assert as_method.headers["content-type"].startswith("application/ld+json")
    key = as_method.json()
    assert key["type"] == "Multikey" and key["id"] == method and key["controller"] == BASE
    public_key_from_multikey(key["publicKeyMultibase"])
    controller = demo.client.get("/", headers={"Accept": "application/ld+json"}).json()
    assert controller["id"] == BASE == document["issuer"]["id"]
    assert method in controller["assertionMethod"]
    profile = demo.client.get("/")  # the issuer's id, asked for plain JSON: its OB Profile
    assert profile.headers["content-type"].startswith("application/json")
    assert {k: v for k, v in profile.json().items() if k != "@context"} == document["issuer"]


def test_credence_verify_checks_it_offline_with_saved_keys_and_lists(
    demo: Demo, cli: Any, tmp_path: Path
) -> None:
    credential_id, _ = demo.earn("ana")
    document = data_integrity(demo, credential_id)
    jwks = save(tmp_path / "jwks.json", demo.client.get("/.well-known/jwks.json").text)
    lists = []
    for entry in status_entries(document):
        served = demo.client.get(entry["statusListCredential"].removeprefix(BASE))
        lists += ["--status-list", save(tmp_path / f"{entry['statusPurpose']}.jwt", served.text)]
    saved = save(tmp_path / "credential.json", json.dumps(document))
    result = cli("verify", saved, "--jwks", jwks, "--issuer", BASE, *lists, "--json")
    assert result.exit_code == 0, result.output
    checks = {c["name"]: c["status"] for c in json.loads(result.output)["checks"]}
    # offline, suspension is checkable only where the credential publishes its entry
    assert checks.pop("suspension") == "skipped"
    assert set(checks.values()) == {"ok"}, checks
    altered = {**document, "name": "Something else"}
    result = cli("verify", save(tmp_path / "altered.json", json.dumps(altered)), "--jwks", jwks)
    assert result.exit_code == 1
    assert "NOT VERIFIED" in result.output


def test_status_lists_come_in_the_data_integrity_form_too(demo: Demo) -> None:
    _, token = demo.earn("ana")
    url = status_entries(claims_of(token))[0]["statusListCredential"].removeprefix(BASE)
    listed = demo.client.get(url, headers={"Accept": DI})
    assert listed.status_code == 200, listed.text
    assert listed.headers["content-type"].startswith(DI)
    document = listed.json()
    assert document["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    as_jwt = demo.client.get(url)
    assert as_jwt.headers["content-type"].startswith("application/vc+jwt")
    assert as_jwt.headers["etag"] != listed.headers["etag"]
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    claims = claims_of(as_jwt.text)
    assert unsecured == {k: v for k, v in claims.items() if k not in jwt_claim_names()}
    method = document["proof"][0]["verificationMethod"]
    served = demo.client.get(method.removeprefix(BASE), headers={"Accept": "application/ld+json"})
    key = public_key_from_multikey(served.json()["publicKeyMultibase"])
    assert verify_data_integrity(document, resolve_key=lambda u: key if u == method else None)
    again = demo.client.get(url, params={"format": "di"})
    assert again.json() == document  # re-signed only when a bit changes


def test_the_achievement_and_its_badge_are_public_documents(demo: Demo) -> None:
    _, token = demo.earn("ana")
    achievement = claims_of(token)["credentialSubject"]["achievement"]
    assert achievement["id"] == f"{BASE}/achievements/social-media/foundations"
    assert achievement["image"] == {
        "id": f"{achievement['id']}/image.svg",
        "type": "Image",
        "caption": achievement["name"],
    }
    served = demo.client.get(achievement["id"].removeprefix(BASE))  # no API key
    assert served.status_code == 200, served.text
    document = served.json()
    assert document["@context"][1].startswith("https://purl.imsglobal.org/spec/ob/v3p0/")
    assert {k: v for k, v in document.items() if k != "@context"} == achievement
    image = demo.client.get(achievement["image"]["id"].removeprefix(BASE))
    assert image.headers["content-type"].startswith("image/svg+xml")
    assert image.text.startswith("<svg") and achievement["name"] in image.text
    ElementTree.fromstring(image.text)  # well-formed XML
    missing = demo.client.get("/achievements/social-media/no-such-level")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


def test_a_deployment_may_hand_out_the_jwt_alone(
    settings: Settings, database: Database, admin_headers: dict[str, str]
) -> None:
    """CREDENCE_CREDENTIAL_FORMATS=jwt: the Data Integrity form is refused with a 406 problem
    (credentials and status lists), webhooks cannot ask for it; verification accepts both."""
    jwt_only = settings.model_copy(update={"credential_formats": ["jwt"]})
    with TestClient(create_app(jwt_only, engine=database.engine)) as client:
        demo = Demo(client, admin_headers)
        applied = client.put(
            "/v1/catalog",
            content=DEMO.read_bytes(),
            headers={**admin_headers, "Content-Type": "application/yaml"},
        )
        assert applied.status_code == 200, applied.text
        credential_id, token = demo.earn("ana")
        refused = client.get(
            f"/v1/credentials/{credential_id}", headers={**admin_headers, "Accept": DI}
        )
        assert refused.status_code == 406
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "CREDENCE_CREDENTIAL_FORMATS=jwt" in refused.json()["detail"]
        status_list = status_entries(claims_of(token))[0]["statusListCredential"]
        assert (
            client.get(status_list.removeprefix(BASE), params={"format": "di"}).status_code == 406
        )
        hook = client.post(
            "/v1/webhooks",
            json={"url": "https://hooks.example.com/x", "include_data_integrity": True},
            headers=admin_headers,
        )
        assert hook.status_code == 422
        assert "include_data_integrity" in hook.json()["detail"]
        assert demo.verify(token)["verified"] is True
    with pytest.raises(ValidationError, match="jwt is always issued"):
        Settings(credential_formats=["di"])


def test_a_level_may_name_its_own_badge_image(demo: Demo) -> None:
    catalog = demo.client.get("/v1/catalog", headers=demo.admin)
    etag = catalog.headers["etag"]
    document = catalog.json()
    image = "https://cdn.example.com/badges/foundations.png"
    for track in document["tracks"]:
        for level in track["levels"]:
            if level["id"] == "foundations":
                level["image"] = image
    applied = demo.client.put(
        "/v1/catalog", json=document, headers={**demo.admin, "If-Match": etag}
    )
    assert applied.status_code == 200, applied.text
    _, token = demo.earn("ana")
    achievement = claims_of(token)["credentialSubject"]["achievement"]
    assert achievement["image"]["id"] == image
    served = demo.client.get(achievement["id"].removeprefix(BASE)).json()
    assert served["image"]["id"] == image
    bad = dict(document)
    bad["tracks"][0]["levels"][0]["image"] = "not a url"
    refused = demo.client.put("/v1/catalog", json=bad, headers=demo.admin)
    assert refused.status_code == 422
