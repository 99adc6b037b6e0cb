"""Browser-facing hardening: every response says ``X-Content-Type-Options: nosniff``; pages run
no inline script (their Content-Security-Policy has no ``'unsafe-inline'``)."""

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


def _policy(header: str) -> dict[str, str]:
    pairs = (item.strip().split(" ", 1) for item in header.split(";") if item.strip())
    return {name: value for name, value in pairs}


def test_the_dashboard_runs_no_inline_script(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/dashboard")
    policy = _policy(page.headers["content-security-policy"])
    assert policy["script-src"] == "'self'"
    assert policy["default-src"] == "'none'"
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    assert "<script>" not in page.text and " style=" not in page.text
    assert '<script src="/static/dashboard.js"></script>' in page.text
    script = client.get("/static/dashboard.js")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "sessionStorage" in script.text
    assert client.get("/static/vendor/chart.umd.min.js").status_code == 200


@pytest.mark.parametrize(
    "path", ["/static/nope.js", "/static/dashboard.html", "/static/../settings.py", "/static/"]
)
def test_only_listed_static_files_are_served(client, path: str) -> None:  # type: ignore[no-untyped-def]
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_a_page_with_inline_script_is_refused_at_start() -> None:
    from service.static_assets import content_security_policy

    with pytest.raises(ValueError, match="inline <script>"):
        content_security_policy("<p>x</p><script>alert(1)</script>")
    policy = _policy(content_security_policy("<style>p{}</style><script src='/a.js'></script>"))
    assert policy["style-src"].startswith("'self' 'sha256-")
