"""Operations endpoints, request ids and metrics."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import text

from service.app import create_app


def test_healthz_and_readyz(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"


def test_readyz_is_503_when_schema_is_behind(settings, database) -> None:  # type: ignore[no-untyped-def]
    with database.engine.begin() as connection:
        head = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        connection.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    try:
        with TestClient(create_app(settings, engine=database.engine)) as client:
            response = client.get("/readyz")
    finally:  # the PostgreSQL test database is shared by the whole session
        with database.engine.begin() as connection:
            connection.execute(
                text("UPDATE alembic_version SET version_num = :head"), {"head": head}
            )
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "credence db upgrade" in response.json()["detail"]


def test_request_id_is_echoed_or_generated(client) -> None:  # type: ignore[no-untyped-def]
    echoed = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert generated.headers["x-request-id"] not in ("", "bad id with spaces")
    assert client.get("/nope").headers["x-request-id"]


def test_metrics_count_requests_by_route_and_status(client) -> None:  # type: ignore[no-untyped-def]
    client.get("/healthz")
    client.get("/healthz")
    client.get("/v1/audit/events")
    text_body = client.get("/metrics").text
    assert (
        'credence_http_requests_total{method="GET",route="/healthz",status="200"} 2.0' in text_body
    )
    assert 'route="/v1/audit/events",status="401"' in text_body
    assert "credence_http_request_duration_seconds_bucket" in text_body
