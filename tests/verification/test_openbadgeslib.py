"""PyPI openbadgeslib (an OB 3.0 issuer/verifier library Credence does not use to sign) verifies
the VC-JWTs Credence issues with the issuer's published key, refuses them altered, and binds
them to their recipient the way it knows how: by ``credentialSubject.id``.

It does not read ``credentialSubject.identifier`` (the salted email hash Credence publishes
instead of an address in clear), so its email binding refuses our credentials; Credence's own
``recipient`` check covers that (tests/verification/test_recipient.py)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from credentials.keys import public_key_from_jwk
from tests.verification.conftest import Demo, claims_of

ob3 = pytest.importorskip("openbadgeslib.ob3", reason="openbadgeslib (dev extra) not installed")
verify_badge = pytest.importorskip("openbadgeslib.verify").verify_badge


def _pem(demo: Demo, token: str) -> bytes:
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    jwk: dict[str, Any] = demo.client.get(
        header["kid"].removeprefix("https://credence.test")
    ).json()
    _, key = public_key_from_jwk(jwk)
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def test_openbadgeslib_verifies_our_vc_jwt_with_the_published_key(demo: Demo) -> None:
    _, token = demo.earn("ana")
    verifier = ob3.OB3Verifier(pubkey_pem=_pem(demo, token))
    credential = verifier.verify(token)
    assert credential.issuer.id == "https://credence.test"
    subject = claims_of(token)["credentialSubject"]["id"]
    assert verifier.verify(token, expected_recipient=subject).recipient_id == subject


def test_openbadgeslib_refuses_it_altered_or_for_someone_else(demo: Demo) -> None:
    _, token = demo.earn("ana")
    verifier = ob3.OB3Verifier(pubkey_pem=_pem(demo, token))
    head, _, signature = token.split(".")
    claims = claims_of(token)
    claims["credentialSubject"]["achievement"]["name"] = "Black Belt"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(ob3.OB3VerificationError):
        verifier.verify(f"{head}.{forged}.{signature}")
    with pytest.raises(ob3.OB3VerificationError, match="Recipient mismatch"):
        verifier.verify(token, expected_recipient="urn:uuid:00000000-0000-4000-8000-000000000000")


def test_openbadgeslib_unbakes_and_verifies_our_baked_badge(demo: Demo) -> None:
    """OB 3.0 baking: the credential inside the badge SVG, found and verified by a stranger."""
    credential_id, token = demo.earn("ana")
    baked = demo.client.get(f"/v1/credentials/{credential_id}/badge.svg", headers=demo.admin)
    assert baked.status_code == 200, baked.text
    assert baked.headers["content-type"].startswith("image/svg+xml")
    assert ob3.OB3Verifier.extract_token_from_svg(baked.content) == token
    result = verify_badge(baked.content, "3", pubkey_pem=_pem(demo, token))
    assert result.valid, result.reason
    assert result.proof_format == "vc-jwt"


def test_the_data_integrity_form_bakes_as_the_element_text(demo: Demo) -> None:
    credential_id, _ = demo.earn("ana")
    baked = demo.client.get(
        f"/v1/credentials/{credential_id}/badge.svg", params={"format": "di"}, headers=demo.admin
    )
    document = json.loads(ob3.OB3Verifier.extract_token_from_svg(baked.content))
    verdict = demo.client.post("/v1/verify", json={"credential": document}).json()
    assert verdict["verified"] is True, verdict


def test_openbadgeslib_unbakes_and_verifies_our_baked_png(demo: Demo) -> None:
    credential_id, token = demo.earn("ana")
    baked = demo.client.get(f"/v1/credentials/{credential_id}/badge.png", headers=demo.admin)
    assert baked.status_code == 200, baked.text
    assert baked.headers["content-type"] == "image/png"
    assert ob3.OB3Verifier.extract_token_from_png(baked.content) == token
    result = verify_badge(baked.content, "3", pubkey_pem=_pem(demo, token))
    assert result.valid, result.reason
    public = demo.client.get(
        "/credentials/" + credential_id.removeprefix("urn:uuid:") + "/badge.png"
    )
    assert ob3.OB3Verifier.extract_token_from_png(public.content) == token
