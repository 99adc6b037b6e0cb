"""OpenID AuthZEN 1.0 on the demo catalog: evaluation, evaluations (defaults and the three
semantics), discovery, errors and X-Request-ID. Bodies validate against the spec's schemas."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.permissions.conftest import FOUNDATIONS, PRACTITIONER, Demo, days_ago, iso
from tests.reference import reference_json


@functools.cache
def spec_validator(kind: str) -> Draft202012Validator:
    """The AuthZEN spec's JSON Schema for a ``request`` or ``response`` (reference files: the
    tests that validate against them skip when they are absent)."""
    return Draft202012Validator(reference_json(f"authzen_evaluation-{kind}.schema.json"))


def evaluation(learner: str, program: str, **extra: Any) -> dict[str, Any]:
    body = {
        "subject": {"type": "user", "id": learner},
        "action": {"name": "run"},
        "resource": {"type": "program", "id": program},
        **extra,
    }
    spec_validator("request").validate(body)
    return body


def post(demo: Demo, path: str, body: Any, **headers: str) -> Any:
    return demo.client.post(path, json=body, headers={**demo.checker, **headers})


def decided(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    spec_validator("response").validate(body)
    return body


@pytest.fixture
def people(demo: Demo) -> Demo:
    """ana holds Foundations; bo holds Practitioner too; cy's Foundations was revoked today."""
    demo.earn("ana", FOUNDATIONS, days_ago(30))
    demo.earn_up_to("bo", PRACTITIONER, days_ago(30))
    cy = demo.earn("cy", FOUNDATIONS, days_ago(30))
    demo.status(cy["id"], "revoke")
    return demo


def test_evaluation_permits_and_denies_with_reasons_in_the_context(people: Demo) -> None:
    permit = decided(
        post(people, "/access/v1/evaluation", evaluation("ana", "post-on-brand-accounts"))
    )
    assert permit["decision"] is True
    assert permit["context"]["reasons"][0].startswith("Holds Social Media Foundations")
    assert permit["context"]["granted_by"] and permit["context"]["valid_until"]
    deny = decided(post(people, "/access/v1/evaluation", evaluation("ana", "run-paid-campaigns")))
    assert deny["decision"] is False
    assert deny["context"]["reasons"] == ["Social Media Practitioner has not been earned"]
    assert deny["context"]["reason_admin"] == {
        "en": "Social Media Practitioner has not been earned"
    }
    assert deny["context"]["missing"][0]["level"] == PRACTITIONER


def test_context_time_answers_as_things_stood_then(people: Demo) -> None:
    now = decided(post(people, "/access/v1/evaluation", evaluation("cy", "post-on-brand-accounts")))
    assert now["decision"] is False and "was revoked on" in now["context"]["reasons"][0]
    then = evaluation("cy", "post-on-brand-accounts", context={"time": iso(days_ago(1))})
    assert decided(post(people, "/access/v1/evaluation", then))["decision"] is True
    offset = evaluation(
        "cy", "post-on-brand-accounts", context={"time": "2020-10-26T01:22:00-07:00"}
    )
    assert decided(post(people, "/access/v1/evaluation", offset))["decision"] is False


def test_unknown_subjects_programs_types_and_actions_are_denials(people: Demo) -> None:
    cases = [
        (evaluation("nobody", "post-on-brand-accounts"), "Learner nobody is not known"),
        (evaluation("ana", "launch-rockets"), "no program kind 'launch-rockets'"),
        ({**evaluation("ana", "post-on-brand-accounts"), "action": {"name": "delete"}}, "'run'"),
        (
            {**evaluation("ana", "post-on-brand-accounts"), "subject": {"type": "bot", "id": "a"}},
            "type 'user'",
        ),
        (
            {**evaluation("ana", "post-on-brand-accounts"), "resource": {"type": "x", "id": "y"}},
            "type 'program'",
        ),
    ]
    for body, reason in cases:
        answer = decided(post(people, "/access/v1/evaluation", body))
        assert answer["decision"] is False, body
        assert reason in " ".join(answer["context"]["reasons"]), answer


def test_unknown_fields_are_ignored_and_malformed_requests_are_400(people: Demo) -> None:
    body = evaluation("ana", "post-on-brand-accounts")
    body["subject"]["properties"] = {"department": "Sales"}
    body["action"]["properties"] = {"method": "POST"}
    body["surprise"] = {"nested": True}
    assert decided(post(people, "/access/v1/evaluation", body))["decision"] is True
    for broken in (
        {k: v for k, v in body.items() if k != "subject"},
        {**body, "resource": {"type": "program"}},
        {**body, "action": {}},
        {**body, "subject": {"type": "user", "id": 42}},
        {**body, "context": {"time": "last tuesday"}},
        {**body, "context": {"time": "2026-03-03T10:00:00"}},
        [],
    ):
        response = post(people, "/access/v1/evaluation", broken)
        assert response.status_code == 400, (broken, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    malformed = people.client.post(
        "/access/v1/evaluation",
        content=b"{",
        headers={**people.checker, "Content-Type": "application/json"},
    )
    assert malformed.status_code == 400


def test_x_request_id_is_echoed_and_auth_is_required(people: Demo) -> None:
    body = evaluation("ana", "post-on-brand-accounts")
    response = post(people, "/access/v1/evaluation", body, **{"X-Request-ID": "bfe9eb29-ab87"})
    assert response.headers["x-request-id"] == "bfe9eb29-ab87"
    unauthenticated = people.client.post("/access/v1/evaluation", json=body)
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["content-type"] == "application/problem+json"


def test_evaluations_apply_defaults_and_keep_request_order(people: Demo) -> None:
    body = {
        "subject": {"type": "user", "id": "ana"},
        "action": {"name": "run"},
        "evaluations": [
            {"resource": {"type": "program", "id": "post-on-brand-accounts"}},
            {"resource": {"type": "program", "id": "run-paid-campaigns"}},
            {
                "subject": {"type": "user", "id": "bo"},
                "resource": {"type": "program", "id": "run-paid-campaigns"},
            },
            {
                "subject": {"type": "user", "id": "cy"},
                "resource": {"type": "program", "id": "post-on-brand-accounts"},
                "context": {"time": iso(days_ago(1))},
            },
        ],
    }
    answer = decided_many(post(people, "/access/v1/evaluations", body))
    assert [e["decision"] for e in answer] == [True, False, True, True]
    assert [e["context"]["learner_id"] for e in answer] == ["ana", "ana", "bo", "cy"]


def decided_many(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    evaluations: list[dict[str, Any]] = response.json()["evaluations"]
    for item in evaluations:
        spec_validator("response").validate(item)
    return evaluations


SEMANTICS_BATCH = [
    ("ana", "post-on-brand-accounts"),  # permit
    ("ana", "run-paid-campaigns"),  # deny
    ("bo", "run-paid-campaigns"),  # permit
    ("cy", "post-on-brand-accounts"),  # deny
]


@pytest.mark.parametrize(
    ("semantic", "expected"),
    [
        (None, [True, False, True, False]),
        ("execute_all", [True, False, True, False]),
        ("deny_on_first_deny", [True, False]),
        ("permit_on_first_permit", [True]),
    ],
)
def test_evaluations_semantics_stop_at_the_first_deciding_item(
    people: Demo, semantic: str | None, expected: list[bool]
) -> None:
    body: dict[str, Any] = {
        "action": {"name": "run"},
        "evaluations": [
            {
                "subject": {"type": "user", "id": learner},
                "resource": {"type": "program", "id": program},
            }
            for learner, program in SEMANTICS_BATCH
        ],
    }
    if semantic is not None:
        body["options"] = {"evaluations_semantic": semantic}
    answer = decided_many(post(people, "/access/v1/evaluations", body))
    assert [e["decision"] for e in answer] == expected


def test_permit_on_first_permit_runs_through_denials(people: Demo) -> None:
    body = {
        "action": {"name": "run"},
        "resource": {"type": "program", "id": "run-paid-campaigns"},
        "options": {"evaluations_semantic": "permit_on_first_permit"},
        "evaluations": [
            {"subject": {"type": "user", "id": learner}} for learner in ("ana", "cy", "bo", "ana")
        ],
    }
    answer = decided_many(post(people, "/access/v1/evaluations", body))
    assert [e["decision"] for e in answer] == [False, False, True]


def test_evaluations_without_items_is_a_single_evaluation_and_errors_are_400(
    people: Demo,
) -> None:
    single = evaluation("ana", "post-on-brand-accounts")
    assert decided(post(people, "/access/v1/evaluations", single))["decision"] is True
    assert decided(post(people, "/access/v1/evaluations", {**single, "evaluations": []}))
    for broken in (
        {"evaluations": [{"subject": {"type": "user", "id": "ana"}}]},  # no action/resource
        {**single, "options": {"evaluations_semantic": "whatever"}},
        {**single, "evaluations": [{}] * 1001},
        {"action": {"name": "run"}},
    ):
        response = post(people, "/access/v1/evaluations", broken)
        assert response.status_code == 400, (broken, response.text)


def test_discovery_lists_the_endpoints(demo: Demo) -> None:
    response = demo.client.get("/.well-known/authzen-configuration")
    assert response.status_code == 200
    assert response.json() == {
        "policy_decision_point": "https://credence.test",
        "access_evaluation_endpoint": "https://credence.test/access/v1/evaluation",
        "access_evaluations_endpoint": "https://credence.test/access/v1/evaluations",
    }


def test_authzen_decisions_are_counted_only_when_answered(people: Demo) -> None:
    body = {
        "action": {"name": "run"},
        "resource": {"type": "program", "id": "host-live-events"},
        "options": {"evaluations_semantic": "deny_on_first_deny"},
        "evaluations": [{"subject": {"type": "user", "id": x}} for x in ("bo", "ana", "bo")],
    }
    assert len(decided_many(post(people, "/access/v1/evaluations", body))) == 2
    metrics = people.client.get("/metrics").text
    assert 'decisions_total{decision="allow",program="host-live-events"} 1.0' in metrics
    assert 'decisions_total{decision="deny",program="host-live-events"} 1.0' in metrics
