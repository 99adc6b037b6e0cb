"""Documented input limits (README "Limits") are enforced everywhere with problem documents:
one over-limit request per endpoint that takes a body, plus a table of specific limits."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import REPO

DOCUMENT = json.loads((REPO / "openapi" / "openapi.json").read_text())
MAX_BODY = 1_048_576
BODY_OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in DOCUMENT["paths"].items()
    for method, op in item.items()
    if isinstance(op, dict) and "requestBody" in op
)
XAPI = {"X-Experience-API-Version": "1.0.3"}


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "probe-1", path)


def test_every_body_over_the_size_limit_is_a_413_problem(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    assert len(BODY_OPERATIONS) >= 25
    body = b'{"x": "' + b"a" * MAX_BODY + b'"}'
    failures = []
    for method, path in BODY_OPERATIONS:
        headers = {**admin_headers, "Content-Type": "application/json", **XAPI}
        response = client.request(method, _url(path), content=body, headers=headers)
        if (
            response.status_code != 413
            or response.headers["content-type"] != "application/problem+json"
        ):
            failures.append(f"{method} {path}: {response.status_code}")
    assert failures == []


def _completion(n: int) -> dict[str, Any]:
    return {"learner_id": f"l-{n}", "course_id": "c", "completed_at": "2026-01-01T00:00:00Z"}


Case = tuple[str, str, Callable[[], dict[str, Any]], set[int]]
CASES: list[tuple[str, Case]] = [
    (
        "completion batch of 1,001",
        (
            "POST",
            "/v1/completions/batch",
            lambda: {"json": {"items": [_completion(n) for n in range(1001)]}},
            {422},
        ),
    ),
    (
        "permission batch of 1,001",
        (
            "POST",
            "/v1/permissions/check",
            lambda: {"json": {"checks": [{"learner_id": "a", "program": "p"}] * 1001}},
            {400, 422},
        ),
    ),
    (
        "AuthZEN batch of 1,001",
        (
            "POST",
            "/access/v1/evaluations",
            lambda: {
                "json": {
                    "subject": {"type": "user", "id": "a"},
                    "action": {"name": "run"},
                    "evaluations": [{"resource": {"type": "program", "id": "p"}}] * 1001,
                }
            },
            {400, 422},
        ),
    ),
    (
        "xAPI batch of 1,001",
        (
            "POST",
            "/xapi/statements",
            lambda: {
                "json": [
                    {
                        "actor": {"mbox": "mailto:a@example.com"},
                        "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"},
                        "object": {"id": "https://x.example/a"},
                    }
                ]
                * 1001,
                "headers": XAPI,
            },
            {400, 413},
        ),
    ),
    (
        "learner name of 201 characters",
        ("PUT", "/v1/learners/ana", lambda: {"json": {"name": "n" * 201}}, {422}),
    ),
    (
        "learner id of 129 characters",
        ("PUT", "/v1/learners/" + "a" * 129, lambda: {"json": {"name": "Ana"}}, {422}),
    ),
    (
        "course name of 201 characters",
        ("POST", "/v1/courses", lambda: {"json": {"id": "c-1", "name": "n" * 201}}, {422}),
    ),
    (
        "51 learner attributes",
        (
            "PUT",
            "/v1/learners/ana",
            lambda: {"json": {"attributes": {f"a{n}": "x" for n in range(51)}}},
            {422},
        ),
    ),
    ("page size 501", ("GET", "/v1/courses?limit=501", dict, {422})),
    ("audit page size 501", ("GET", "/v1/audit/events?limit=501", dict, {422})),
    ("credential page size 501", ("GET", "/v1/credentials?limit=501", dict, {422})),
    (
        "JWT over 64 KiB",
        (
            "POST",
            "/v1/verify",
            lambda: {"content": b"e" * 70_000, "headers": {"Content-Type": "application/vc+jwt"}},
            {413},
        ),
    ),
    (
        "JSON nested 10,000 deep",
        (
            "POST",
            "/v1/completions",
            lambda: {
                "content": b"[" * 10_000 + b"]" * 10_000,
                "headers": {"Content-Type": "application/json"},
            },
            {400},
        ),
    ),
    (
        "YAML nested 3,000 deep",
        (
            "PUT",
            "/v1/catalog",
            lambda: {
                "content": b"a:\n  " + b"- " * 3000 + b"x\n",
                "headers": {"Content-Type": "application/yaml"},
            },
            {400},
        ),
    ),
    (
        "catalog of 1,001 courses",
        (
            "PUT",
            "/v1/catalog",
            lambda: {"json": {"courses": [{"id": f"c{n}", "name": "C"} for n in range(1001)]}},
            {422},
        ),
    ),
    (
        "requires nested deeper than 8",
        (
            "POST",
            "/v1/programs",
            lambda: {"json": {"id": "p", "name": "P", "requires": _deep_requires(10)}},
            {422},
        ),
    ),
]


def _deep_requires(depth: int) -> Any:
    expression: Any = "t/l"
    for _ in range(depth):
        expression = {"all_of": [expression]}
    return expression


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[name for name, _ in CASES])
def test_over_limit_requests_get_a_problem_and_change_nothing(  # type: ignore[no-untyped-def]
    case: Case, client, admin_headers
) -> None:
    method, path, build, expected = case
    before = client.get("/v1/audit/events?limit=500", headers=admin_headers).json()["items"]
    options = build()
    headers = {**admin_headers, **options.pop("headers", {})}
    response = client.request(method, path, headers=headers, **options)
    assert response.status_code in expected, response.text[:500]
    assert response.headers["content-type"] == "application/problem+json"
    after = client.get("/v1/audit/events?limit=500", headers=admin_headers).json()["items"]
    assert after == before
