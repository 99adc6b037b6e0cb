"""GET /v1/learners/{id}/progress: credentials held and, per level, held until when, earnable,
or what is missing (courses with min scores, prerequisite levels)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import REPO

DEMO = REPO / "service" / "catalog" / "demo" / "social-media-program.yaml"
FOUNDATIONS = "social-media/foundations"
PRACTITIONER = "social-media/practitioner"
BLACK_BELT = "social-media/black-belt"


def ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def api(client, admin_headers):  # type: ignore[no-untyped-def]
    client.put(
        "/v1/catalog",
        content=DEMO.read_bytes(),
        headers={**admin_headers, "Content-Type": "application/yaml"},
    )
    return client


def post(client, headers, course: str, at: str, learner: str = "ada", **extra: Any) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/v1/completions",
        json={"learner_id": learner, "course_id": course, "completed_at": at, **extra},
        headers=headers,
    )
    assert response.status_code == 201, response.text


def progress(client, headers, learner: str = "ada", **params: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = client.get(f"/v1/learners/{learner}/progress", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def by_level(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {line["level"]: line for line in body["levels"]}


def test_progress_shows_missing_courses_scores_and_levels(api, admin_headers, make_key) -> None:  # type: ignore[no-untyped-def]
    reader = {"Authorization": f"Bearer {make_key('learners:read')}"}
    post(api, admin_headers, "policy-101", ago(days=5), score=70)
    body = progress(api, reader)
    assert body["credentials"] == []
    assert [line["level"] for line in body["levels"]] == [FOUNDATIONS, PRACTITIONER, BLACK_BELT]
    lines = by_level(body)
    foundations = lines[FOUNDATIONS]
    assert foundations["status"] == "missing"
    assert foundations["missing"]["courses"] == [
        {"course": "policy-101", "min_score": 80},
        {"course": "brand-voice-101", "min_score": None},
    ]
    assert any("70" in reason for reason in foundations["missing"]["reasons"])
    practitioner = lines[PRACTITIONER]["missing"]
    assert practitioner["levels"] == [FOUNDATIONS]
    assert practitioner["electives_needed"] == 2
    assert len(practitioner["electives_from"]) == 4
    black_belt = lines[BLACK_BELT]["missing"]
    assert {"course": "crisis-301", "min_score": 85} in black_belt["courses"]
    assert black_belt["levels"] == [PRACTITIONER]


def test_progress_shows_held_until_and_the_renewal_path(api, admin_headers) -> None:  # type: ignore[no-untyped-def]
    post(api, admin_headers, "policy-101", ago(days=340), score=90)
    post(api, admin_headers, "brand-voice-101", ago(days=340))
    post(api, admin_headers, "disclosure-101", ago(days=3))
    post(api, admin_headers, "community-201", ago(days=3))
    body = progress(api, admin_headers)
    [credential] = body["credentials"]
    assert credential["level"] == FOUNDATIONS
    foundations = by_level(body)[FOUNDATIONS]
    assert foundations["status"] == "held"
    assert foundations["credential_id"] == credential["id"]
    assert foundations["valid_until"] == credential["valid_until"]
    assert foundations["renewable_from"] is not None  # the window opened (valid ~25 more days)
    assert foundations["missing"]["renewal"] is True
    assert foundations["missing"]["courses"] == [{"course": "policy-refresher", "min_score": None}]
    practitioner = by_level(body)[PRACTITIONER]
    assert practitioner["status"] == "missing"
    assert practitioner["missing"]["levels"] == []
    assert practitioner["missing"]["electives_needed"] == 1
    assert "community-201" not in practitioner["missing"]["electives_from"]

    # As of a year ago nothing was held yet.
    past = progress(api, admin_headers, at=ago(days=365))
    assert by_level(past)[FOUNDATIONS]["status"] == "missing"


def test_progress_shows_earnable_after_a_catalog_change_until_re_evaluation(  # type: ignore[no-untyped-def]
    api, admin_headers
) -> None:
    post(api, admin_headers, "policy-101", ago(days=9), score=70)
    post(api, admin_headers, "brand-voice-101", ago(days=9))
    assert by_level(progress(api, admin_headers))[FOUNDATIONS]["status"] == "missing"
    relaxed = DEMO.read_text().replace(
        "{course: policy-101, min_score: 80}", "{course: policy-101, min_score: 60}"
    )
    applied = api.put(
        "/v1/catalog",
        content=relaxed,
        headers={**admin_headers, "Content-Type": "application/yaml"},
    )
    assert applied.status_code == 200 and applied.json()["summary"]["changed"] >= 1
    body = progress(api, admin_headers)
    assert by_level(body)[FOUNDATIONS]["status"] == "earnable"  # a catalog change issues nothing
    assert body["credentials"] == []
    report = api.post("/v1/levels/social-media/foundations/evaluate", headers=admin_headers)
    assert report.status_code == 200, report.text
    assert report.json()["credentials_issued"] == 1
    held = progress(api, admin_headers)
    assert by_level(held)[FOUNDATIONS]["status"] == "held"
    assert held["credentials"][0]["level_version"] == 2


def test_progress_after_revocation(api, admin_headers) -> None:  # type: ignore[no-untyped-def]
    post(api, admin_headers, "policy-101", ago(days=9), score=90)
    post(api, admin_headers, "brand-voice-101", ago(days=9))
    body = progress(api, admin_headers)
    assert by_level(body)[FOUNDATIONS]["status"] == "held"
    # Revoke: the completions before the revocation no longer count, so it is missing again.
    cid = body["credentials"][0]["id"]
    assert api.post(f"/v1/credentials/{cid}/revoke", headers=admin_headers).status_code == 200
    after = progress(api, admin_headers)
    assert after["credentials"] == []
    assert by_level(after)[FOUNDATIONS]["status"] == "missing"
    assert any("revoked" in r for r in by_level(after)[FOUNDATIONS]["missing"]["reasons"])


def test_suspended_level_is_reported(api, admin_headers) -> None:  # type: ignore[no-untyped-def]
    post(api, admin_headers, "policy-101", ago(days=9), score=90)
    post(api, admin_headers, "brand-voice-101", ago(days=9))
    cid = progress(api, admin_headers)["credentials"][0]["id"]
    api.post(f"/v1/credentials/{cid}/suspend", headers=admin_headers)
    body = progress(api, admin_headers)
    assert by_level(body)[FOUNDATIONS]["status"] == "suspended"
    assert body["credentials"][0]["status"] == "suspended"


def test_progress_errors(api, admin_headers, make_key) -> None:  # type: ignore[no-untyped-def]
    assert api.get("/v1/learners/nobody/progress", headers=admin_headers).status_code == 404
    writer = {"Authorization": f"Bearer {make_key('completions:write')}"}
    assert api.get("/v1/learners/nobody/progress", headers=writer).status_code == 403
    post(api, admin_headers, "policy-101", ago(days=1), score=90)
    naive = api.get(
        "/v1/learners/ada/progress", params={"at": "2026-01-01T00:00:00"}, headers=admin_headers
    )
    assert naive.status_code == 400
    assert naive.headers["content-type"] == "application/problem+json"
