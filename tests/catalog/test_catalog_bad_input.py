"""Every bad input to the catalog API gets an RFC 9457 problem document and changes nothing."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from service.catalog.document import DEMO_CATALOG_PATH, load_demo_catalog

PROBLEM = "application/problem+json"
LEVEL = "/v1/tracks/social-media/levels/foundations"


def demo() -> dict[str, Any]:
    return copy.deepcopy(load_demo_catalog().to_mapping())


def edited(change: Any) -> dict[str, Any]:
    doc = demo()
    change(doc)
    return doc


def foundations(**changes: Any) -> dict[str, Any]:
    level = copy.deepcopy(demo()["tracks"][0]["levels"][0])
    level.update(changes)
    return level


YAML = {"Content-Type": "application/yaml"}
JSON = {"Content-Type": "application/json"}

# (method, url, body (bytes sent as is, else JSON), extra headers, status, problem type slug)
CASES: list[tuple[str, str, Any, dict[str, str], int, str]] = [
    ("PUT", "/v1/catalog", b"courses: [", YAML, 400, "bad-request"),
    ("PUT", "/v1/catalog", b"a: &x 1\nb: *x\n", YAML, 400, "bad-request"),
    ("PUT", "/v1/catalog", b"courses: []\ncourses: []\n", YAML, 400, "bad-request"),
    ("PUT", "/v1/catalog", b"\xff\xfe\x00", YAML, 400, "bad-request"),
    ("PUT", "/v1/catalog", b"", YAML, 422, "catalog-invalid"),
    ("PUT", "/v1/catalog", b"- 1\n- 2\n", YAML, 422, "catalog-invalid"),
    ("PUT", "/v1/catalog", b'{"courses": [', JSON, 400, "bad-request"),
    ("PUT", "/v1/catalog", b"[" * 100_000, JSON, 400, "bad-request"),
    ("PUT", "/v1/catalog", b"null", JSON, 422, "catalog-invalid"),
    (
        "PUT",
        "/v1/catalog",
        b"courses: []",
        {"Content-Type": "text/plain"},
        415,
        "unsupported-media-type",
    ),
    ("PUT", "/v1/catalog", {"courses": [], "extra": 1}, {}, 422, "catalog-invalid"),
    (
        "PUT",
        "/v1/catalog",
        {"courses": [{"id": "bad id", "name": "x"}]},
        {},
        422,
        "catalog-invalid",
    ),
    (
        "PUT",
        "/v1/catalog",
        edited(lambda d: d["courses"].append({"id": "policy-101", "name": "Again"})),
        {},
        422,
        "catalog-invalid",
    ),
    (
        "PUT",
        "/v1/catalog",
        edited(lambda d: d["tracks"][0]["levels"][1].update(rank=1)),
        {},
        422,
        "catalog-invalid",
    ),
    (
        "PUT",
        "/v1/catalog",
        edited(lambda d: d["tracks"][0]["levels"][0].update(valid_for="one year")),
        {},
        422,
        "catalog-invalid",
    ),
    (
        "PUT",
        "/v1/catalog",
        edited(lambda d: d["programs"][0].update(requires={"all_of": []})),
        {},
        422,
        "catalog-invalid",
    ),
    ("PUT", "/v1/catalog?dry_run=maybe", demo(), {}, 422, "invalid-input"),
    ("PUT", "/v1/catalog", demo(), {"If-Match": '"999"'}, 412, "precondition-failed"),
    ("POST", "/v1/courses", {"id": "x"}, {}, 422, "invalid-input"),
    (
        "POST",
        "/v1/courses",
        {"id": "x", "name": "X", "xapi_activity_id": "not an iri"},
        {},
        422,
        "invalid-input",
    ),
    ("POST", "/v1/courses", {"id": "../etc", "name": "X"}, {}, 422, "invalid-input"),
    ("POST", "/v1/courses", {"id": "x", "name": " "}, {}, 422, "invalid-input"),
    ("POST", "/v1/courses", b'{"id": "x", "name": ', JSON, 400, "malformed-body"),
    ("POST", "/v1/courses", ["not", "an", "object"], {}, 422, "invalid-input"),
    (
        "POST",
        "/v1/programs",
        {"id": "p", "name": "P", "requires": "social-media/nope"},
        {},
        422,
        "catalog-invalid",
    ),
    (
        "POST",
        "/v1/programs",
        {"id": "p", "name": "P", "requires": {"one_of": []}},
        {},
        422,
        "invalid-input",
    ),
    (
        "POST",
        "/v1/roles",
        {"id": "r", "mandatory": [{"level": "social-media/foundations", "within": "soon"}]},
        {},
        422,
        "invalid-input",
    ),
    ("POST", "/v1/tracks", {"id": "Bad_Track", "name": "T"}, {}, 422, "invalid-input"),
    (
        "POST",
        "/v1/tracks/social-media/levels",
        {"id": "x", "name": "X", "rank": 1, "requires": {"courses": [{"course": "policy-101"}]}},
        {},
        422,
        "catalog-invalid",
    ),
    (
        "POST",
        "/v1/tracks/social-media/levels",
        {"id": "x", "name": "X", "rank": 9, "requires": {"electives": {"pick": 3, "from": ["a"]}}},
        {},
        422,
        "invalid-input",
    ),
    ("PUT", LEVEL, foundations(id="other"), {}, 422, "invalid-input"),
    (
        "PUT",
        LEVEL,
        foundations(requires={"courses": [{"course": "policy-101", "min_score": 101}]}),
        {},
        422,
        "invalid-input",
    ),
    (
        "PUT",
        LEVEL,
        foundations(requires={"courses": [{"course": "gone"}]}),
        {},
        422,
        "catalog-invalid",
    ),
    (
        "PUT",
        LEVEL,
        foundations(renewal={"courses": ["policy-refresher"], "window": "P1D"}, valid_for=None),
        {},
        422,
        "catalog-invalid",
    ),
    ("PUT", LEVEL, foundations(), {"If-Match": '"7"'}, 412, "precondition-failed"),
    ("PUT", "/v1/tracks/social-media", {"name": "x" * 201}, {}, 422, "invalid-input"),
    ("PUT", "/v1/tracks/social-media", {"name": "  "}, {}, 422, "invalid-input"),
    ("PUT", "/v1/tracks/social-media", {"name": "T", "levels": []}, {}, 422, "invalid-input"),
    ("GET", "/v1/courses?cursor=%%%", None, {}, 400, "bad-request"),
    ("GET", "/v1/courses?cursor=MTIz", None, {}, 400, "bad-request"),  # a cursor of 123
    ("GET", "/v1/courses?limit=0", None, {}, 422, "invalid-input"),
    ("GET", "/v1/courses?limit=100000", None, {}, 422, "invalid-input"),
    ("GET", "/v1/tracks/social-media/levels?cursor=!!", None, {}, 400, "bad-request"),
]


def _id(case: tuple[Any, ...]) -> str:
    method, url, _, _, status, slug = case
    return f"{method} {url[:40]} {status} {slug}"


@pytest.fixture
def applied(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    response = client.put(
        "/v1/catalog", content=DEMO_CATALOG_PATH.read_bytes(), headers={**admin_headers, **YAML}
    )
    assert response.status_code == 200


def observable_state(client, headers) -> tuple[Any, ...]:  # type: ignore[no-untyped-def]
    catalog = client.get("/v1/catalog", headers=headers)
    events = client.get("/v1/audit/events?limit=500", headers=headers).json()["items"]
    return catalog.headers["etag"], catalog.json(), len(events)


def test_bad_inputs_get_problem_documents_and_change_nothing(  # type: ignore[no-untyped-def]
    client, admin_headers, applied
) -> None:
    before = observable_state(client, admin_headers)
    failures = []
    for case in CASES:
        method, url, body, extra, status, slug = case
        headers = {**admin_headers, **extra}
        if isinstance(body, bytes):
            response = client.request(method, url, content=body, headers=headers)
        else:
            response = client.request(method, url, json=body, headers=headers)
        ok = (
            response.status_code == status
            and response.headers["content-type"] == PROBLEM
            and response.json()["type"] == f"https://credence.dev/problems/{slug}"
            and response.json()["status"] == status
            and response.json().get("detail")
        )
        if not ok:
            failures.append((_id(case), response.status_code, response.text[:300]))
    assert failures == [], "\n".join(map(str, failures))
    assert observable_state(client, admin_headers) == before
