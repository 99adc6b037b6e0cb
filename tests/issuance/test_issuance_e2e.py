"""End to end on the demo catalog: completions through the API earn Foundations, Practitioner and
Black Belt; every credential verifies with the library against the published JWKS and status
lists; expiry, renewal, re-earning, revocation, suspension and manual awards behave as DESIGN §1-2
says."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from jsonschema import Draft201909Validator

from credentials import (
    load_status_list,
    make_status_checker,
    public_key_from_jwk,
    verify,
)
from tests.conftest import REPO, status_entries
from tests.reference import reference_json

DEMO = REPO / "service" / "catalog" / "demo" / "social-media-program.yaml"
BASE = "https://credence.test"
FOUNDATIONS = "social-media/foundations"
PRACTITIONER = "social-media/practitioner"
BLACK_BELT = "social-media/black-belt"
ALGS = {"EdDSA", "ES256", "RS256"}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ago(**delta: float) -> str:
    return iso(datetime.now(UTC) - timedelta(**delta))


@pytest.fixture
def api(client, admin_headers):  # type: ignore[no-untyped-def]
    """The client with the demo catalog applied, and a helper to post completions."""
    applied = client.put(
        "/v1/catalog",
        content=DEMO.read_bytes(),
        headers={**admin_headers, "Content-Type": "application/yaml"},
    )
    assert applied.status_code == 200, applied.text
    return client


def complete(client, headers, learner: str, course: str, at: str, **extra: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = client.post(
        "/v1/completions",
        json={"learner_id": learner, "course_id": course, "completed_at": at, **extra},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def issued_levels(result: dict[str, Any]) -> list[str]:
    return [c["level"] for c in result["issued"]]


def fetch_detail(client, headers, credential_id: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = client.get(f"/v1/credentials/{credential_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def verify_via_api(client, token: str, now: datetime | None = None):  # type: ignore[no-untyped-def]
    """Verify the way an outside verifier would: keys from the JWKS, bits from the lists."""
    jwks_response = client.get("/.well-known/jwks.json")
    assert jwks_response.headers["content-type"].startswith("application/jwk-set+json")
    keys = {k["kid"]: k for k in jwks_response.json()["keys"]}

    def resolve(kid_url: str) -> dict[str, Any] | None:
        jwk = keys.get(kid_url)  # the header kid as given, as JOSE libraries look it up
        if jwk is not None:
            public_key_from_jwk(jwk)  # the published key is usable as is
            # and the kid URL itself serves exactly that key
            one = client.get(kid_url.removeprefix(BASE))
            assert one.status_code == 200, one.text
            assert one.headers["content-type"].startswith("application/jwk+json")
            assert one.json() == jwk
        return jwk

    now = now or datetime.now(UTC)
    payload = token.split(".")[1]
    import base64

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    lists = []
    for entry in status_entries(claims):
        url = entry["statusListCredential"]
        assert url.startswith(f"{BASE}/v1/status-lists/")
        listed = client.get(url.removeprefix(BASE))
        assert listed.status_code == 200
        assert listed.headers["content-type"].startswith("application/vc+jwt")
        lists.append(
            load_status_list(listed.text, allowed_algorithms=ALGS, resolve_key=resolve, now=now)
        )
    return verify(
        token,
        allowed_algorithms=ALGS,
        resolve_key=resolve,
        now=now,
        check_status=make_status_checker(lists, now=now),
    )


def checks(result) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {c.name: c.status for c in result.checks}


@functools.cache
def official_validators() -> tuple[Draft201909Validator, Draft201909Validator]:
    """The official OB 3.0 JSON Schema, whole and its ``$defs/CredentialStatus`` (a reference
    file: the tests that check against it skip when it is absent)."""
    schema = reference_json("ob_v3p0_achievementcredential_schema.json")
    return (
        Draft201909Validator(schema, format_checker=Draft201909Validator.FORMAT_CHECKER),
        Draft201909Validator(schema["$defs"]["CredentialStatus"]),
    )


def assert_official_schema(credential: dict[str, Any]) -> None:
    """Validate against the official OB 3.0 JSON Schema.

    By default a credential carries one ``credentialStatus`` object (its revocation entry) and
    validates verbatim. With ``CREDENCE_SUSPENSION_STATUS_ENTRY`` it carries the revocation and
    suspension entries as a VC DM 2.0 array, which the schema refuses (it types
    ``credentialStatus`` as one object, 1EdTech/openbadges-specification#623): then the whole
    credential is validated with ``credentialStatus`` replaced by each entry in turn
    (everything else exactly as signed), and the array is the only thing the schema flags.
    """
    validator, status_validator = official_validators()
    entries = credential["credentialStatus"]
    if isinstance(entries, dict):
        assert entries["statusPurpose"] == "revocation"
        errors = [
            f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(credential)
        ]
        assert errors == []
        return
    assert isinstance(entries, list) and len(entries) == 2
    assert {e["statusPurpose"] for e in entries} == {"revocation", "suspension"}
    for entry in entries:
        assert not list(status_validator.iter_errors(entry))
        single = {**credential, "credentialStatus": entry}
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(single)]
        assert errors == []
    flagged = {tuple(e.absolute_path)[:1] for e in validator.iter_errors(credential)}
    assert flagged <= {("credentialStatus",)}


def test_demo_walk_foundations_practitioner_black_belt(api, admin_headers) -> None:  # type: ignore[no-untyped-def]
    h = admin_headers
    first = complete(api, h, "ada", "policy-101", ago(days=40), score=79)
    assert first["issued"] == []  # policy-101 needs 80
    complete(api, h, "ada", "brand-voice-101", ago(days=39))
    assert issued_levels(complete(api, h, "ada", "policy-101", ago(days=38), score=80)) == [
        FOUNDATIONS
    ]

    complete(api, h, "ada", "disclosure-101", ago(days=30))
    assert complete(api, h, "ada", "community-201", ago(days=29))["issued"] == []  # 1 of 2
    practitioner = complete(api, h, "ada", "analytics-201", ago(days=28))
    assert issued_levels(practitioner) == [PRACTITIONER]

    complete(api, h, "ada", "crisis-301", ago(days=10), score=90)
    complete(api, h, "ada", "mentoring-301", ago(days=9))
    assert complete(api, h, "ada", "legal-301", ago(days=8), score=84)["issued"] == []
    black_belt = complete(api, h, "ada", "legal-301", ago(days=7), score=85)
    assert issued_levels(black_belt) == [BLACK_BELT]

    listed = api.get("/v1/credentials", params={"learner_id": "ada"}, headers=h).json()["items"]
    assert sorted(c["level"] for c in listed) == sorted([FOUNDATIONS, PRACTITIONER, BLACK_BELT])
    for row in listed:
        assert row["status"] == "active" and not row["expired"]
        detail = fetch_detail(api, h, row["id"])
        result = verify_via_api(api, detail["jwt"])
        assert result.verified, result.checks
        assert checks(result)["revocation"] == "ok"
        assert checks(result)["suspension"] == "skipped"  # no entry published: enforced online
        credential = detail["credential"]
        assert credential["id"] == row["id"]
        assert credential["credentialSubject"]["achievement"]["achievementType"] == "Certification"
        assert credential["validFrom"] == iso(datetime.fromisoformat(row["valid_from"]))
        assert_official_schema(credential)
        as_jwt = api.get(
            f"/v1/credentials/{row['id']}", headers={**h, "Accept": "application/vc+jwt"}
        )
        assert as_jwt.text == detail["jwt"]
        assert as_jwt.headers["content-type"].startswith("application/vc+jwt")
    # Black Belt's validity starts at its last counting completion (legal-301 with 85), not now.
    bb = next(c for c in listed if c["level"] == BLACK_BELT)
    assert bb["valid_from"].startswith(ago(days=7)[:10])
    assert len(bb["evidence"]) == 3


def test_late_sync_records_an_expired_credential_that_grants_nothing(api, admin_headers) -> None:  # type: ignore[no-untyped-def]
    h = admin_headers
    complete(api, h, "bob", "policy-101", ago(days=3 * 365), score=95)
    result = complete(api, h, "bob", "brand-voice-101", ago(days=3 * 365 - 1))
    assert issued_levels(result) == [FOUNDATIONS]
    row = api.get(f"/v1/credentials/{result['issued'][0]['id']}", headers=h).json()
    assert row["expired"] is True and row["status"] == "active"
    verdict = verify_via_api(api, row["jwt"])
    assert not verdict.verified and checks(verdict)["validity"] == "failed"
    assert checks(verdict)["signature"] == "ok"
    expired = api.get("/v1/credentials", params={"status": "expired"}, headers=h).json()["items"]
    assert [c["id"] for c in expired] == [row["id"]]


def test_renewal_inside_the_window_with_the_refresher_alone(api, admin_headers) -> None:  # type: ignore[no-untyped-def]
    h = admin_headers
    complete(api, h, "cy", "policy-101", ago(days=340), score=88)
    original = complete(api, h, "cy", "brand-voice-101", ago(days=340))["issued"][0]
    # valid until ~25 days from now: the 60-day renewal window is open.
    renewed = complete(api, h, "cy", "policy-refresher", ago(days=1))
    assert issued_levels(renewed) == [FOUNDATIONS]
    new = renewed["issued"][0]
    assert new["renewal"] is True
    old_row = api.get(f"/v1/credentials/{original['id']}", headers=h).json()
    assert old_row["superseded_by"] == new["id"]
    assert old_row["status"] == "active"  # superseded, not revoked
    new_row = fetch_detail(api, h, new["id"])
    assert new_row["renewal"] is True
    assert new_row["valid_from"].startswith(ago(days=1)[:10])
    assert verify_via_api(api, new_row["jwt"]).verified
    assert_official_schema(new_row["credential"])
    events = api.get("/v1/audit/events", params={"limit": 500}, headers=h).json()["items"]
    renewal_events = [e for e in events if e["action"] == "credential.renewed"]
    assert [e["data"]["supersedes"] for e in renewal_events] == [original["id"]]


def test_re_earning_after_expiry_needs_new_completions(api, admin_headers) -> None:  # type: ignore[no-untyped-def]
    h = admin_headers
    complete(api, h, "dee", "policy-101", ago(days=800), score=90)
    old = complete(api, h, "dee", "brand-voice-101", ago(days=800))["issued"][0]
    # Expired ~435 days ago, far beyond the grace: the refresher alone is not enough, and the
    # old completions no longer count.
    assert complete(api, h, "dee", "policy-refresher", ago(days=3))["issued"] == []
    assert complete(api, h, "dee", "policy-101", ago(days=2), score=81)["issued"] == []
    again = complete(api, h, "dee", "brand-voice-101", ago(days=1))
    assert issued_levels(again) == [FOUNDATIONS]
    new = fetch_detail(api, h, again["issued"][0]["id"])
    assert new["renewal"] is False and not new["expired"]
    old_ids = {c for c in api.get(f"/v1/credentials/{old['id']}", headers=h).json()["evidence"]}
    assert not old_ids & set(new["evidence"])
    assert verify_via_api(api, new["jwt"]).verified


def _status_bit(client, credential: dict[str, Any], purpose: str) -> bool:  # type: ignore[no-untyped-def]
    entry = next(e for e in status_entries(credential) if e["statusPurpose"] == purpose)
    token = client.get(entry["statusListCredential"].removeprefix(BASE)).text
    decoded = load_status_list(
        token,
        allowed_algorithms=ALGS,
        resolve_key=lambda kid: next(
            k for k in client.get("/.well-known/jwks.json").json()["keys"] if kid.endswith(k["kid"])
        ),
    )
    return decoded.bits.get(int(entry["statusListIndex"]))


@pytest.mark.suspension_entry
def test_revocation_and_suspension_flip_bits_visible_in_the_lists(api, admin_headers) -> None:  # type: ignore[no-untyped-def]
    h = admin_headers
    for learner in ("eve", "fay"):
        complete(api, h, learner, "policy-101", ago(days=5), score=90)
        complete(api, h, learner, "brand-voice-101", ago(days=5))
    rows = api.get("/v1/credentials", params={"level": FOUNDATIONS}, headers=h).json()["items"]
    by_learner = {r["learner_id"]: fetch_detail(api, h, r["id"]) for r in rows}
    eve, fay = by_learner["eve"], by_learner["fay"]

    revocation_url = next(
        e for e in status_entries(eve["credential"]) if e["statusPurpose"] == "revocation"
    )["statusListCredential"].removeprefix(BASE)
    before = api.get(revocation_url)
    assert before.headers["cache-control"].startswith("public")
    etag = before.headers["etag"]
    assert api.get(revocation_url, headers={"If-None-Match": etag}).status_code == 304

    revoked = api.post(f"/v1/credentials/{eve['id']}/revoke", json={"reason": "left"}, headers=h)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert api.get(revocation_url, headers={"If-None-Match": etag}).status_code == 200
    assert _status_bit(api, eve["credential"], "revocation") is True
    assert _status_bit(api, eve["credential"], "suspension") is False
    verdict = verify_via_api(api, eve["jwt"])
    assert not verdict.verified and checks(verdict)["revocation"] == "failed"
    assert api.post(f"/v1/credentials/{eve['id']}/reinstate", headers=h).status_code == 409
    assert api.post(f"/v1/credentials/{eve['id']}/revoke", headers=h).status_code == 409

    suspended = api.post(f"/v1/credentials/{fay['id']}/suspend", headers=h)
    assert suspended.json()["status"] == "suspended"
    assert _status_bit(api, fay["credential"], "suspension") is True
    assert checks(verify_via_api(api, fay["jwt"]))["suspension"] == "failed"
    reinstated = api.post(f"/v1/credentials/{fay['id']}/reinstate", headers=h)
    assert reinstated.json()["status"] == "active"
    assert _status_bit(api, fay["credential"], "suspension") is False
    assert verify_via_api(api, fay["jwt"]).verified

    actions = [
        e["action"]
        for e in api.get("/v1/audit/events", params={"limit": 500}, headers=h).json()["items"]
    ]
    for action in ("credential.revoked", "credential.suspended", "credential.reinstated"):
        assert actions.count(action) == 1
    assert api.post("/v1/credentials/urn:uuid:nope/revoke", headers=h).status_code == 404


def test_manual_award_needs_prerequisites_unless_overridden_and_is_audited(  # type: ignore[no-untyped-def]
    api, admin_headers
) -> None:
    h = admin_headers
    assert api.put("/v1/learners/gus", json={"name": "Gus"}, headers=h).status_code == 201
    body = {"learner_id": "gus", "level": PRACTITIONER, "reason": "external certificate"}
    refused = api.post("/v1/credentials", json=body, headers=h)
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["missing_levels"] == [FOUNDATIONS]

    awarded = api.post("/v1/credentials", json={**body, "override": True}, headers=h)
    assert awarded.status_code == 201, awarded.text
    credential = awarded.json()
    assert credential["manual"] is True and credential["level"] == PRACTITIONER
    assert verify_via_api(api, credential["jwt"]).verified
    assert_official_schema(credential["credential"])
    again = api.post("/v1/credentials", json={**body, "override": True}, headers=h)
    assert again.status_code == 409  # already holds it

    events = api.get("/v1/audit/events", params={"limit": 500}, headers=h).json()["items"]
    issued = [e for e in events if e["subject"] == f"credential:{credential['id']}"]
    assert len(issued) == 1
    assert "external certificate" in issued[0]["data"]["manual"]
    assert FOUNDATIONS in issued[0]["data"]["manual"]  # the overridden prerequisite is named

    unknown = api.post("/v1/credentials", json={**body, "learner_id": "nobody"}, headers=h)
    assert unknown.status_code == 404
    reader = api.post(
        "/v1/credentials",
        json=body,
        headers={"Authorization": h["Authorization"].replace("Bearer ", "Bearer x")},
    )
    assert reader.status_code == 401


def test_manual_award_supersedes_an_expired_credential_and_refuses_a_suspended_one(  # type: ignore[no-untyped-def]
    api, admin_headers
) -> None:
    """One live credential per learner and level, whatever the path: a manual award over an
    expired credential supersedes it; over a suspended one it is refused (reinstate or revoke)."""
    h = admin_headers
    complete(api, h, "hal", "policy-101", ago(days=3 * 365), score=95)
    old = complete(api, h, "hal", "brand-voice-101", ago(days=3 * 365 - 1))["issued"][0]
    body = {"learner_id": "hal", "level": FOUNDATIONS, "reason": "re-certified in person"}
    awarded = api.post("/v1/credentials", json=body, headers=h)
    assert awarded.status_code == 201, awarded.text
    assert fetch_detail(api, h, old["id"])["superseded_by"] == awarded.json()["id"]

    suspended = api.post(f"/v1/credentials/{awarded.json()['id']}/suspend", headers=h)
    assert suspended.status_code == 200
    refused = api.post("/v1/credentials", json=body, headers=h)
    assert refused.status_code == 409
    assert "suspended" in refused.json()["detail"]
    live = [
        c
        for c in api.get("/v1/credentials", params={"learner_id": "hal"}, headers=h).json()["items"]
        if c["superseded_by"] is None and c["status"] != "revoked"
    ]
    assert [c["id"] for c in live] == [awarded.json()["id"]]
