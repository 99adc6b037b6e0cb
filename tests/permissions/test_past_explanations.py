"""Issue 18, "explanations in the past": a decision at a past ``at`` — and its reasons, missing
levels and courses — and the learner's progress at ``at`` use only what existed then."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.permissions.conftest import FOUNDATIONS, PRACTITIONER, Demo, days_ago, iso

FOUNDATION_COURSES = [
    {"course": "policy-101", "min_score": 80.0},
    {"course": "brand-voice-101", "min_score": None},
]


def moment(text_value: str) -> datetime:
    return datetime.fromisoformat(text_value.replace("Z", "+00:00"))


def every_door(demo: Demo, learner: str, program: str, at: datetime) -> list[dict[str, Any]]:
    """The same question through the single check, the batch, and AuthZEN (its context)."""
    single = demo.check(learner, program, at)
    batch = demo.client.post(
        "/v1/permissions/check",
        json={"checks": [{"learner_id": learner, "program": program, "at": iso(at)}]},
        headers=demo.checker,
    )
    assert batch.status_code == 200, batch.text
    authzen = demo.client.post(
        "/access/v1/evaluation",
        json={
            "subject": {"type": "user", "id": learner},
            "action": {"name": "run"},
            "resource": {"type": "program", "id": program},
            "context": {"time": iso(at)},
        },
        headers=demo.checker,
    )
    assert authzen.status_code == 200, authzen.text
    context = authzen.json()["context"]
    context["allowed"] = authzen.json()["decision"]
    context.pop("reason_admin")
    return [single, batch.json()["results"][0], context]


def progress(demo: Demo, learner: str, at: datetime | None = None) -> dict[str, Any]:
    params = {"at": iso(at)} if at is not None else {}
    response = demo.client.get(
        f"/v1/learners/{learner}/progress", params=params, headers=demo.admin
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_before_the_learners_completions_the_level_had_not_been_earned(demo: Demo) -> None:
    """Not "is not valid until <the later credential's date>" with no courses missing."""
    demo.earn("ana", FOUNDATIONS, days_ago(30))
    for answer in every_door(demo, "ana", "post-on-brand-accounts", days_ago(31)):
        assert answer["allowed"] is False
        assert answer["reasons"] == ["Social Media Foundations has not been earned"]
        (missing,) = answer["missing"]
        assert missing["level"] == FOUNDATIONS
        assert missing["courses"] == FOUNDATION_COURSES


def test_inside_the_old_grace_period_the_renewal_course_is_missing(demo: Demo) -> None:
    """Foundations (P1Y, renewal window P60D, grace P30D) expired ~135 days ago and was earned
    again 50 days ago: 120 days ago the renewal course alone would have renewed it."""
    old = demo.earn("eva", FOUNDATIONS, days_ago(500))
    demo.earn("eva", FOUNDATIONS, days_ago(50))
    expired_on = moment(old["valid_until"]).date().isoformat()
    for answer in every_door(demo, "eva", "post-on-brand-accounts", days_ago(120)):
        assert answer["allowed"] is False
        assert answer["reasons"] == [f"Social Media Foundations expired on {expired_on}"]
        (missing,) = answer["missing"]
        assert missing["courses"] == [{"course": "policy-refresher", "min_score": None}]
    # Now, and after the grace period, the full courses are what was needed.
    past_grace = demo.check("eva", "post-on-brand-accounts", days_ago(90))
    assert past_grace["missing"][0]["courses"] == FOUNDATION_COURSES


def test_a_revocation_after_at_does_not_change_what_was_missing_at_at(demo: Demo) -> None:
    """Foundations was held 1 day ago (revoked since): Practitioner needed courses only."""
    foundations = demo.earn("ana", FOUNDATIONS, days_ago(30))
    demo.complete("ana", "disclosure-101", days_ago(5))
    yesterday = days_ago(1)
    demo.status(foundations["id"], "revoke")
    for answer in every_door(demo, "ana", "run-paid-campaigns", yesterday):
        assert answer["allowed"] is False
        assert answer["reasons"] == ["Social Media Practitioner has not been earned"]
        (missing,) = answer["missing"]
        assert missing["level"] == PRACTITIONER
        assert missing["levels"] == []  # Foundations was held then
        assert missing["electives_needed"] == 2
    now = demo.check("ana", "run-paid-campaigns")
    assert [m["level"] for m in now["missing"]] == [PRACTITIONER, FOUNDATIONS]


def test_progress_at_a_past_time_lists_only_what_existed_then(demo: Demo) -> None:
    foundations = demo.earn("ana", FOUNDATIONS, days_ago(30))
    before = progress(demo, "ana", days_ago(31))
    assert before["credentials"] == []
    line = before["levels"][0]
    assert line["level"] == FOUNDATIONS and line["status"] == "missing"
    assert line["missing"] is not None
    assert line["missing"]["courses"] == FOUNDATION_COURSES

    after = progress(demo, "ana", days_ago(29))
    assert [c["id"] for c in after["credentials"]] == [foundations["id"]]
    assert after["levels"][0]["status"] == "held"


def test_progress_at_a_past_time_uses_the_status_then(demo: Demo) -> None:
    foundations = demo.earn("ana", FOUNDATIONS, days_ago(30))
    demo.status(foundations["id"], "suspend")
    suspended = progress(demo, "ana")
    assert suspended["credentials"][0]["status"] == "suspended"
    assert suspended["levels"][0]["status"] == "suspended"

    before = progress(demo, "ana", days_ago(1))
    (credential,) = before["credentials"]
    assert credential["id"] == foundations["id"] and credential["status"] == "active"
    assert before["levels"][0]["status"] == "held"

    demo.status(foundations["id"], "revoke")
    assert progress(demo, "ana")["credentials"] == []
    still = progress(demo, "ana", days_ago(1))
    assert [c["status"] for c in still["credentials"]] == ["active"]
    assert still["levels"][0]["status"] == "held"


def test_progress_before_a_renewal_shows_the_credential_held_then(demo: Demo) -> None:
    old = demo.earn("eva", FOUNDATIONS, days_ago(350))  # window opens 60 days before expiry
    demo.complete("eva", "policy-refresher", days_ago(10))  # renewed: the old one superseded
    renewed = progress(demo, "eva")
    assert [c["id"] for c in renewed["credentials"]] != [old["id"]]
    before = progress(demo, "eva", days_ago(20))
    (credential,) = before["credentials"]
    assert credential["id"] == old["id"] and credential["superseded_by"] is None
    line = before["levels"][0]
    assert line["status"] == "held" and line["credential_id"] == old["id"]
    assert line["missing"]["courses"] == [{"course": "policy-refresher", "min_score": None}]
