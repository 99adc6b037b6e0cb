"""The reports count a level as *held* exactly as permission decisions do (DESIGN.md §1, issue 17):
a Practitioner whose Foundations was revoked, or has expired, holds nothing — the permission
check denies them and the certification and compliance reports do not count them — and a
holder whose foundation lapses soon is counted as expiring then. On SQLite and PostgreSQL,
through the API."""

from __future__ import annotations

from typing import Any

import pytest

from tests.permissions.conftest import DEMO, FOUNDATIONS, PRACTITIONER, Demo, days_ago, iso


@pytest.fixture
def demo(client, admin_headers, make_key) -> Demo:  # type: ignore[no-untyped-def]
    applied = client.put(
        "/v1/catalog",
        content=DEMO.read_bytes(),
        headers={**admin_headers, "Content-Type": "application/yaml"},
    )
    assert applied.status_code == 200, applied.text
    checker = {"Authorization": f"Bearer {make_key('permissions:check', name='publisher')}"}
    return Demo(client, admin_headers, checker)


def report(demo: Demo, path: str, **params: str) -> Any:
    response = demo.client.get(f"/v1/reports/{path}", params=params, headers=demo.admin)
    assert response.status_code == 200, response.text
    return response.json()


def certified(demo: Demo, level_id: str, **params: str) -> dict[str, Any]:
    (group,) = report(demo, "certification", **params)["groups"]
    found: dict[str, Any] = next(x for x in group["levels"] if x["level"] == level_id)
    return found


def community_managers(demo: Demo) -> dict[str, Any]:
    body = report(demo, "compliance", role="community-manager")
    (mandate,) = body["mandates"]
    totals: dict[str, Any] = mandate["totals"]
    return totals


def test_a_revoked_foundation_stops_the_practitioner_counting_in_decisions_and_reports(
    demo: Demo,
) -> None:
    held = demo.earn_up_to("pia", PRACTITIONER, days_ago(100))
    demo.complete("pia", "disclosure-101", days_ago(90), attributes={"role": "community-manager"})
    assert demo.check("pia", "run-paid-campaigns")["allowed"] is True
    assert certified(demo, PRACTITIONER)["holders"] == 1
    assert community_managers(demo)["compliant"] == 1
    before = iso(days_ago(1))

    demo.status(held[FOUNDATIONS]["id"], "revoke")

    denied = demo.check("pia", "run-paid-campaigns")
    assert denied["allowed"] is False
    assert "its prerequisite Social Media Foundations was revoked" in denied["reasons"][0]
    practitioner = certified(demo, PRACTITIONER)
    assert practitioner["holders"] == 0 and practitioner["share"] == 0
    assert practitioner["expired_not_renewed"] == 0  # its own credential has not expired
    assert certified(demo, FOUNDATIONS)["holders"] == 0
    assert community_managers(demo) == {"learners": 1, "compliant": 0, "due": 1, "overdue": 0}
    # As things stood before the revocation, both still count, in decisions and reports alike.
    assert demo.check("pia", "run-paid-campaigns", at=before)["allowed"] is True
    assert certified(demo, PRACTITIONER, at=before)["holders"] == 1


def test_an_expired_foundation_stops_the_practitioner_counting_and_one_expiring_soon_shows(
    demo: Demo,
) -> None:
    demo.earn_up_to("old", PRACTITIONER, days_ago(400))  # Foundations (P1Y) has expired
    demo.earn("new", FOUNDATIONS, days_ago(350))  # expires in about 15 days
    demo.earn("new", PRACTITIONER, days_ago(300))  # its own P2Y lasts far longer

    assert demo.check("old", "run-paid-campaigns")["allowed"] is False
    lapsing = demo.check("new", "run-paid-campaigns")
    assert lapsing["allowed"] is True
    assert "when Social Media Foundations expires" in lapsing["reasons"][0]

    practitioner = certified(demo, PRACTITIONER)
    assert practitioner["holders"] == 1  # "new" only
    # "new"'s Practitioner stops counting with its Foundations, as the decision's valid_until.
    assert practitioner["expiring_30"] == 1
    foundations = certified(demo, FOUNDATIONS)
    assert (foundations["holders"], foundations["expiring_30"]) == (1, 1)
    assert foundations["expired_not_renewed"] == 1  # "old"
