"""A did:web issuer: GET /.well-known/did.json lists the JWKS keys, JWT kids are DID URLs, and
credentials verify through /v1/verify and through ``credence verify`` with the DID document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.settings import Settings
from tests.conftest import Database
from tests.verification.conftest import BASE, Demo, claims_of, header_of, save

DID = "did:web:credence.test"


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database.url,
        base_url=BASE,
        issuer_id=DID,
        log_level="WARNING",
        dev_key_file=str(tmp_path / "dev-key"),
    )


def test_the_did_document_lists_the_same_keys_as_the_jwks(demo: Demo) -> None:
    demo.earn("ana")
    assert demo.client.post("/v1/keys/rotate", headers=demo.admin).status_code == 200
    response = demo.client.get("/.well-known/did.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/did+ld+json")
    document = response.json()
    assert document["id"] == DID
    jwks = demo.client.get("/.well-known/jwks.json").json()["keys"]
    methods = document["verificationMethod"]
    by_jwk = [m for m in methods if m["type"] == "JsonWebKey2020"]
    # the JWKS names each key by the header kid (the DID URL), the method has that id
    assert [m["id"] for m in by_jwk] == [k["kid"] for k in jwks]
    assert [{**m["publicKeyJwk"], "kid": m["id"]} for m in by_jwk] == jwks
    ed25519 = [k for k in jwks if k["kty"] == "OKP"]
    multikeys = [m for m in methods if m["type"] == "Multikey"]
    assert len(multikeys) == len(ed25519) and len(methods) == len(jwks) + len(ed25519)
    assert document["assertionMethod"] == [m["id"] for m in methods]
    assert all(m["controller"] == DID for m in methods)


def test_credentials_name_a_did_url_and_verify(demo: Demo, cli: Any, tmp_path: Path) -> None:
    _, token = demo.earn("ana")
    kid = header_of(token)["kid"]
    assert kid.startswith(f"{DID}#")
    assert claims_of(token)["iss"] == DID
    body = demo.verify(token)
    assert body["verified"] is True, body["checks"]

    did_json = save(tmp_path / "did.json", demo.client.get("/.well-known/did.json").text)
    result = cli(
        "verify",
        save(tmp_path / "c.jwt", token),
        "--jwks",
        did_json,
        env={"CREDENCE_ISSUER_ID": DID},
    )
    assert result.exit_code == 0, result.output


def test_a_url_issuer_has_no_did_document(client: Any, settings: Settings) -> None:
    settings.issuer_id = None
    assert client.get("/.well-known/did.json").status_code == 404
    response = client.get("/.well-known/did.json")
    assert response.headers["content-type"] == "application/problem+json"
