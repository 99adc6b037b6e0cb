"""Every error is RFC 9457 problem+json: 404, 405, 422, 413, malformed JSON, and a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.app import create_app

PROBLEM = "application/problem+json"


def _assert_problem(response, status: int, slug: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["type"] == f"https://credence.dev/problems/{slug}"
    assert body["title"]
    return body


def test_unknown_route_is_404_problem(client) -> None:  # type: ignore[no-untyped-def]
    body = _assert_problem(client.get("/v1/nothing-here"), 404, "not-found")
    assert "/v1/nothing-here" in body["detail"]


def test_wrong_method_is_405_problem(client) -> None:  # type: ignore[no-untyped-def]
    response = client.put("/healthz")
    _assert_problem(response, 405, "method-not-allowed")
    assert response.headers["allow"] == "GET"


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", "/v1/courses/policy-101", "GET, PUT, DELETE"),
        ("DELETE", "/v1/courses", "GET, POST"),
        ("PUT", "/v1/webhooks/1", "GET, PATCH, DELETE"),
        ("DELETE", "/v1/permissions/check", "GET, POST"),
        ("GET", "/v1/completions", "POST"),
        ("PATCH", "/v1/tracks/social-media/levels/foundations", "GET, PUT, DELETE"),
        ("GET", "/v1/credentials/x/revoke", "POST"),
        ("POST", "/docs", "GET, HEAD"),
    ],
)
def test_405_allow_names_every_method_of_the_path(  # type: ignore[no-untyped-def]
    client, admin_headers, method: str, path: str, allow: str
) -> None:
    response = client.request(method, path, headers=admin_headers)
    body = _assert_problem(response, 405, "method-not-allowed")
    assert response.headers["allow"] == allow
    assert body["detail"] == f"{method} is not allowed on {path} (allowed: {allow})"
    # every method named is really answered (anything but 405), so Allow does not overclaim
    for allowed in allow.split(", "):
        assert client.request(allowed, path, headers=admin_headers).status_code != 405, allowed


def test_validation_error_is_422_problem_with_errors(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    body = _assert_problem(
        client.post("/v1/api-clients", json={"scopes": []}, headers=admin_headers),
        422,
        "invalid-input",
    )
    locations = {e["location"] for e in body["errors"]}
    assert {"body.name", "body.scopes"} <= locations
    bad_query = client.get("/v1/audit/events?limit=0", headers=admin_headers)
    assert (
        _assert_problem(bad_query, 422, "invalid-input")["errors"][0]["location"] == "query.limit"
    )


def test_malformed_json_is_400_problem(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/v1/api-clients",
        content=b'{"name": "x", "scopes": [',
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    _assert_problem(response, 400, "malformed-body")


def test_oversized_body_is_413_problem_and_writes_nothing(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    big = b'{"name": "' + b"x" * 1_100_000 + b'", "scopes": ["admin"]}'
    declared = client.post(
        "/v1/api-clients",
        content=big,
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    _assert_problem(declared, 413, "payload-too-large")

    def chunks():  # no Content-Length: the limit must hold while streaming too
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    streamed = client.post(
        "/v1/api-clients",
        content=chunks(),
        headers={**admin_headers, "Content-Type": "application/json"},
    )
    _assert_problem(streamed, 413, "payload-too-large")
    names = [
        c["name"] for c in client.get("/v1/api-clients", headers=admin_headers).json()["items"]
    ]
    assert names == ["admin"]


def test_unexpected_error_is_500_problem_without_internals(settings, database) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings, engine=database.engine)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client:
        body = _assert_problem(client.get("/boom"), 500, "internal-error")
    assert "secret internals" not in str(body)


def test_a_database_that_refuses_connections_is_a_503_problem_not_a_500(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL out of connections (or down) is a transient server condition: the client is
    told to retry (503 + Retry-After), never sent a 500 as if its request were at fault."""
    from service.db import make_engine
    from service.settings import Settings

    # nothing listens on port 1; the engine fails to connect on first use
    url = "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2"
    engine = make_engine(url)
    settings = Settings(database_url=url, dev_key_file=str(tmp_path / "key"))
    client = TestClient(create_app(settings, engine=engine), raise_server_exceptions=False)
    key = {"Authorization": "Bearer cred_f9b667a5fe_kOkHPPkhcgU5knv6iqHTxJFBeEnC09HC5cGDRzzYu8s"}
    try:
        response = client.get("/v1/audit/events", headers=key)
        _assert_problem(response, 503, "database-unavailable")
        assert response.headers["retry-after"] == "2"
        learner = client.put("/v1/learners/ana", json={}, headers=key)
        _assert_problem(learner, 503, "database-unavailable")
    finally:
        engine.dispose()
