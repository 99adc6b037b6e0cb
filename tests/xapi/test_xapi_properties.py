"""Unknown properties (and nulls) are refused at every depth, as at the top level (xAPI 1.0.3
Data 2.2: "MUST reject ... where a key or value is not allowed"); extensions stay open, and
every property xAPI defines (1.0.3, and 2.0.0's context additions) is still accepted."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from tests.xapi.conftest import PASSED, POLICY, VERSION, statement

ANA = {"homePage": "https://lms.example.com", "name": "ana"}
SHA = "495395e777cd98da653df9615d09c0fd6bb2f8d4788394cd53c56a3bfdcd848a"


def full() -> dict[str, Any]:
    """A statement using (nearly) every property xAPI 1.0.3 defines (a fresh copy each time)."""
    return copy.deepcopy(_FULL) | {"id": str(uuid.uuid4())}


_FULL: dict[str, Any] = {
    "id": str(uuid.uuid4()),
    "actor": {"objectType": "Agent", "name": "Ana", "account": ANA},
    "verb": {"id": PASSED, "display": {"en-US": "passed"}},
    "object": {
        "objectType": "Activity",
        "id": POLICY,
        "definition": {
            "name": {"en-US": "Policy quiz"},
            "description": {"en-US": "Which channel may post?"},
            "type": "http://adlnet.gov/expapi/activities/cmi.interaction",
            "moreInfo": "https://lms.example.com/policy",
            "interactionType": "choice",
            "correctResponsesPattern": ["brand"],
            "choices": [
                {"id": "brand", "description": {"en-US": "The brand account"}},
                {"id": "own", "description": {"en-US": "My own account"}},
            ],
            "extensions": {"https://example.com/ext/anything": {"free": [None, 1]}},
        },
    },
    "result": {
        "score": {"scaled": 0.9, "raw": 9, "min": 0, "max": 10},
        "success": True,
        "completion": True,
        "response": "brand",
        "duration": "PT1M",
        "extensions": {"https://example.com/ext/r": None},
    },
    "context": {
        "registration": str(uuid.uuid4()),
        "instructor": {"objectType": "Agent", "mbox": "mailto:teacher@example.com"},
        "team": {"objectType": "Group", "name": "Team", "member": [{"account": ANA}]},
        "contextActivities": {
            "parent": [{"id": "https://lms.example.com/courses/policy"}],
            "grouping": [{"objectType": "Activity", "id": "https://lms.example.com/p"}],
            "category": [{"id": "https://w3id.org/xapi/cmi5/context/categories/cmi5"}],
            "other": [{"id": "https://lms.example.com/other"}],
        },
        "revision": "2",
        "platform": "Moodle",
        "language": "en-US",
        "statement": {"objectType": "StatementRef", "id": str(uuid.uuid4())},
        "extensions": {"https://example.com/ext/c": 1},
    },
    "timestamp": "2026-11-20T10:00:00Z",
    "attachments": [
        {
            "usageType": "http://adlnet.gov/expapi/attachments/certificate",
            "display": {"en-US": "Certificate"},
            "description": {"en-US": "Completion certificate"},
            "contentType": "application/pdf",
            "length": 27,
            "sha2": SHA,
            "fileUrl": "https://lms.example.com/certificates/1.pdf",
        }
    ],
}


def sub_statement() -> dict[str, Any]:
    inner = full()
    return statement(
        verb="http://adlnet.gov/expapi/verbs/planned",
        object={
            "objectType": "SubStatement",
            "actor": inner["actor"],
            "verb": inner["verb"],
            "object": inner["object"],
            "result": inner["result"],
            "context": inner["context"],
            "timestamp": "2030-01-01T00:00:00Z",  # a SubStatement may be in the future
            "attachments": inner["attachments"],
        },
    )


def test_every_defined_property_is_accepted(client, xapi_headers) -> None:  # type: ignore[no-untyped-def]
    for body in (full(), sub_statement()):
        response = client.post("/xapi/statements", json=body, headers=xapi_headers)
        assert response.status_code == 200, response.text


def _set(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Set body[path] (dots and [i] indexes) to value."""
    node: Any = body
    parts = path.replace("]", "").replace("[", ".").split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    node[parts[-1]] = value
    return body


UNKNOWN = [
    "actor.favourite",
    "actor.account.favourite",
    "verb.favourite",
    "object.favourite",
    "object.definition.favourite",
    "object.definition.choices[0].favourite",
    "result.favourite",
    "result.score.favourite",
    "context.favourite",
    "context.instructor.favourite",
    "context.team.member[0].favourite",
    "context.contextActivities.parent[0].favourite",
    "context.statement.favourite",
    "attachments[0].favourite",
]
NULLABLE_NOWHERE = [
    "actor.name",
    "actor.account.name",
    "verb.display",
    "object.definition.description",
    "object.definition.choices[0].description",
    "result.response",
    "result.score.raw",
    "context.revision",
    "context.instructor.name",
    "context.contextActivities.parent[0].definition",
    "attachments[0].description",
]


@pytest.mark.parametrize("path", UNKNOWN)
def test_unknown_properties_are_400_at_every_depth(client, xapi_headers, path) -> None:  # type: ignore[no-untyped-def]
    bad = _set(full(), path, "x")
    response = client.post("/xapi/statements", json=[full(), bad], headers=xapi_headers)
    assert response.status_code == 400, (path, response.text)
    problem = response.json()
    assert problem["type"].endswith("/invalid-statement")
    assert problem["field"] == f"statements[1].{path}", problem
    assert "is not a property" in problem["detail"]


def test_nulls_are_400_at_every_depth_but_inside_extensions(client, xapi_headers) -> None:  # type: ignore[no-untyped-def]
    for path in NULLABLE_NOWHERE:
        bad = _set(full(), path, None)
        response = client.post("/xapi/statements", json=bad, headers=xapi_headers)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["field"] == f"statements[0].{path}"
        assert "must not be null" in response.json()["detail"]
    inside = _set(full(), "context.extensions", {"https://example.com/ext/n": None})
    assert client.post("/xapi/statements", json=inside, headers=xapi_headers).status_code == 200


def test_unknown_properties_inside_sub_statements_and_authority(client, xapi_headers) -> None:  # type: ignore[no-untyped-def]
    for path in (
        "object.favourite",
        "object.actor.favourite",
        "object.object.definition.favourite",
        "object.result.score.favourite",
        "object.context.favourite",
        "object.attachments[0].favourite",
    ):
        bad = _set(sub_statement(), path, "x")
        response = client.post("/xapi/statements", json=bad, headers=xapi_headers)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["field"] == f"statements[0].{path}"
    authority = statement(authority={"objectType": "Agent", "account": ANA, "role": "admin"})
    response = client.post("/xapi/statements", json=authority, headers=xapi_headers)
    assert response.status_code == 400
    assert response.json()["field"] == "statements[0].authority.role"
    ref = statement(object={"objectType": "StatementRef", "id": str(uuid.uuid4()), "x": 1})
    response = client.post("/xapi/statements", json=ref, headers=xapi_headers)
    assert response.json()["field"] == "statements[0].object.x"


def test_interaction_component_lists_follow_the_interaction_type(client, xapi_headers) -> None:  # type: ignore[no-untyped-def]
    cases = [
        ("object.definition.scale", [{"id": "1"}], "object.definition.scale"),  # choice: no scale
        ("object.definition.interactionType", "multiple", "object.definition.interactionType"),
        ("object.definition.choices[1].id", "brand", "object.definition.choices[1].id"),
    ]
    for path, value, field in cases:
        bad = _set(full(), path, value)
        response = client.post("/xapi/statements", json=bad, headers=xapi_headers)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["field"] == f"statements[0].{field}"
    untyped = full()
    del untyped["object"]["definition"]["interactionType"]
    response = client.post("/xapi/statements", json=untyped, headers=xapi_headers)
    assert response.status_code == 400
    assert response.json()["field"] == "statements[0].object.definition.choices"


def test_context_agents_and_groups_are_xapi_2_only(client, lrs_key) -> None:  # type: ignore[no-untyped-def]
    body = full()
    body["context"]["contextAgents"] = [
        {
            "objectType": "contextAgent",
            "agent": {"mbox": "mailto:coach@example.com"},
            "relevantTypes": ["https://example.com/types/coach"],
        }
    ]
    body["context"]["contextGroups"] = [
        {
            "objectType": "contextGroup",
            "group": {"objectType": "Group", "member": [{"account": ANA}]},
        }
    ]
    auth = {"Authorization": f"Bearer {lrs_key}"}
    two = {**auth, "X-Experience-API-Version": "2.0.0"}
    older = client.post("/xapi/statements", json=body, headers={**auth, **VERSION})
    assert older.status_code == 400
    assert older.json()["field"] == "statements[0].context.contextAgents"
    assert "2.0.0" in older.json()["detail"]
    assert client.post("/xapi/statements", json=body, headers=two).status_code == 200
    wrong = copy.deepcopy(body)
    wrong["id"] = str(uuid.uuid4())
    wrong["context"]["contextAgents"][0]["role"] = "coach"
    response = client.post("/xapi/statements", json=wrong, headers=two)
    assert response.status_code == 400
    assert response.json()["field"] == "statements[0].context.contextAgents[0].role"
