"""POST/PUT /xapi/statements: completions and credentials, idempotency, all-or-nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from service.models import Completion
from tests.xapi.conftest import BRAND, COMPLETED, POLICY, cmi5_statement, statement


def rows(database, sql: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    with database.engine.connect() as connection:
        return [dict(r) for r in connection.execute(text(sql)).mappings()]


def completions(database) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Completions as the service stores them (typed: tz-aware datetimes on both databases)."""
    with Session(database.engine) as session:
        found = session.exec(select(Completion).order_by(col(Completion.course_id))).all()
        return [c.model_dump() for c in found]


def credentials_of(client, admin_headers, learner: str) -> list[str]:  # type: ignore[no-untyped-def]
    response = client.get(f"/v1/credentials?learner_id={learner}", headers=admin_headers)
    assert response.status_code == 200
    return sorted(c["level"] for c in response.json()["items"])


def test_adl_and_cmi5_statements_become_completions_and_a_credential(  # type: ignore[no-untyped-def]
    client, demo_catalog, xapi_headers, admin_headers, lrs_key, database
) -> None:
    adl = statement(activity=POLICY, scaled=0.92)
    cmi5 = cmi5_statement(verb=COMPLETED, activity=BRAND)
    response = client.post("/xapi/statements", json=[adl, cmi5], headers=xapi_headers)
    assert response.status_code == 200, response.text
    assert response.json() == [adl["id"], cmi5["id"]]
    assert response.headers["x-experience-api-version"] == "1.0.3"

    stored = completions(database)
    assert [(c["learner_id"], c["course_id"]) for c in stored] == [
        ("ana", "brand-voice-101"),
        ("ana", "policy-101"),
    ]
    brand, policy = stored
    assert policy["score"] == 92.0 and policy["passed"]
    assert brand["score"] is None and brand["passed"]
    prefix = lrs_key.split("_")[1]
    assert {c["source"] for c in stored} == {prefix}
    assert policy["external_id"] == f"xapi:{adl['id']}"
    # completed_at is the statement's timestamp (cmi5's +01:00 kept as the same instant)
    learner = client.get("/v1/learners/ana", headers=admin_headers).json()
    assert learner["name"] == "Ana Lima"
    assert credentials_of(client, admin_headers, "ana") == ["social-media/foundations"]
    assert brand["completed_at"] == datetime(2026, 11, 21, 8, 30, 0, 123000, tzinfo=UTC)
    assert policy["completed_at"] == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def test_cmi5_passed_with_raw_min_max_and_failed_success(  # type: ignore[no-untyped-def]
    client, demo_catalog, xapi_headers, admin_headers, database
) -> None:
    raw_scored = statement(account="bo", scaled=None)
    raw_scored["result"]["score"] = {"raw": 17, "min": 0, "max": 20}
    failed = statement(account="cy", scaled=0.95, success=False)
    response = client.post("/xapi/statements", json=[raw_scored, failed], headers=xapi_headers)
    assert response.status_code == 200, response.text
    by_learner = {c["learner_id"]: c for c in completions(database)}
    assert by_learner["bo"]["score"] == 85.0 and by_learner["bo"]["passed"]
    assert by_learner["cy"]["score"] == 95.0 and not by_learner["cy"]["passed"]
    # policy-101 min_score 80 is met by bo, but brand voice is missing: no credential yet
    client.post(
        "/xapi/statements", json=cmi5_statement(account="bo", activity=BRAND), headers=xapi_headers
    )
    assert credentials_of(client, admin_headers, "bo") == ["social-media/foundations"]
    client.post(
        "/xapi/statements", json=cmi5_statement(account="cy", activity=BRAND), headers=xapi_headers
    )
    assert credentials_of(client, admin_headers, "cy") == []


def test_single_statement_without_id_gets_one(  # type: ignore[no-untyped-def]
    client, demo_catalog, xapi_headers, database
) -> None:
    response = client.post("/xapi/statements", json=statement(sid=None), headers=xapi_headers)
    assert response.status_code == 200
    [assigned] = response.json()
    assert uuid.UUID(assigned).version == 4
    [row] = rows(database, "SELECT * FROM xapi_statement")
    assert row["id"] == assigned and row["outcome"] == "completion"
    assert completions(database)[0]["external_id"] == f"xapi:{assigned}"


def test_put_stores_once_and_conflicts_on_different_content(  # type: ignore[no-untyped-def]
    client, demo_catalog, xapi_headers, admin_headers, database
) -> None:
    sid = str(uuid.uuid4())
    body = statement(sid=None)
    url = f"/xapi/statements?statementId={sid}"
    first = client.put(url, json=body, headers=xapi_headers)
    assert first.status_code == 204 and first.content == b""
    assert first.headers["x-experience-api-version"] == "1.0.3"
    again = client.put(url, json={**body, "id": sid}, headers=xapi_headers)
    assert again.status_code == 204
    # an LRS forwarding the same statement sets stored/authority/version: still the same statement
    forwarded = {**body, "id": sid, "stored": "2026-11-20T10:00:01Z", "version": "1.0.0"}
    assert client.post("/xapi/statements", json=forwarded, headers=xapi_headers).json() == [sid]
    assert len(completions(database)) == 1
    audit_before = rows(database, "SELECT count(*) AS n FROM audit_event")[0]["n"]

    changed = statement(sid=None, scaled=0.5)
    conflict = client.put(url, json=changed, headers=xapi_headers)
    assert conflict.status_code == 409
    assert conflict.headers["x-experience-api-version"] == "1.0.3"
    assert conflict.json()["statement_id"] == sid
    posted = client.post("/xapi/statements", json={**changed, "id": sid}, headers=xapi_headers)
    assert posted.status_code == 409
    assert len(completions(database)) == 1
    assert rows(database, "SELECT count(*) AS n FROM audit_event")[0]["n"] == audit_before


def test_put_needs_a_matching_uuid_statement_id(client, demo_catalog, xapi_headers) -> None:  # type: ignore[no-untyped-def]
    body = statement()
    missing = client.put("/xapi/statements", json=body, headers=xapi_headers)
    assert missing.status_code == 400 and missing.json()["field"] == "statementId"
    not_uuid = client.put("/xapi/statements?statementId=abc", json=body, headers=xapi_headers)
    assert not_uuid.status_code == 400
    other = client.put(
        f"/xapi/statements?statementId={uuid.uuid4()}", json=body, headers=xapi_headers
    )
    assert other.status_code == 400 and other.json()["field"] == "statement.id"
    array = client.put(
        f"/xapi/statements?statementId={body['id']}", json=[body], headers=xapi_headers
    )
    assert array.status_code == 400


def test_post_replay_returns_the_id_and_changes_nothing(  # type: ignore[no-untyped-def]
    client, demo_catalog, xapi_headers, admin_headers, database
) -> None:
    batch = [statement(), cmi5_statement()]
    assert client.post("/xapi/statements", json=batch, headers=xapi_headers).status_code == 200
    before = (completions(database), credentials_of(client, admin_headers, "ana"))
    replay = client.post("/xapi/statements", json=batch, headers=xapi_headers)
    assert replay.status_code == 200 and replay.json() == [s["id"] for s in batch]
    assert (completions(database), credentials_of(client, admin_headers, "ana")) == before
    # a replayed batch with one new statement stores only the new one
    extra = statement(verb="http://adlnet.gov/expapi/verbs/attempted")
    mixed = client.post("/xapi/statements", json=[*batch, extra], headers=xapi_headers)
    assert mixed.status_code == 200
    assert len(rows(database, "SELECT id FROM xapi_statement")) == 3


def test_duplicate_ids_in_one_batch_are_400_and_nothing_is_stored(  # type: ignore[no-untyped-def]
    client, demo_catalog, xapi_headers, database
) -> None:
    first = statement()
    twin = statement(sid=first["id"], account="bo")
    response = client.post("/xapi/statements", json=[first, twin], headers=xapi_headers)
    assert response.status_code == 400
    assert response.json()["type"].endswith("/duplicate-statement-id")
    assert response.headers["x-experience-api-version"] == "1.0.3"
    assert completions(database) == []
    assert rows(database, "SELECT id FROM xapi_statement") == []


def test_one_bad_statement_rejects_the_whole_batch(  # type: ignore[no-untyped-def]
    client, demo_catalog, xapi_headers, database, admin_headers
) -> None:
    good = statement()
    bad = statement(account="bo", scaled=1.5)
    also_good = cmi5_statement(account="cy")
    response = client.post("/xapi/statements", json=[good, bad, also_good], headers=xapi_headers)
    assert response.status_code == 400
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["field"] == "statements[1].result.score.scaled"
    assert "statements[1].result.score.scaled" in problem["detail"]
    assert completions(database) == []
    assert rows(database, "SELECT id FROM xapi_statement") == []
    assert client.get("/v1/learners/ana", headers=admin_headers).status_code == 404


def test_a_failure_after_validation_rolls_back_the_batch(  # type: ignore[no-untyped-def]
    client, demo_catalog, xapi_headers, database
) -> None:
    """The JSON API already used external_id xapi:<id> with other content: the whole batch
    fails with that 409 and nothing of it stays."""
    taken = statement()
    headers = {"Authorization": xapi_headers["Authorization"]}
    json_api = client.post(
        "/v1/completions",
        json={
            "learner_id": "zed",
            "course_id": "policy-101",
            "completed_at": "2026-11-01T10:00:00Z",
            "external_id": f"xapi:{taken['id']}",
        },
        headers=headers,
    )
    assert json_api.status_code == 201
    response = client.post(
        "/xapi/statements", json=[statement(account="bo"), taken], headers=xapi_headers
    )
    assert response.status_code == 409
    assert [c["learner_id"] for c in completions(database)] == ["zed"]
    assert rows(database, "SELECT id FROM xapi_statement") == []


def test_other_verbs_unmapped_activities_voids_and_refs_are_acknowledged(  # type: ignore[no-untyped-def]
    client, demo_catalog, xapi_headers, database
) -> None:
    voided_target = statement(verb="http://adlnet.gov/expapi/verbs/attempted")
    batch = [
        voided_target,
        statement(verb="http://adlnet.gov/expapi/verbs/failed", success=False),
        statement(activity="https://lms.example.com/xapi/activities/unknown"),
        statement(
            verb="http://adlnet.gov/expapi/verbs/voided",
            object={"objectType": "StatementRef", "id": voided_target["id"]},
        ),
        statement(object={"objectType": "StatementRef", "id": str(uuid.uuid4())}),
        statement(account=None, actor={"mbox_sha1sum": "a" * 40}),
        statement(
            account=None,
            actor={"objectType": "Group", "member": [{"mbox": "mailto:a@example.com"}]},
        ),
    ]
    response = client.post("/xapi/statements", json=batch, headers=xapi_headers)
    assert response.status_code == 200, response.text
    assert response.json() == [s["id"] for s in batch]
    assert completions(database) == []
    stored = rows(database, "SELECT outcome, reason FROM xapi_statement")
    assert len(stored) == len(batch)
    assert all(r["outcome"] == "ignored" and r["reason"] for r in stored)

    metrics = client.get("/metrics").text
    for outcome, count in (
        ("ignored_verb", 2),
        ("unmapped_activity", 1),
        ("voided", 1),
        ("ignored_object", 1),
        ("unmapped_actor", 2),
    ):
        assert f'credence_xapi_statements_total{{outcome="{outcome}"}} {count}.0' in metrics


def test_metrics_count_completions_replays_and_rejections(  # type: ignore[no-untyped-def]
    client, demo_catalog, xapi_headers
) -> None:
    one = statement()
    client.post("/xapi/statements", json=one, headers=xapi_headers)
    client.post("/xapi/statements", json=one, headers=xapi_headers)
    client.post("/xapi/statements", json=[statement(), statement(scaled=2)], headers=xapi_headers)
    client.post(
        "/xapi/statements", json={**one, "result": {"success": False}}, headers=xapi_headers
    )
    metrics = client.get("/metrics").text
    assert 'credence_xapi_statements_total{outcome="completion"} 1.0' in metrics
    assert 'credence_xapi_statements_total{outcome="replayed"} 1.0' in metrics
    assert 'credence_xapi_statements_total{outcome="rejected"} 2.0' in metrics
    assert 'credence_xapi_statements_total{outcome="conflict"} 1.0' in metrics


def test_timestamp_becomes_completed_at_and_stored_is_the_fallback(  # type: ignore[no-untyped-def]
    client, demo_catalog, xapi_headers, database
) -> None:
    soon = datetime.now(UTC) + timedelta(minutes=3)
    with_stored = statement(account="bo", timestamp=None, stored="2026-10-01T08:00:00Z")
    near_future = statement(account="cy", timestamp=soon.isoformat())
    response = client.post(
        "/xapi/statements", json=[with_stored, near_future], headers=xapi_headers
    )
    assert response.status_code == 200, response.text
    got = {row["learner_id"]: row["completed_at"] for row in completions(database)}
    assert got["bo"] == datetime(2026, 10, 1, 8, 0, tzinfo=UTC)
    assert abs(got["cy"] - soon) < timedelta(milliseconds=1)
