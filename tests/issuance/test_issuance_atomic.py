"""Nothing half-written: when signing or storing a credential fails, the completion that earned
it is rolled back too (one transaction per request), and the client gets a 500 problem."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from service.completions import batch as recording
from tests.conftest import REPO

DEMO = REPO / "service" / "catalog" / "demo" / "social-media-program.yaml"
TABLES = ("completion", "credential", "audit_event", "status_slot", "credential_status_event")


def counts(database) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with database.engine.connect() as connection:
        return {
            t: connection.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES
        }


def item(course: str, learner: str = "ada", **extra: Any) -> dict[str, Any]:
    at = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"learner_id": learner, "course_id": course, "completed_at": at, "score": 90, **extra}


@pytest.fixture
def primed(client, admin_headers):  # type: ignore[no-untyped-def]
    """Demo catalog applied, and ada one completion away from Foundations."""
    client.put(
        "/v1/catalog",
        content=DEMO.read_bytes(),
        headers={**admin_headers, "Content-Type": "application/yaml"},
    )
    assert (
        client.post("/v1/completions", json=item("policy-101"), headers=admin_headers).json()[
            "issued"
        ]
        == []
    )
    return client


def _fail_signing(app) -> None:  # type: ignore[no-untyped-def]
    def active_signer(session):  # type: ignore[no-untyped-def]
        raise RuntimeError("HSM unreachable")

    app.state.issuer.keyring.active_signer = active_signer


def test_signing_failure_rolls_back_the_completion(primed, app, admin_headers, database) -> None:  # type: ignore[no-untyped-def]
    before = counts(database)
    _fail_signing(app)
    response = primed.post(
        "/v1/completions", json=item("brand-voice-101", external_id="e1"), headers=admin_headers
    )
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "HSM" not in response.text  # internals are not leaked
    assert counts(database) == before

    # Once the signer works again the same request succeeds as if it had never been sent.
    del app.state.issuer.keyring.active_signer
    retried = primed.post(
        "/v1/completions", json=item("brand-voice-101", external_id="e1"), headers=admin_headers
    )
    assert retried.status_code == 201
    assert [c["level"] for c in retried.json()["issued"]] == ["social-media/foundations"]


def test_storing_failure_after_signing_rolls_back_everything(  # type: ignore[no-untyped-def]
    primed, admin_headers, database, monkeypatch
) -> None:
    real_record_many = recording.record_many

    def record_many(session, events, **kwargs):  # type: ignore[no-untyped-def]
        if any(e.action.startswith("credential.") for e in events):
            raise RuntimeError("disk full")
        return real_record_many(session, events, **kwargs)

    monkeypatch.setattr(recording, "record_many", record_many)
    before = counts(database)
    response = primed.post("/v1/completions", json=item("brand-voice-101"), headers=admin_headers)
    assert response.status_code == 500
    assert counts(database) == before


def test_signing_failure_in_a_batch_writes_nothing_of_the_batch(  # type: ignore[no-untyped-def]
    primed, app, admin_headers, database
) -> None:
    before = counts(database)
    _fail_signing(app)
    items = [item("disclosure-101", "bo"), item("brand-voice-101"), item("community-201", "cy")]
    response = primed.post("/v1/completions/batch", json={"items": items}, headers=admin_headers)
    assert response.status_code == 500
    assert counts(database) == before


def test_a_status_slot_left_without_its_credential_fails_at_commit(  # type: ignore[no-untyped-def]
    primed, admin_headers, database
) -> None:
    """Issuing claims a credential's slots before it inserts the credential (signed, once): the
    reference is checked at commit, so a transaction that leaves a slot without its credential
    still fails, and writes nothing."""
    issued = primed.post(
        "/v1/completions", json=item("brand-voice-101"), headers=admin_headers
    ).json()["issued"]
    assert issued  # Foundations: the status lists exist
    with database.engine.connect() as connection:
        list_id = connection.execute(text("SELECT min(id) FROM status_list")).scalar_one()
    before = counts(database)
    slot = text(
        "INSERT INTO status_slot (list_id, idx, credential_id, purpose, is_set) "
        "VALUES (:list_id, :idx, :credential_id, 'revocation', :is_set)"
    )
    with database.engine.connect() as connection:
        transaction = connection.begin()
        connection.execute(  # accepted here: the reference is checked at commit
            slot,
            {"list_id": list_id, "idx": 131_000, "credential_id": "urn:uuid:none", "is_set": False},
        )
        with pytest.raises(IntegrityError):
            transaction.commit()
    assert counts(database) == before
