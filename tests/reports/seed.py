"""A small organisation seeded through the API, with answers known in advance.

``now`` is when seeding starts; every date is relative to it or to the start of the current
month (``m0``), so the reports' answers below hold whenever the tests run.

| learner | department (history) | role (history) | foundations |
|---|---|---|---|
| ann | sales | marketing since now-100d | earned now-50d: holds |
| bob | sales | marketing since now-40d (P30D: overdue since now-10d) | nothing |
| cat | support | marketing since now-10d (due by now+20d) | brand-voice only: in progress |
| dan | support | marketing now-400d, community-manager since now-20d | earned now-400d: expired |
| eve | support | - | earned now-380d (expired now-15d), renewed now-30d: holds |
| fay | sales | - | earned now-340d: expires in ~25 days |
| gus | - | - | earned now-10d, revoked now: held before the revocation only |
| hal | ops since m0-40d | - | policy-101 at m0-1µs, brand-voice-101 at m0 (month boundary) |
| ivy | ops since m0-40d, sales since m0 | - | community-201 at m0-5d: practitioner in progress |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import REPO

DEMO = REPO / "service" / "catalog" / "demo" / "social-media-program.yaml"
FOUNDATIONS = "social-media/foundations"
PRACTITIONER = "social-media/practitioner"
BLACK_BELT = "social-media/black-belt"


def month_start(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Seeded:
    now: datetime
    m0: datetime
    completions: list[tuple[str, datetime]] = field(default_factory=list)
    role_since: dict[str, datetime] = field(default_factory=dict)
    revoked_at: datetime | None = None


def seed(client: Any, headers: dict[str, str]) -> Seeded:
    """Apply the demo catalog and seed the learners of the table above."""
    now = datetime.now(UTC).replace(microsecond=0)
    m0 = month_start(now)
    seeded = Seeded(now=now, m0=m0)
    response = client.put(
        "/v1/catalog",
        content=DEMO.read_bytes(),
        headers={**headers, "Content-Type": "application/yaml"},
    )
    assert response.status_code == 200, response.text

    def learner(learner_id: str, attributes: dict[str, str | None], at: datetime) -> None:
        response = client.put(
            f"/v1/learners/{learner_id}",
            json={
                "name": learner_id.capitalize(),
                "attributes": attributes,
                "attributes_effective_at": iso(at),
            },
            headers=headers,
        )
        assert response.status_code in (200, 201), response.text
        if "role" in attributes:
            seeded.role_since[learner_id] = at

    def complete(learner_id: str, course: str, at: datetime, score: float | None = None) -> None:
        body: dict[str, Any] = {"learner_id": learner_id, "course_id": course}
        body["completed_at"] = iso(at)
        if score is not None:
            body["score"] = score
        response = client.post("/v1/completions", json=body, headers=headers)
        assert response.status_code == 201, response.text
        seeded.completions.append((learner_id, at))

    def foundations(learner_id: str, at: datetime) -> None:
        complete(learner_id, "policy-101", at, 90)
        complete(learner_id, "brand-voice-101", at)

    day = timedelta(days=1)
    learner("ann", {"department": "sales", "role": "marketing"}, now - 100 * day)
    foundations("ann", now - 50 * day)
    learner("bob", {"department": "sales", "role": "marketing"}, now - 40 * day)
    learner("cat", {"department": "support", "role": "marketing"}, now - 10 * day)
    complete("cat", "policy-101", now - 5 * day, 70)  # below min_score 80: does not count
    complete("cat", "brand-voice-101", now - 5 * day)
    learner("dan", {"department": "support", "role": "marketing"}, now - 400 * day)
    foundations("dan", now - 400 * day)
    learner("dan", {"department": "support", "role": "community-manager"}, now - 20 * day)
    learner("eve", {"department": "support"}, now - 400 * day)
    foundations("eve", now - 380 * day)
    complete("eve", "policy-refresher", now - 30 * day)
    learner("fay", {"department": "sales"}, now - 345 * day)
    foundations("fay", now - 340 * day)
    learner("gus", {}, now - 20 * day)
    foundations("gus", now - 10 * day)
    learner("hal", {"department": "ops"}, m0 - 40 * day)
    complete("hal", "policy-101", m0 - timedelta(microseconds=1), 95)
    complete("hal", "brand-voice-101", m0)
    learner("ivy", {"department": "ops"}, m0 - 40 * day)
    complete("ivy", "community-201", m0 - 5 * day)
    learner("ivy", {"department": "sales"}, m0)

    listed = client.get("/v1/credentials", params={"learner_id": "gus"}, headers=headers).json()[
        "items"
    ]
    assert len(listed) == 1, listed
    revoked = client.post(f"/v1/credentials/{listed[0]['id']}/revoke", json={}, headers=headers)
    assert revoked.status_code == 200, revoked.text
    seeded.revoked_at = datetime.fromisoformat(revoked.json()["status_changed_at"])
    return seeded
