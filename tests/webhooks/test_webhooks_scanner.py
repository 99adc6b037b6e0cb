"""Time-based events with the clock moved (nothing sleeps): credential.expiring once per
threshold, credential.expired once, mandate.overdue once per role assignment — also when several
scanners run at the same time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, func, select

from service.models import WebhookEvent
from service.webhooks.scanner import scan
from tests.webhooks.conftest import Clock, drain, earn_foundations, payloads, subscribe

EXPIRY_EVENTS = ["credential.expiring", "credential.expired"]


def _until(credential) -> datetime:  # type: ignore[no-untyped-def]
    return datetime.fromisoformat(credential["valid_until"])


def test_expiring_fires_once_per_threshold_and_expired_once(  # type: ignore[no-untyped-def]
    api, admin_headers, receiver, database, settings, config
) -> None:
    subscribe(api, admin_headers, receiver, events=EXPIRY_EVENTS)
    kept = earn_foundations(api, admin_headers, "kim")
    revoked = earn_foundations(api, admin_headers, "leo")
    api.post(f"/v1/credentials/{revoked['id']}/revoke", headers=admin_headers)
    until = _until(kept)
    clock = Clock()

    def at(moment: datetime) -> list[tuple[str, object]]:
        clock.now = moment
        drain(database, settings, config, clock)
        drain(database, settings, config, clock, name="second-instance")  # scans again: nothing
        return [(p["type"], p["data"].get("threshold_days")) for p in payloads(receiver)]

    assert at(until - timedelta(days=40)) == []
    assert at(until - timedelta(days=29, hours=23)) == [("credential.expiring", 30)]
    assert at(until - timedelta(days=20)) == [("credential.expiring", 30)]
    assert at(until - timedelta(days=6)) == [
        ("credential.expiring", 30),
        ("credential.expiring", 7),
    ]
    assert at(until + timedelta(minutes=1)) == [
        ("credential.expiring", 30),
        ("credential.expiring", 7),
        ("credential.expired", None),
    ]
    assert at(until + timedelta(days=2)) == at(until + timedelta(days=1))
    assert len(receiver.ok()) == 3

    assert {p["data"]["credential"] for p in payloads(receiver)} == {kept["id"]}  # not leo's
    thirty, seven, expired = payloads(receiver)
    assert thirty["data"]["days_left"] == 29 and seven["data"]["days_left"] == 6
    assert expired["data"] == {
        "credential": kept["id"],
        "learner": "kim",
        "level": "social-media/foundations",
        "valid_until": until.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }
    assert len(set(receiver.ids())) == 3


def test_a_scanner_that_missed_the_30_day_mark_sends_only_the_7_day_event(  # type: ignore[no-untyped-def]
    api, admin_headers, receiver, database, settings, config
) -> None:
    subscribe(api, admin_headers, receiver, events=EXPIRY_EVENTS)
    credential = earn_foundations(api, admin_headers, "mia")
    clock = Clock(_until(credential) - timedelta(days=3))
    drain(database, settings, config, clock)
    clock.advance(days=1)
    drain(database, settings, config, clock)
    assert [p["data"]["threshold_days"] for p in payloads(receiver)] == [7]


@pytest.mark.parametrize("scanners", [4])
def test_concurrent_scanners_emit_each_event_once(  # type: ignore[no-untyped-def]
    api, admin_headers, database, config, scanners: int
) -> None:
    credentials = [earn_foundations(api, admin_headers, f"learner-{n}") for n in range(5)]
    now = _until(credentials[-1]) - timedelta(days=10)
    start = threading.Barrier(scanners)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            for _ in range(3):
                with Session(database.engine) as session:
                    scan(session, config, now=now)
                    session.commit()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(scanners)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with Session(database.engine) as session:
        rows = session.exec(
            select(WebhookEvent.subject, WebhookEvent.threshold, func.count()).group_by(
                WebhookEvent.subject, WebhookEvent.threshold
            )
        ).all()
    assert sorted(rows) == sorted((c["id"], "30", 1) for c in credentials)


def test_mandate_overdue_once_for_a_role_without_its_level(  # type: ignore[no-untyped-def]
    api, admin_headers, receiver, database, settings, config
) -> None:
    subscribe(api, admin_headers, receiver, events=["mandate.overdue"])
    for learner in ("nina", "omar"):
        response = api.put(
            f"/v1/learners/{learner}",
            json={"attributes": {"role": "marketing"}},
            headers=admin_headers,
        )
        assert response.status_code in (200, 201), response.text
    earn_foundations(api, admin_headers, "omar")  # marketing needs Foundations within P30D
    clock = Clock()
    drain(database, settings, config, clock)
    assert payloads(receiver) == []  # not due yet
    clock.advance(days=31)
    drain(database, settings, config, clock)
    clock.advance(days=1)
    drain(database, settings, config, clock, name="again")

    (overdue,) = payloads(receiver)
    assert overdue["type"] == "mandate.overdue"
    data = overdue["data"]
    assert (data["learner"], data["role"], data["level"]) == (
        "nina",
        "marketing",
        "social-media/foundations",
    )
    since = datetime.fromisoformat(data["role_since"])
    assert datetime.fromisoformat(data["due_at"]) == since + timedelta(days=30)


def test_a_mandated_level_whose_prerequisite_was_revoked_is_overdue(  # type: ignore[no-untyped-def]
    api, admin_headers, receiver, database, settings, config
) -> None:
    """'Held' is the one definition (service/core/held.py), here too: a community manager whose
    Practitioner stands on a revoked Foundations does not hold Practitioner, as permission checks
    and the compliance report say, so the mandate is overdue; one whose Foundations stands is
    not."""
    subscribe(api, admin_headers, receiver, events=["mandate.overdue"])
    for learner in ("pia", "quin"):
        response = api.put(
            f"/v1/learners/{learner}",
            json={"attributes": {"role": "community-manager"}},  # Practitioner within P60D
            headers=admin_headers,
        )
        assert response.status_code in (200, 201), response.text
        foundations = earn_foundations(api, admin_headers, learner)
        awarded = api.post(
            "/v1/credentials",
            json={"learner_id": learner, "level": "social-media/practitioner", "reason": "test"},
            headers=admin_headers,
        )
        assert awarded.status_code == 201, awarded.text
        if learner == "pia":
            revoked = api.post(
                f"/v1/credentials/{foundations['id']}/revoke",
                json={"reason": "test"},
                headers=admin_headers,
            )
            assert revoked.status_code == 200, revoked.text
    clock = Clock()
    drain(database, settings, config, clock)
    assert payloads(receiver) == []  # not due yet
    clock.advance(days=61)
    drain(database, settings, config, clock)
    (overdue,) = payloads(receiver)
    data = overdue["data"]
    assert (data["learner"], data["role"], data["level"]) == (
        "pia",
        "community-manager",
        "social-media/practitioner",
    )
