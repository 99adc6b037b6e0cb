"""API keys never reach the logs: not on success, not on 401/403, not in errors."""

from __future__ import annotations

import logging

from fastapi.testclient import TestClient

from service.app import create_app


def test_keys_used_in_requests_never_appear_in_logs(settings, database, make_key, capfd) -> None:  # type: ignore[no-untyped-def]
    settings = settings.model_copy(update={"log_level": "DEBUG"})
    app = create_app(settings, engine=database.engine)
    key = make_key("audit:read")
    forged = key[:-3] + "zzz"
    with TestClient(app, raise_server_exceptions=False) as client:
        client.get("/v1/audit/events", headers={"Authorization": f"Bearer {key}"})
        client.get("/v1/api-clients", headers={"Authorization": f"Bearer {key}"})
        client.get("/v1/audit/events", headers={"Authorization": f"Bearer {forged}"})
        client.post(
            "/v1/api-clients",
            content=b"{not json",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
    logging.getLogger("credence").handlers[0].flush()
    captured = capfd.readouterr()
    logs = captured.out + captured.err
    assert '"route": "/v1/audit/events"' in logs  # the requests were logged...
    secret = key.split("_", 2)[2]
    assert secret not in logs  # ...but never the key, or its secret part
    assert forged.split("_", 2)[2] not in logs
