"""Verification test helpers: the demo catalog applied, learners earning Foundations, the CLI."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.cli.main import app as cli_app
from tests.conftest import REPO, Database

DEMO = REPO / "service" / "catalog" / "demo" / "social-media-program.yaml"
BASE = "https://credence.test"
FOUNDATIONS = "social-media/foundations"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def claims_of(token: str) -> dict[str, Any]:
    segment = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return decoded


def header_of(token: str) -> dict[str, Any]:
    segment = token.split(".")[0]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return decoded


class Demo:
    """The demo catalog on a client; ``earn(learner)`` returns (credential id, JWT)."""

    def __init__(self, client: TestClient, admin: dict[str, str]) -> None:
        self.client = client
        self.admin = admin

    def earn(self, learner: str, when: datetime | None = None) -> tuple[str, str]:
        at = iso(when or datetime.now(UTC) - timedelta(days=1))
        issued: list[dict[str, Any]] = []
        for course, score in (("policy-101", 90), ("brand-voice-101", None)):
            body: dict[str, Any] = {"learner_id": learner, "course_id": course, "completed_at": at}
            if score is not None:
                body["score"] = score
            response = self.client.post("/v1/completions", json=body, headers=self.admin)
            assert response.status_code == 201, response.text
            issued += response.json()["issued"]
        found = [c for c in issued if c["level"] == FOUNDATIONS]
        assert found, issued
        credential_id: str = found[0]["id"]
        return credential_id, self.jwt(credential_id)

    def jwt(self, credential_id: str) -> str:
        response = self.client.get(
            f"/v1/credentials/{credential_id}",
            headers={**self.admin, "Accept": "application/vc+jwt"},
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/vc+jwt")
        return response.text

    def status(self, credential_id: str, action: str) -> None:
        response = self.client.post(
            f"/v1/credentials/{credential_id}/{action}",
            json={"reason": f"test {action}"},
            headers=self.admin,
        )
        assert response.status_code == 200, response.text

    def verify(self, token: str) -> dict[str, Any]:
        response = self.client.post(
            "/v1/verify", content=token, headers={"Content-Type": "application/vc+jwt"}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def check_map(body: dict[str, Any]) -> dict[str, str]:
    return {c["check"]: c["status"] for c in body["checks"]}


def detail(body: dict[str, Any], name: str) -> str:
    return next(str(c["detail"]) for c in body["checks"] if c["check"] == name)


@pytest.fixture
def demo(client: TestClient, admin_headers: dict[str, str]) -> Demo:
    applied = client.put(
        "/v1/catalog",
        content=DEMO.read_bytes(),
        headers={**admin_headers, "Content-Type": "application/yaml"},
    )
    assert applied.status_code == 200, applied.text
    return Demo(client, admin_headers)


@pytest.fixture
def cli(database: Database) -> Callable[..., Any]:
    """Run ``credence ARGS`` against the test database; returns the click Result."""
    runner = CliRunner()

    def run(*args: str, env: dict[str, str] | None = None) -> Any:
        environment = {
            "CREDENCE_DATABASE_URL": database.url,
            "CREDENCE_BASE_URL": BASE,
            "CREDENCE_LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        return runner.invoke(cli_app, list(args), env=environment, catch_exceptions=False)

    return run


def save(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)
