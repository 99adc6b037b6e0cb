"""/docs is Swagger UI served from this origin under a strict Content-Security-Policy (nothing
from a CDN, no inline script); /redoc redirects there; the vendored files are the ones recorded
in service/static/vendor/README.md."""

from __future__ import annotations

import hashlib
import re

from service.static_assets import STATIC


def _policy(header: str) -> dict[str, str]:
    pairs = (item.strip().split(" ", 1) for item in header.split(";") if item.strip())
    return {name: value for name, value in pairs}


def test_docs_load_nothing_from_elsewhere(client) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = _policy(page.headers["content-security-policy"])
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert "unsafe-inline" not in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources == [
        "data:,",
        "/static/vendor/swagger-ui.css",
        "/static/vendor/swagger-ui-bundle.js",
        "/static/docs.js",
    ]
    for source in sources[1:]:
        asset = client.get(source)
        assert asset.status_code == 200, source
        kind = "text/css" if source.endswith(".css") else "text/javascript"
        assert asset.headers["content-type"].startswith(kind)
    assert '"/openapi.json"' in client.get("/static/docs.js").text
    assert client.get("/openapi.json").status_code == 200


def test_redoc_redirects_to_the_docs(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/redoc", follow_redirects=False)
    assert response.status_code == 308
    assert response.headers["location"] == "/docs"


def test_the_vendored_files_are_the_recorded_ones() -> None:
    table = (STATIC / "vendor" / "README.md").read_text(encoding="utf-8")
    recorded = dict(re.findall(r"^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$", table, flags=re.M))
    assert set(recorded) == {"chart.umd.min.js", "swagger-ui-bundle.js", "swagger-ui.css"}
    for name, digest in recorded.items():
        assert hashlib.sha256((STATIC / "vendor" / name).read_bytes()).hexdigest() == digest
    assert b"5.35.0" in (STATIC / "vendor" / "swagger-ui-bundle.js").read_bytes()  # its version
