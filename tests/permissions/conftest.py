"""Permission test helpers: the demo catalog applied, learners earning levels through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.permissions.repository import Snapshot
from tests.conftest import REPO

DEMO = REPO / "service" / "catalog" / "demo" / "social-media-program.yaml"
FOUNDATIONS = "social-media/foundations"
PRACTITIONER = "social-media/practitioner"
BLACK_BELT = "social-media/black-belt"

COURSES = {
    FOUNDATIONS: [("policy-101", 90), ("brand-voice-101", None)],
    PRACTITIONER: [("disclosure-101", None), ("community-201", None), ("analytics-201", None)],
    BLACK_BELT: [("crisis-301", 90), ("legal-301", 90), ("mentoring-301", None)],
}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def in_order(snapshot: Snapshot) -> Snapshot:
    """``snapshot`` with each learner's facts sorted (a statement gives them in any order)."""
    for rows in snapshot.facts.values():
        rows.attributes.sort(key=lambda change: change.id)
        rows.completions.sort(key=lambda completion: completion.id)
        for credential in rows.credentials.values():
            credential.events.sort()
    return snapshot


class Demo:
    """The demo catalog on a test client, with helpers to earn levels and ask for decisions."""

    def __init__(self, client: TestClient, admin: dict[str, str], checker: dict[str, str]):
        self.client = client
        self.admin = admin
        self.checker = checker

    def complete(
        self,
        learner: str,
        course: str,
        when: datetime,
        score: float | None = None,
        attributes: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        body: dict[str, Any] = {
            "learner_id": learner,
            "course_id": course,
            "completed_at": iso(when),
            "learner": {"attributes": attributes or {"region": "EU"}},
        }
        if score is not None:
            body["score"] = score
        response = self.client.post("/v1/completions", json=body, headers=self.admin)
        assert response.status_code == 201, response.text
        issued: list[dict[str, Any]] = response.json()["issued"]
        return issued

    def earn(self, learner: str, level: str, when: datetime, **kwargs: Any) -> dict[str, Any]:
        """Post the level's courses at ``when``; returns the credential issued for ``level``."""
        issued: list[dict[str, Any]] = []
        for course, score in COURSES[level]:
            issued += self.complete(learner, course, when, score, **kwargs)
        found = [c for c in issued if c["level"] == level]
        assert found, f"{level} was not issued: {issued}"
        return found[-1]

    def earn_up_to(self, learner: str, level: str, when: datetime) -> dict[str, dict[str, Any]]:
        held: dict[str, dict[str, Any]] = {}
        for each in (FOUNDATIONS, PRACTITIONER, BLACK_BELT):
            held[each] = self.earn(learner, each, when)
            if each == level:
                break
        return held

    def status(self, credential_id: str, action: str) -> dict[str, Any]:
        response = self.client.post(
            f"/v1/credentials/{credential_id}/{action}", json={}, headers=self.admin
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def check(self, learner: str, program: str, at: datetime | str | None = None) -> Any:
        params = {"learner_id": learner, "program": program}
        if at is not None:
            params["at"] = at if isinstance(at, str) else iso(at)
        response = self.client.get("/v1/permissions/check", params=params, headers=self.checker)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def demo(client: TestClient, admin_headers: dict[str, str], make_key: Any) -> Demo:
    applied = client.put(
        "/v1/catalog",
        content=DEMO.read_bytes(),
        headers={**admin_headers, "Content-Type": "application/yaml"},
    )
    assert applied.status_code == 200, applied.text
    checker = {"Authorization": f"Bearer {make_key('permissions:check', name='publisher')}"}
    return Demo(client, admin_headers, checker)
