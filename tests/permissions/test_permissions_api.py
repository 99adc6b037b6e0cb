"""GET/POST /v1/permissions/check on the demo catalog: every branch of the decision semantics,
as a publishing tool sees it (status codes, reasons, granted_by, valid_until, missing)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from tests.permissions.conftest import (
    BLACK_BELT,
    DEMO,
    FOUNDATIONS,
    PRACTITIONER,
    Demo,
    days_ago,
    iso,
)


def moment(text_value: str) -> datetime:
    return datetime.fromisoformat(text_value.replace("Z", "+00:00"))


def missing_levels(decision: dict[str, Any]) -> list[str]:
    return [m["level"] for m in decision["missing"]]


# --- single level, all_of, any_of, nested with attributes -------------------------------------


def test_a_level_grants_with_its_credential_and_lapses_when_it_expires(demo: Demo) -> None:
    foundations = demo.earn("ana", FOUNDATIONS, days_ago(30))
    decision = demo.check("ana", "post-on-brand-accounts")
    assert decision["allowed"] is True
    assert decision["learner_id"] == "ana" and decision["program"] == "post-on-brand-accounts"
    assert decision["granted_by"] == [foundations["id"]]
    assert moment(decision["valid_until"]) == moment(foundations["valid_until"])
    assert decision["reasons"][0].startswith("Holds Social Media Foundations (valid until ")
    assert decision["missing"] == []


def test_all_of_needs_practitioner_and_lists_the_courses_still_missing(demo: Demo) -> None:
    demo.earn("ana", FOUNDATIONS, days_ago(30))
    demo.complete("ana", "disclosure-101", days_ago(5))
    denied = demo.check("ana", "run-paid-campaigns")
    assert denied["allowed"] is False
    assert denied["reasons"] == ["Social Media Practitioner has not been earned"]
    assert denied["granted_by"] == [] and denied["valid_until"] is None
    (missing,) = denied["missing"]
    assert missing["level"] == PRACTITIONER
    assert missing["courses"] == []  # disclosure-101 is done
    assert missing["electives_needed"] == 2
    assert set(missing["electives_from"]) == {
        "community-201",
        "analytics-201",
        "paid-social-201",
        "live-events-201",
    }
    assert missing["levels"] == []

    issued = demo.complete("ana", "community-201", days_ago(4))
    issued += demo.complete("ana", "paid-social-201", days_ago(3))
    practitioner = next(c for c in issued if c["level"] == PRACTITIONER)
    allowed = demo.check("ana", "run-paid-campaigns")
    assert allowed["allowed"] is True
    assert allowed["granted_by"][0] == practitioner["id"] and len(allowed["granted_by"]) == 2
    # The allow lapses with Foundations (1 year), before Practitioner's own 2 years.
    assert moment(allowed["valid_until"]) < moment(practitioner["valid_until"])
    assert "when Social Media Foundations expires" in allowed["reasons"][0]


def test_any_of_is_granted_by_either_level_and_denied_with_every_reason(demo: Demo) -> None:
    demo.earn("ana", FOUNDATIONS, days_ago(30))
    denied = demo.check("ana", "host-live-events")
    assert denied["allowed"] is False
    assert denied["reasons"] == [
        "Social Media Practitioner has not been earned",
        "Social Media Black Belt has not been earned",
    ]
    assert missing_levels(denied) == [PRACTITIONER, BLACK_BELT]
    black_belt_missing = denied["missing"][1]
    assert [c["course"] for c in black_belt_missing["courses"]] == [
        "crisis-301",
        "legal-301",
        "mentoring-301",
    ]
    assert black_belt_missing["courses"][0]["min_score"] == 85
    assert black_belt_missing["levels"] == [PRACTITIONER]

    demo.earn("ana", PRACTITIONER, days_ago(20))
    assert demo.check("ana", "host-live-events")["allowed"] is True


def test_nested_all_of_with_an_attribute_condition_follows_the_attribute_history(
    demo: Demo,
) -> None:
    since = {"attributes": {"region": "EU"}, "attributes_effective_at": iso(days_ago(90))}
    assert demo.client.put("/v1/learners/ana", json=since, headers=demo.admin).status_code == 201
    demo.earn_up_to("ana", BLACK_BELT, days_ago(60))
    allowed = demo.check("ana", "respond-to-crisis")
    assert allowed["allowed"] is True
    assert "Learner's region is EU, one of EU, UK, US" in allowed["reasons"]
    assert len(allowed["granted_by"]) == 3

    moved = days_ago(10)
    response = demo.client.put(
        "/v1/learners/ana",
        json={"attributes": {"region": "APAC"}, "attributes_effective_at": iso(moved)},
        headers=demo.admin,
    )
    assert response.status_code == 200, response.text
    denied = demo.check("ana", "respond-to-crisis")
    assert denied["allowed"] is False
    assert denied["reasons"] == ["Requires region in EU, UK, US; learner's region is APAC"]
    assert denied["missing"] == []  # no level is missing: the attribute is
    # As things stood before the move, she was allowed.
    assert demo.check("ana", "respond-to-crisis", at=moved - timedelta(days=1))["allowed"]


def test_a_learner_without_the_attribute_is_told_so(demo: Demo) -> None:
    demo.earn_up_to("bo", BLACK_BELT, days_ago(60))
    demo.client.put("/v1/learners/bo", json={"attributes": {}}, headers=demo.admin)
    denied = demo.check("bo", "respond-to-crisis")
    assert denied["reasons"] == ["Requires region in EU, UK, US; learner has no region"]


# --- expiry, revocation, suspension ------------------------------------------------------------


def test_an_expired_credential_grants_nothing_and_says_when_it_expired(demo: Demo) -> None:
    foundations = demo.earn("old", FOUNDATIONS, days_ago(500))  # P1Y: expired ~135 days ago
    denied = demo.check("old", "post-on-brand-accounts")
    assert denied["allowed"] is False
    expired_on = moment(foundations["valid_until"]).date().isoformat()
    assert denied["reasons"] == [f"Social Media Foundations expired on {expired_on}"]
    assert missing_levels(denied) == [FOUNDATIONS]
    assert {c["course"] for c in denied["missing"][0]["courses"]} == {
        "policy-101",
        "brand-voice-101",
    }
    # While it was valid, it granted.
    assert demo.check("old", "post-on-brand-accounts", at=days_ago(400))["allowed"] is True


def test_an_expired_prerequisite_stops_a_higher_level_until_renewed(demo: Demo) -> None:
    foundations = demo.earn("eva", FOUNDATIONS, days_ago(420))  # expired ~55 days ago
    practitioner = demo.earn("eva", PRACTITIONER, days_ago(400))  # P2Y: still valid itself
    assert moment(practitioner["valid_until"]) > days_ago(0)
    denied = demo.check("eva", "run-paid-campaigns")
    assert denied["allowed"] is False
    expired_on = moment(foundations["valid_until"]).date().isoformat()
    assert denied["reasons"] == [
        "Social Media Practitioner is held but does not count: its prerequisite "
        f"Social Media Foundations expired on {expired_on}",
        "Social Media Practitioner grants nothing until Social Media Foundations is renewed",
    ]
    assert missing_levels(denied) == [PRACTITIONER, FOUNDATIONS]
    assert denied["missing"][0]["levels"] == [FOUNDATIONS]

    demo.earn("eva", FOUNDATIONS, days_ago(1))  # renewed: Practitioner counts again
    renewed = demo.check("eva", "run-paid-campaigns")
    assert renewed["allowed"] is True
    assert practitioner["id"] in renewed["granted_by"]


def test_a_revoked_credential_denies_now_but_not_before_its_revocation(demo: Demo) -> None:
    foundations = demo.earn("ana", FOUNDATIONS, days_ago(30))
    before = days_ago(1)
    revoked = demo.status(foundations["id"], "revoke")
    denied = demo.check("ana", "post-on-brand-accounts")
    assert denied["allowed"] is False
    revoked_on = moment(revoked["status_changed_at"]).date().isoformat()
    assert denied["reasons"] == [f"Social Media Foundations was revoked on {revoked_on}"]
    # An auditor asking about yesterday gets the answer as it stood then.
    then = demo.check("ana", "post-on-brand-accounts", at=before)
    assert then["allowed"] is True and then["granted_by"] == [foundations["id"]]
    assert moment(then["at"]) == before


def test_a_revoked_prerequisite_disables_the_levels_above(demo: Demo) -> None:
    held = demo.earn_up_to("ana", BLACK_BELT, days_ago(30))
    demo.status(held[FOUNDATIONS]["id"], "revoke")
    denied = demo.check("ana", "host-live-events")
    assert denied["allowed"] is False
    assert (
        "Social Media Practitioner grants nothing until Social Media Foundations is earned again"
        in denied["reasons"]
    )
    assert FOUNDATIONS in missing_levels(denied)


def test_a_suspended_then_reinstated_credential_grants_again_but_not_during_suspension(
    demo: Demo,
) -> None:
    foundations = demo.earn("ana", FOUNDATIONS, days_ago(30))
    suspended = demo.status(foundations["id"], "suspend")
    denied = demo.check("ana", "post-on-brand-accounts")
    assert denied["allowed"] is False
    since = moment(suspended["status_changed_at"]).date().isoformat()
    assert denied["reasons"] == [f"Social Media Foundations has been suspended since {since}"]
    time.sleep(0.05)
    reinstated = demo.status(foundations["id"], "reinstate")
    assert demo.check("ana", "post-on-brand-accounts")["allowed"] is True

    start = moment(suspended["status_changed_at"])
    end = moment(reinstated["status_changed_at"])
    during = start + (end - start) / 2
    assert demo.check("ana", "post-on-brand-accounts", at=during)["allowed"] is False
    assert demo.check("ana", "post-on-brand-accounts", at=start - timedelta(seconds=1))["allowed"]


def test_at_before_the_credential_was_earned_denies(demo: Demo) -> None:
    demo.earn("ana", FOUNDATIONS, days_ago(30))
    denied = demo.check("ana", "post-on-brand-accounts", at=days_ago(31))
    assert denied["allowed"] is False
    # The credential did not exist yet: it explains nothing (test_past_explanations.py).
    assert denied["reasons"] == ["Social Media Foundations has not been earned"]


# --- unknown learner and program, bad input, auth ---------------------------------------------


def test_an_unknown_learner_is_a_normal_deny_listing_everything_needed(demo: Demo) -> None:
    denied = demo.check("nobody", "run-paid-campaigns")
    assert denied["allowed"] is False
    assert denied["reasons"][0] == "Learner nobody is not known to Credence"
    assert missing_levels(denied) == [PRACTITIONER, FOUNDATIONS]
    assert denied["missing"][1]["courses"] == [
        {"course": "policy-101", "min_score": 80.0},
        {"course": "brand-voice-101", "min_score": None},
    ]


def test_a_known_learner_with_nothing_earned_is_not_called_unknown(demo: Demo) -> None:
    demo.complete("new", "policy-101", days_ago(1), score=50)
    denied = demo.check("new", "post-on-brand-accounts")
    assert denied["reasons"] == ["Social Media Foundations has not been earned"]
    assert denied["missing"][0]["courses"][0]["course"] == "policy-101"  # 50 < 80


def test_an_unknown_program_is_a_404_problem(demo: Demo) -> None:
    response = demo.client.get(
        "/v1/permissions/check",
        params={"learner_id": "ana", "program": "launch-rockets"},
        headers=demo.checker,
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "launch-rockets" in response.json()["detail"]


def test_bad_parameters_are_422_problems(demo: Demo) -> None:
    for params in (
        {"learner_id": "ana", "program": "post-on-brand-accounts", "at": "2026-03-03T10:00:00"},
        {"learner_id": "ana", "program": "post-on-brand-accounts", "at": "yesterday"},
        {"learner_id": "has space", "program": "post-on-brand-accounts"},
        {"learner_id": "ana", "program": "Not A Slug"},
        {"learner_id": "ana"},
    ):
        response = demo.client.get("/v1/permissions/check", params=params, headers=demo.checker)
        assert response.status_code == 422, params
        assert response.headers["content-type"] == "application/problem+json"


def test_keys_are_checked_and_a_revoked_key_fails_on_the_next_check(demo: Demo, make_key) -> None:  # type: ignore[no-untyped-def]
    params = {"learner_id": "ana", "program": "post-on-brand-accounts"}
    url = "/v1/permissions/check"
    assert demo.client.get(url, params=params).status_code == 401
    bad = {"Authorization": "Bearer cred_0123456789_" + "x" * 43}
    assert demo.client.get(url, params=params, headers=bad).status_code == 401
    wrong = {"Authorization": f"Bearer {make_key('catalog:read')}"}
    forbidden = demo.client.get(url, params=params, headers=wrong)
    assert forbidden.status_code == 403
    assert forbidden.json()["required_scope"] == "permissions:check"

    created = demo.client.post(
        "/v1/api-clients",
        json={"name": "publisher", "scopes": ["permissions:check"]},
        headers=demo.admin,
    ).json()
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert demo.client.get(url, params=params, headers=headers).status_code == 200
    revoked = demo.client.delete(f"/v1/api-clients/{created['prefix']}", headers=demo.admin)
    assert revoked.status_code == 200
    assert demo.client.get(url, params=params, headers=headers).status_code == 401


# --- batch -------------------------------------------------------------------------------------


def test_batch_answers_in_order_with_per_check_times(demo: Demo) -> None:
    foundations = demo.earn("ana", FOUNDATIONS, days_ago(30))
    demo.status(foundations["id"], "revoke")
    demo.earn_up_to("bo", PRACTITIONER, days_ago(30))
    checks = [
        {"learner_id": "ana", "program": "post-on-brand-accounts"},
        {"learner_id": "bo", "program": "run-paid-campaigns"},
        {"learner_id": "ana", "program": "post-on-brand-accounts", "at": iso(days_ago(1))},
        {"learner_id": "nobody", "program": "host-live-events"},
        {"learner_id": "bo", "program": "respond-to-crisis"},
    ]
    response = demo.client.post(
        "/v1/permissions/check", json={"checks": checks}, headers=demo.checker
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["allowed"] for r in results] == [False, True, True, False, False]
    assert [(r["learner_id"], r["program"]) for r in results] == [
        (c["learner_id"], c["program"]) for c in checks
    ]
    assert results[3]["reasons"][0] == "Learner nobody is not known to Credence"
    assert missing_levels(results[4]) == [BLACK_BELT]
    # Each result matches the single check.
    single = demo.check("bo", "run-paid-campaigns")
    assert {k: v for k, v in single.items() if k != "at"} == {
        k: v for k, v in results[1].items() if k != "at"
    }


def test_batch_limits_and_unknown_programs(demo: Demo) -> None:
    url = "/v1/permissions/check"
    check = {"learner_id": "ana", "program": "post-on-brand-accounts"}
    too_many = demo.client.post(url, json={"checks": [check] * 1001}, headers=demo.checker)
    assert too_many.status_code == 422
    assert demo.client.post(url, json={"checks": []}, headers=demo.checker).status_code == 422
    full = demo.client.post(url, json={"checks": [check] * 1000}, headers=demo.checker)
    assert full.status_code == 200 and len(full.json()["results"]) == 1000
    unknown = demo.client.post(
        url,
        json={"checks": [check, {"learner_id": "ana", "program": "launch-rockets"}]},
        headers=demo.checker,
    )
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["location"] == "checks.1.program"
    malformed = demo.client.post(
        url, content=b"{not json", headers={**demo.checker, "Content-Type": "application/json"}
    )
    assert malformed.status_code == 400


# --- metrics, not audit ------------------------------------------------------------------------


def test_decisions_are_counted_per_program_and_not_audited(demo: Demo, database) -> None:  # type: ignore[no-untyped-def]
    demo.earn("ana", FOUNDATIONS, days_ago(30))
    with database.engine.connect() as connection:
        events_before = connection.execute(text("SELECT count(*) FROM audit_event")).scalar()
    for _ in range(3):
        demo.check("ana", "post-on-brand-accounts")
    demo.check("ana", "run-paid-campaigns")
    demo.client.get(
        "/v1/permissions/check",
        params={"learner_id": "ana", "program": "launch-rockets"},
        headers=demo.checker,
    )
    with database.engine.connect() as connection:
        events_after = connection.execute(text("SELECT count(*) FROM audit_event")).scalar()
    assert events_after == events_before
    metrics = demo.client.get("/metrics").text
    assert (
        'credence_permission_decisions_total{decision="allow",program="post-on-brand-accounts"}'
        " 3.0" in metrics
    )
    assert (
        'credence_permission_decisions_total{decision="deny",program="run-paid-campaigns"} 1.0'
        in metrics
    )
    assert "launch-rockets" not in metrics.split("credence_permission_decisions_total")[-1]
    # ana, asked about four times, is kept (the model of the cache decides after 100,000 asks)
    assert "\ncredence_permission_cache_learners 1.0\n" in metrics
    assert "\ncredence_permission_cache_keeping 1.0\n" in metrics


def test_a_catalog_change_is_seen_by_the_next_check(demo: Demo) -> None:
    demo.earn("ana", FOUNDATIONS, days_ago(30))
    assert demo.check("ana", "run-paid-campaigns")["allowed"] is False
    relaxed = DEMO.read_text().replace(
        "requires: {all_of: [social-media/practitioner]}",
        "requires: {any_of: [social-media/practitioner, social-media/foundations]}",
    )
    applied = demo.client.put(
        "/v1/catalog", content=relaxed, headers={**demo.admin, "Content-Type": "application/yaml"}
    )
    assert applied.status_code == 200, applied.text
    assert demo.check("ana", "run-paid-campaigns")["allowed"] is True


def test_checks_that_arrive_together_after_a_catalog_change_read_it_once(demo: Demo) -> None:
    """The first checks of a catalog revision the process has not seen read it in one worker
    thread; those arriving meanwhile wait for that read instead of each compiling the catalog
    in a thread of its own."""
    permissions = demo.client.app.state.permissions  # type: ignore[attr-defined]
    changed = DEMO.read_text().replace("Post on company-branded accounts", "Post for the brand")
    assert changed != DEMO.read_text()
    applied = demo.client.put(
        "/v1/catalog", content=changed, headers={**demo.admin, "Content-Type": "application/yaml"}
    )
    assert applied.status_code == 200, applied.text
    reads: list[int] = []
    read = permissions.catalog

    def counted(revision: int) -> Any:
        reads.append(revision)
        time.sleep(0.2)  # a slow read: the other checks arrive while it runs
        return read(revision)

    permissions.catalog = counted
    try:
        answers: list[int] = []

        def check() -> None:
            answer = demo.client.get(
                "/v1/permissions/check",
                params={"learner_id": "ana", "program": "post-on-brand-accounts"},
                headers=demo.checker,
            )
            answers.append(answer.status_code)

        threads = [threading.Thread(target=check) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        del permissions.catalog
    assert answers == [200] * 8
    assert len(reads) == 1, reads
