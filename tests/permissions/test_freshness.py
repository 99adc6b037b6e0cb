"""Freshness across processes: two real uvicorn servers on one database. A revocation,
suspension, reinstatement, revoked API key or catalog change committed through one is reflected
by the other's very next check (DESIGN.md §4: nothing cached may outlive a revocation)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO, Database
from tests.permissions.conftest import COURSES, DEMO, FOUNDATIONS, PRACTITIONER, iso


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    def __init__(self, database_url: str, tmp_path: Path, name: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "CREDENCE_DATABASE_URL": database_url,
            "CREDENCE_BASE_URL": "https://credence.test",
            "CREDENCE_DEV_KEY_FILE": str(tmp_path / "dev-key"),
            "CREDENCE_LOG_LEVEL": "WARNING",
        }
        self.log_path = tmp_path / f"{name}.log"
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "serve", "--port", str(self.port)],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.client = httpx.Client(base_url=self.url, timeout=10)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 90  # generous: CI machines can be busy
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.process.returncode}: {self.log_path.read_text()}"
                )
            try:
                if self.client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not become ready: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        self.client.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture
def servers(database: Database, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    """Process A then process B (started in turn: the first makes the development key)."""
    started: list[Server] = []
    try:
        for name in ("a", "b"):
            server = Server(database.url, tmp_path, name)
            started.append(server)
            server.wait_ready()
        yield started[0], started[1]
    finally:
        for server in started:
            server.stop()


def check(server: Server, key: str, learner: str, program: str) -> Any:
    response = server.client.get(
        "/v1/permissions/check",
        params={"learner_id": learner, "program": program},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def earn(server: Server, admin: dict[str, str], learner: str, level: str) -> str:
    when = datetime.now(UTC) - timedelta(days=10)
    issued: list[dict[str, Any]] = []
    for course, score in COURSES[level]:
        body: dict[str, Any] = {
            "learner_id": learner,
            "course_id": course,
            "completed_at": iso(when),
        }
        if score is not None:
            body["score"] = score
        response = server.client.post("/v1/completions", json=body, headers=admin)
        assert response.status_code == 201, response.text
        issued += response.json()["issued"]
    return str(next(c["id"] for c in issued if c["level"] == level))


def test_a_change_through_one_process_is_seen_by_the_others_next_check(  # type: ignore[no-untyped-def]
    servers: tuple[Server, Server], make_key
) -> None:
    a, b = servers
    admin = {"Authorization": f"Bearer {make_key('admin', name='admin')}"}
    checker = make_key("permissions:check", name="publisher")
    yaml = {**admin, "Content-Type": "application/yaml"}
    applied = a.client.put("/v1/catalog", content=DEMO.read_bytes(), headers=yaml)
    assert applied.status_code == 200, applied.text
    ana = earn(a, admin, "ana", FOUNDATIONS)
    bo = earn(a, admin, "bo", FOUNDATIONS)
    # Warm both processes: connection, compiled catalog, anything they might keep.
    for _ in range(20):
        assert check(b, checker, "ana", "post-on-brand-accounts")["allowed"] is True
        assert check(a, checker, "bo", "post-on-brand-accounts")["allowed"] is True

    revoked = a.client.post(f"/v1/credentials/{ana}/revoke", json={}, headers=admin)
    assert revoked.status_code == 200
    after = check(b, checker, "ana", "post-on-brand-accounts")
    assert after["allowed"] is False
    assert after["reasons"][0].startswith("Social Media Foundations was revoked on")

    assert b.client.post(f"/v1/credentials/{bo}/suspend", json={}, headers=admin).status_code == 200
    assert check(a, checker, "bo", "post-on-brand-accounts")["allowed"] is False
    assert (
        b.client.post(f"/v1/credentials/{bo}/reinstate", json={}, headers=admin).status_code == 200
    )
    assert check(a, checker, "bo", "post-on-brand-accounts")["allowed"] is True

    # A catalog change through A: B's next check uses the new requires expression.
    assert check(b, checker, "bo", "run-paid-campaigns")["allowed"] is False
    relaxed = DEMO.read_text().replace(
        "requires: {all_of: [social-media/practitioner]}",
        f"requires: {{any_of: [{PRACTITIONER}, {FOUNDATIONS}]}}",
    )
    applied = a.client.put("/v1/catalog", content=relaxed, headers=yaml)
    assert applied.status_code == 200, applied.text
    assert check(b, checker, "bo", "run-paid-campaigns")["allowed"] is True

    # A revoked API key: refused by the other process on its next request.
    created = a.client.post(
        "/v1/api-clients", json={"name": "tool", "scopes": ["permissions:check"]}, headers=admin
    ).json()
    assert check(b, created["key"], "bo", "post-on-brand-accounts")["allowed"] is True
    assert a.client.delete(f"/v1/api-clients/{created['prefix']}", headers=admin).status_code == 200
    refused = b.client.get(
        "/v1/permissions/check",
        params={"learner_id": "bo", "program": "post-on-brand-accounts"},
        headers={"Authorization": f"Bearer {created['key']}"},
    )
    assert refused.status_code == 401
