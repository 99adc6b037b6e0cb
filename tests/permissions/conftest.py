"""Permission test helpers: the demo catalog applied, learners earning levels through the API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.permissions.repository import (
    AttributeChange,
    CompletionRow,
    CredentialRow,
    FactsRows,
    LearnerRows,
    Snapshot,
    SummaryRow,
)
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


def every_kind_of_fact(demo: Demo) -> None:
    """Ana's history holds every kind of fact a check reads: levels earned a year ago, a
    renewal (which supersedes), a suspension and its reinstatement, completions with and
    without a score, attributes changed; Bob's a revoked credential."""
    held = demo.earn_up_to("ana", PRACTITIONER, days_ago(400))
    demo.earn("ana", FOUNDATIONS, days_ago(20))  # a renewal: supersedes the first
    demo.status(held[PRACTITIONER]["id"], "suspend")
    demo.status(held[PRACTITIONER]["id"], "reinstate")
    demo.complete("ana", "policy-101", days_ago(3), score=12.5, attributes={"region": "APAC"})
    demo.complete("ana", "brand-voice-101", days_ago(2), attributes={"department": "sales"})
    revoked = demo.earn("bob", FOUNDATIONS, days_ago(30))
    demo.status(revoked["id"], "revoke")


def summary_rows(revision: int, facts: str) -> LearnerRows:
    """A learner's ``learner_facts`` text as the :class:`LearnerRows` the tables' statements
    make: the plain reading of a row, which tests hold equal to the tables' and the check's own
    reading (:meth:`~service.permissions.cache.LearnerFacts.from_summary`) to it.

    Read record by record with explicit offsets (the layout in
    ``service.permissions.repository``): four parts between group separators, the credentials
    (eight fields a record), the status events (four), the attribute changes (four), the
    completions (five), every field between unit separators; an empty field is NULL."""
    parts = facts.split("\x1d")
    assert len(parts) == 4, parts

    def records(part: str, size: int) -> list[list[str]]:
        if part == "":
            return []
        fields = part.split("\x1f")
        assert len(fields) % size == 0, (size, fields)
        return [fields[start : start + size] for start in range(0, len(fields), size)]

    def moment(field: str) -> datetime | None:
        if field == "":
            return None
        parsed = datetime.fromisoformat(field)
        assert parsed.tzinfo is UTC and len(field) == len("2026-01-01T00:00:00.000000+00:00")
        return parsed

    credentials: dict[str, CredentialRow] = {}
    for credential_id, level_id, status, superseded_by, *moments in records(parts[0], 8):
        valid_from, valid_until, status_changed_at, superseded_at = map(moment, moments)
        assert valid_from is not None
        credentials[credential_id] = CredentialRow(
            credential_id,
            level_id,
            valid_from,
            valid_until,
            status,  # type: ignore[arg-type]
            status_changed_at,
            superseded_by or None,
            superseded_at,
            [],
        )
    for credential_id, status, at, event_id in records(parts[1], 4):
        credentials[credential_id].events.append((moment(at), int(event_id), status))  # type: ignore[arg-type]
    attributes = []
    for name, value, changed_at, change_id in records(parts[2], 4):
        if value == "":
            kept: str | None = None
        elif value.startswith("\x1c"):
            kept = json.loads(value[1:])
            assert isinstance(kept, str)
        else:
            assert not any(c in value for c in "\x1c\x1d\x1e\x1f"), value
            kept = value
        attributes.append(AttributeChange(name, kept, moment(changed_at), int(change_id)))  # type: ignore[arg-type]
    completions = []
    for completion_id, course, completed_at, score, passed in records(parts[3], 5):
        assert passed in ("0", "1")
        completions.append(
            CompletionRow(
                completion_id,
                course,
                moment(completed_at),  # type: ignore[arg-type]
                float(score) if score != "" else None,
                passed == "1",
            )
        )
    return LearnerRows(True, revision, credentials, attributes, completions)


def as_rows(facts: FactsRows) -> LearnerRows:
    """A learner's facts as a read gave them, as :class:`LearnerRows`."""
    return summary_rows(*facts) if isinstance(facts, SummaryRow) else facts


def in_order(snapshot: Snapshot) -> Snapshot:
    """``snapshot`` with each learner's facts as :class:`LearnerRows` (:func:`as_rows`), sorted
    (a statement gives them in any order), without an active credential's
    ``status_changed_at`` (a facts row does not keep it: nothing reads it, see
    ``test_an_active_credentials_status_change_is_never_read``)."""
    snapshot.facts = {learner: as_rows(rows) for learner, rows in snapshot.facts.items()}
    for rows in snapshot.facts.values():
        rows.attributes.sort(key=lambda change: change.id)
        rows.completions.sort(key=lambda completion: completion.id)
        for credential_id, credential in rows.credentials.items():
            credential.events.sort()
            if credential.status == "active":
                rows.credentials[credential_id] = credential._replace(status_changed_at=None)
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
