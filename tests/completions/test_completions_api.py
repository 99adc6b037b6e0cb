"""Completions API: idempotent on (client, external_id), validated, batches report per item."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import REPO

DEMO = REPO / "service" / "catalog" / "demo" / "social-media-program.yaml"
TABLES = ("completion", "credential", "audit_event", "learner", "status_slot")


def ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def lms(client, admin_headers, make_key) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Headers of an LMS client (completions:write only), with the demo catalog applied."""
    applied = client.put(
        "/v1/catalog",
        content=DEMO.read_bytes(),
        headers={**admin_headers, "Content-Type": "application/yaml"},
    )
    assert applied.status_code == 200, applied.text
    return {"Authorization": f"Bearer {make_key('completions:write', name='lms')}"}


def counts(database) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with database.engine.connect() as connection:
        return {
            t: connection.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in TABLES
        }


# One moment for the whole module: a body built twice must be the same body (idempotency), even
# when the clock ticks over a second between the two.
THREE_DAYS_AGO = ago(days=3)


def body(course: str = "policy-101", **extra: Any) -> dict[str, Any]:
    return {
        "learner_id": "ada",
        "course_id": course,
        "completed_at": THREE_DAYS_AGO,
        "score": 91,
        **extra,
    }


def test_a_completion_is_stored_and_the_learner_created_on_first_mention(  # type: ignore[no-untyped-def]
    client, lms, admin_headers
) -> None:
    learner = {"email": "Ada@Example.com", "name": "Ada", "attributes": {"region": "EU"}}
    response = client.post("/v1/completions", json=body(learner=learner), headers=lms)
    assert response.status_code == 201, response.text
    stored = response.json()["completion"]
    assert stored["course_id"] == "policy-101" and stored["score"] == 91 and stored["passed"]
    assert stored["source"] == lms["Authorization"].split("_")[1]
    got = client.get("/v1/learners/ada", headers=admin_headers).json()
    assert got["email"] == "ada@example.com" and got["attributes"] == {"region": "EU"}


def test_same_body_again_replays_the_original_result_and_writes_nothing(  # type: ignore[no-untyped-def]
    client, lms, database
) -> None:
    client.post("/v1/completions", json=body(external_id="lms-1"), headers=lms)
    second = body("brand-voice-101", external_id="lms-2")
    first = client.post("/v1/completions", json=second, headers=lms)
    assert first.status_code == 201 and len(first.json()["issued"]) == 1
    before = counts(database)

    replay = client.post("/v1/completions", json=second, headers=lms)
    assert replay.status_code == 200
    assert replay.json() == first.json()  # the original completion and the credential it issued
    assert counts(database) == before

    conflict = client.post(
        "/v1/completions", json={**second, "score": 50, "passed": False}, headers=lms
    )
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == "application/problem+json"
    assert conflict.json()["type"].endswith("/idempotency-conflict")
    assert conflict.json()["completion_id"] == first.json()["completion"]["id"]
    assert counts(database) == before


def test_external_ids_are_per_client(client, lms, make_key, database) -> None:  # type: ignore[no-untyped-def]
    other = {"Authorization": f"Bearer {make_key('completions:write', name='hr')}"}
    assert (
        client.post("/v1/completions", json=body(external_id="x"), headers=lms).status_code == 201
    )
    different = body("disclosure-101", external_id="x")
    assert client.post("/v1/completions", json=different, headers=other).status_code == 201
    assert counts(database)["completion"] == 2


def test_unknown_course_is_422_naming_it_and_writes_nothing(client, lms, database) -> None:  # type: ignore[no-untyped-def]
    before = counts(database)
    response = client.post("/v1/completions", json=body("underwater-basket-9"), headers=lms)
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("/unknown-course")
    assert "underwater-basket-9" in problem["detail"]
    assert problem["course_id"] == "underwater-basket-9"
    assert counts(database) == before


def test_completed_at_in_the_future_is_422_small_skew_allowed(client, lms, database) -> None:  # type: ignore[no-untyped-def]
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    response = client.post("/v1/completions", json=body(completed_at=future), headers=lms)
    assert response.status_code == 422
    assert "future" in response.json()["detail"]
    assert counts(database)["completion"] == 0
    skewed = (datetime.now(UTC) + timedelta(seconds=30)).isoformat()
    assert (
        client.post("/v1/completions", json=body(completed_at=skewed), headers=lms).status_code
        == 201
    )


@pytest.mark.parametrize(
    ("change", "location"),
    [
        ({"completed_at": "2026-01-01T10:00:00"}, "body.completed_at"),
        ({"score": 101}, "body.score"),
        ({"course_id": "Not A Slug!"}, "body.course_id"),
        ({"surprise": True}, "body.surprise"),
    ],
)
def test_junk_is_422_problem(client, lms, change, location, database) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/v1/completions", json=body(**change), headers=lms)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    if location != "body.completed_at":  # a naive time is refused by the service (422 too)
        assert response.json()["errors"][0]["location"] == location
    assert counts(database)["completion"] == 0


def test_scope_is_required(client, lms, make_key) -> None:  # type: ignore[no-untyped-def]
    reader = {"Authorization": f"Bearer {make_key('credentials:read')}"}
    assert client.post("/v1/completions", json=body(), headers=reader).status_code == 403
    assert client.post("/v1/completions", json=body()).status_code == 401


def test_batch_keeps_good_items_and_reports_each_in_order(client, lms, database) -> None:  # type: ignore[no-untyped-def]
    client.post("/v1/completions", json=body("policy-101", external_id="b-0"), headers=lms)
    items = [
        body("policy-101", external_id="b-0"),  # replay of an earlier post
        body("brand-voice-101", external_id="b-1"),  # earns Foundations
        body("no-such-course", external_id="b-2"),
        {"learner_id": "ada", "course_id": "disclosure-101"},  # completed_at missing
        body("disclosure-101", learner_id="bo", external_id="b-4"),
        body("disclosure-101", learner_id="bo", external_id="b-4", score=12),  # conflict
        body("disclosure-101", learner_id="bo", external_id="b-4"),  # replay inside the batch
        body("community-201", completed_at=ago(days=-1)),  # future
    ]
    response = client.post("/v1/completions/batch", json={"items": items}, headers=lms)
    assert response.status_code == 200, response.text
    result = response.json()
    assert [i["index"] for i in result["items"]] == list(range(len(items)))
    assert [i["status"] for i in result["items"]] == [200, 201, 422, 422, 201, 409, 200, 422]
    assert (result["stored"], result["replayed"], result["rejected"]) == (2, 2, 4)
    assert [c["level"] for c in result["items"][1]["issued"]] == ["social-media/foundations"]
    assert "no-such-course" in result["items"][2]["problem"]["detail"]
    assert result["items"][3]["problem"]["errors"][0]["location"] == "completed_at"
    assert result["items"][5]["problem"]["type"].endswith("/idempotency-conflict")
    assert counts(database)["completion"] == 3
    assert counts(database)["credential"] == 1


def test_batch_limits(client, lms) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/v1/completions/batch", json={"items": []}, headers=lms).status_code == 422
    too_many = {"items": [body(external_id=str(i)) for i in range(1001)]}
    assert client.post("/v1/completions/batch", json=too_many, headers=lms).status_code in (
        413,
        422,
    )


def test_batch_replay_returns_the_same_results_and_writes_nothing(client, lms, database) -> None:  # type: ignore[no-untyped-def]
    items = [
        body(course, learner_id=f"l{n % 3}", external_id=f"r-{n}")
        for n, course in enumerate(["policy-101", "brand-voice-101"] * 6)
    ]
    first = client.post("/v1/completions/batch", json={"items": items}, headers=lms).json()
    assert first["stored"] == 12
    assert sum(len(i["issued"]) for i in first["items"]) == 3
    before = counts(database)
    again = client.post("/v1/completions/batch", json={"items": items}, headers=lms).json()
    assert again["replayed"] == 12
    assert [i["completion"] for i in again["items"]] == [i["completion"] for i in first["items"]]
    assert [i["issued"] for i in again["items"]] == [i["issued"] for i in first["items"]]
    assert counts(database) == before
