"""Browser-facing hardening headers: every response says ``X-Content-Type-Options: nosniff``."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("method", "path", "status", "media_type"),
    [
        ("GET", "/healthz", 200, "application/json"),
        ("GET", "/openapi.json", 200, "application/json"),
        ("GET", "/.well-known/jwks.json", 200, "application/jwk-set+json"),
        ("GET", "/v1/audit/events", 401, "application/problem+json"),
        ("GET", "/v1/nope", 404, "application/problem+json"),
        ("POST", "/v1/verify", 200, "application/json"),  # echoes what it was sent
        ("PATCH", "/healthz", 405, "application/problem+json"),
        ("GET", "/dashboard", 200, "text/html"),
    ],
)
def test_every_response_forbids_content_sniffing(  # type: ignore[no-untyped-def]
    client, method: str, path: str, status: int, media_type: str
) -> None:
    response = client.request(method, path, content=b"<script>alert(1)</script>")
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(media_type)
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]


def test_csv_and_authenticated_json_too(client, admin_headers) -> None:  # type: ignore[no-untyped-def]
    json_response = client.get("/v1/audit/events", headers=admin_headers)
    csv_response = client.get("/v1/reports/funnel?track=x&format=csv", headers=admin_headers)
    assert json_response.status_code == 200
    assert csv_response.status_code == 404  # no such track: still a problem document
    for response in (json_response, csv_response):
        assert response.headers.get_list("x-content-type-options") == ["nosniff"]
