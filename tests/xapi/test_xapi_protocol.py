"""xAPI protocol rules: version header, Basic/Bearer auth, about, statement validation."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.xapi.conftest import VERSION, basic, statement

MISSING = object()


def _set(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, last = path.split(".")
    node = body
    for part in parents:
        node = node.setdefault(part, {})
    if value is MISSING:
        node.pop(last, None)
    else:
        node[last] = value
    return body


INVALID = [
    ("actor.mbox", "mailto:ana@example.com", "actor"),  # account + mbox: two identifiers
    ("actor.account", MISSING, "actor"),  # no identifier at all
    ("actor.account.homePage", "not an iri", "actor.account.homePage"),
    ("actor.account.name", "", "actor.account.name"),
    ("actor.objectType", "Person", "actor.objectType"),
    ("verb", MISSING, "verb"),
    ("verb.id", "passed", "verb.id"),
    ("verb.display", "passed", "verb.display"),
    ("object.id", "policy 101", "object.id"),
    ("object", MISSING, "object"),
    ("id", "not-a-uuid", "id"),
    ("result.score.scaled", 1.01, "result.score.scaled"),
    ("result.score.scaled", -1.5, "result.score.scaled"),
    ("result.score.raw", "90", "result.score.raw"),
    ("result.success", "yes", "result.success"),
    ("context.registration", "reg-1", "context.registration"),
    ("context.extensions", {"sessionid": "x"}, "context.extensions"),
    ("timestamp", "yesterday", "timestamp"),
    ("favourite", "x", "favourite"),
    ("context", None, "context"),
]


@pytest.mark.parametrize(
    ("path", "value", "field"), INVALID, ids=[i[0] + "=" + repr(i[1])[:20] for i in INVALID]
)
def test_invalid_statements_are_400_naming_the_field(  # type: ignore[no-untyped-def]
    client, demo_catalog, xapi_headers, path, value, field
) -> None:
    bad = _set(statement(), path, value)
    response = client.post("/xapi/statements", json=[statement(), bad], headers=xapi_headers)
    assert response.status_code == 400, response.text
    assert response.headers["x-experience-api-version"] == "1.0.3"
    problem = response.json()
    assert problem["type"].endswith("/invalid-statement")
    assert problem["field"] == f"statements[1].{field}"


def test_raw_score_outside_min_max_and_future_timestamp_are_400(  # type: ignore[no-untyped-def]
    client, demo_catalog, xapi_headers
) -> None:
    raw = statement(scaled=None)
    raw["result"]["score"] = {"raw": 25, "min": 0, "max": 20}
    response = client.post("/xapi/statements", json=raw, headers=xapi_headers)
    assert (
        response.status_code == 400 and response.json()["field"] == "statements[0].result.score.raw"
    )
    future = statement(timestamp=(datetime.now(UTC) + timedelta(minutes=6)).isoformat())
    response = client.post("/xapi/statements", json=future, headers=xapi_headers)
    assert response.status_code == 400 and response.json()["field"] == "statements[0].timestamp"


@pytest.mark.parametrize("body", ["a statement", 42, [], None])
def test_bodies_that_are_not_statements_are_400(client, xapi_headers, body) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/xapi/statements", json=body, headers=xapi_headers)
    assert response.status_code == 400
    assert response.headers["x-experience-api-version"] == "1.0.3"


def test_non_finite_numbers_are_400_not_500(client, demo_catalog, xapi_headers) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps(
        statement(context={"extensions": {"https://example.com/ext/x": float("nan")}})
    )
    response = client.post(
        "/xapi/statements",
        content=body.encode(),
        headers={**xapi_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["field"] == "statements[0]"


def test_malformed_json_is_400_with_the_version_header(client, xapi_headers) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/xapi/statements",
        content=b"{not json",
        headers={**xapi_headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["x-experience-api-version"] == "1.0.3"


@pytest.mark.parametrize("version", ["1.0.0", "1.0.1", "1.0.2", "1.0.3", "2.0.0"])
def test_supported_versions_are_accepted_and_echoed(  # type: ignore[no-untyped-def]
    client, demo_catalog, lrs_key, version
) -> None:
    headers = {"X-Experience-API-Version": version, "Authorization": f"Bearer {lrs_key}"}
    response = client.post("/xapi/statements", json=statement(), headers=headers)
    assert response.status_code == 200
    assert response.headers["x-experience-api-version"] == version


@pytest.mark.parametrize("version", [None, "0.95", "1.1.0", "2.0", "3.0.0", ""])
def test_missing_or_unsupported_version_is_400(client, lrs_key, make_key, version) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {lrs_key}"}
    reader = {"Authorization": f"Bearer {make_key('xapi:read')}"}
    if version is not None:
        headers["X-Experience-API-Version"] = version
        reader["X-Experience-API-Version"] = version
    for response in (
        client.post("/xapi/statements", json=statement(), headers=headers),
        client.put(f"/xapi/statements?statementId={uuid.uuid4()}", json={}, headers=headers),
        client.get(f"/xapi/statements?statementId={uuid.uuid4()}", headers=reader),
        client.get("/xapi/statements", headers=reader),
    ):
        assert response.status_code == 400
        assert response.json()["type"].endswith("/xapi-version")
        assert response.headers["x-experience-api-version"] == "1.0.3"


def test_about_is_public_and_never_refuses_a_version_header(client) -> None:  # type: ignore[no-untyped-def]
    """xAPI 1.0.3 Communication 2.8: no authentication needed, no rejection over the version."""
    for version in (None, "0.95", "1.1.0", "2.0", "3.0.0", "", "1.0.3", "2.0.0"):
        for authorization in (None, "Bearer nonsense", "Basic !!!notbase64"):
            headers = {}
            if version is not None:
                headers["X-Experience-API-Version"] = version
            if authorization is not None:
                headers["Authorization"] = authorization
            response = client.get("/xapi/about", headers=headers)
            assert response.status_code == 200, (version, authorization, response.text)
            assert response.json() == {
                "version": ["1.0.0", "1.0.1", "1.0.2", "1.0.3", "2.0.0"],
                "extensions": {},
            }
            expected = version if version in ("1.0.3", "2.0.0") else "1.0.3"
            assert response.headers["x-experience-api-version"] == expected


def test_every_xapi_response_carries_the_version_header(client, lrs_key) -> None:  # type: ignore[no-untyped-def]
    responses = [
        client.get("/xapi/statements", headers=VERSION),  # 401
        client.get("/xapi/nowhere", headers=VERSION),  # 404
        client.delete("/xapi/statements", headers=VERSION),  # 405
        client.get("/xapi/about"),  # public
        client.get("/xapi/about", headers={**VERSION, "Authorization": f"Bearer {lrs_key}"}),
    ]
    assert [r.status_code for r in responses] == [401, 404, 405, 200, 200]
    assert all(r.headers["x-experience-api-version"] == "1.0.3" for r in responses)
    assert "x-experience-api-version" not in client.get("/healthz").headers


def test_about_lists_the_versions(client, xapi_headers) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/xapi/about", headers=xapi_headers)
    assert response.status_code == 200
    assert response.json()["version"] == ["1.0.0", "1.0.1", "1.0.2", "1.0.3", "2.0.0"]


def test_basic_auth_with_prefix_and_secret_or_the_whole_key(  # type: ignore[no-untyped-def]
    client, demo_catalog, lrs_key
) -> None:
    _, prefix, secret = lrs_key.split("_", 2)
    for authorization in (
        basic(prefix, secret),  # key id + secret, as an LRS client is configured
        basic(prefix, lrs_key),  # prefix + the whole key
        basic("anything", lrs_key),  # the whole key as password, any username
        f"Bearer {lrs_key}",
    ):
        headers = {**VERSION, "Authorization": authorization}
        response = client.post("/xapi/statements", json=statement(), headers=headers)
        assert response.status_code == 200, authorization


def test_bad_credentials_are_401_with_a_basic_challenge(client, lrs_key, make_key) -> None:  # type: ignore[no-untyped-def]
    _, prefix, secret = lrs_key.split("_", 2)
    other_prefix = make_key("completions:write").split("_")[1]
    for authorization in (
        None,
        basic(prefix, secret[:-1] + ("A" if secret[-1] != "A" else "B")),
        basic(other_prefix, secret),
        basic(prefix, ""),
        "Basic !!!notbase64",
        f"Bearer {lrs_key}x",
    ):
        headers = dict(VERSION)
        if authorization:
            headers["Authorization"] = authorization
        response = client.post("/xapi/statements", json=statement(), headers=headers)
        assert response.status_code == 401, authorization
        assert "Basic" in response.headers["www-authenticate"]
        assert response.headers["x-experience-api-version"] == "1.0.3"


def test_writing_needs_completions_write_and_reading_xapi_read(client, make_key) -> None:  # type: ignore[no-untyped-def]
    def headers(*scopes: str) -> dict[str, str]:
        return {**VERSION, "Authorization": f"Bearer {make_key(*scopes)}"}

    sid = str(uuid.uuid4())
    for key in (headers("catalog:read"), headers("xapi:read"), headers("learners:read")):
        response = client.post("/xapi/statements", json=statement(), headers=key)
        assert response.status_code == 403
        assert response.json()["required_scope"] == "completions:write"
        put = client.put(
            f"/xapi/statements?statementId={sid}", json=statement(sid=sid), headers=key
        )
        assert put.status_code == 403
    for key in (headers("catalog:read"), headers("completions:write")):
        for url in (f"/xapi/statements?statementId={sid}", "/xapi/statements"):
            response = client.get(url, headers=key)
            assert response.status_code == 403, url
            assert response.json()["required_scope"] == "xapi:read"
    assert client.get("/xapi/statements", headers=headers("xapi:read")).status_code == 200
    assert client.get("/xapi/statements", headers=headers("admin")).status_code == 200
    both = headers("completions:write", "xapi:read")
    assert client.post("/xapi/statements", json=statement(sid=sid), headers=both).status_code == 200
    assert client.get(f"/xapi/statements?statementId={sid}", headers=both).status_code == 200
