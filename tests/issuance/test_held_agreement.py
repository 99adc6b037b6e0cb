"""Property: "held at t" has one answer everywhere (DESIGN.md §1, issue 17).

For random credential histories of one learner on the demo catalog (Foundations <- Practitioner
<- Black Belt) — awards, expiry, suspension and reinstatement, revocation, renewals superseding
the credential before — stored in a real database (SQLite and PostgreSQL), and a random moment
``t``, three readers agree on which levels the learner holds at ``t``:

* the permission engine, over the facts its own store reads (:func:`held_levels`);
* issuance: the earning engine's prerequisite check (:func:`holds` over the facts as they stood
  at ``t``, and the prerequisites :func:`evaluate_level` reports missing);
* the certification report at ``t`` (holders, and expiring within 30 days as the decision's
  first lapse).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlmodel import Session

from service.core.held import holds
from service.issuance.compiled import CompiledCatalog, compile_catalog
from service.issuance.engine import evaluate_level
from service.issuance.engine_rules import held_timeline
from service.issuance.history import facts_at
from service.issuance.repository import credential_rows, status_events
from service.issuance.service import credential_history
from service.models import Credential, CredentialStatusEvent, Learner
from service.permissions.cache import held_credential
from service.permissions.engine import held_levels
from service.permissions.repository import PermissionStore
from service.reports import service as reports
from tests.conftest import Database
from tests.permissions.conftest import BLACK_BELT, DEMO, FOUNDATIONS, PRACTITIONER

START = datetime(2025, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
LEVELS = (FOUNDATIONS, PRACTITIONER, BLACK_BELT)
LEARNER = "hypo"

offsets = st.tuples(st.integers(0, 40), st.integers(0, 23)).map(
    lambda dh: dh[0] * DAY + dh[1] * HOUR
)


@dataclass
class Row:
    level_id: str
    valid_from: datetime
    valid_until: datetime | None
    issued_at: datetime
    events: list[tuple[datetime, str]] = field(default_factory=list)  # after the issue event
    superseded_at: datetime | None = None
    superseded_by: int | None = None

    @property
    def status(self) -> str:
        return self.events[-1][1] if self.events else "active"


@st.composite
def changes(draw: st.DrawFn, since: datetime, end_live: bool) -> list[tuple[datetime, str]]:
    """Suspensions, reinstatements and a revocation after ``since``; ``end_live``: the last one
    leaves it unrevoked (so the next award can supersede it)."""
    events: list[tuple[datetime, str]] = []
    status, at = "active", since
    for _ in range(draw(st.integers(0, 3))):
        at += draw(offsets) + HOUR
        moves = {"active": ["suspended", "revoked"], "suspended": ["active", "revoked"]}[status]
        if end_live:
            moves = [m for m in moves if m != "revoked"]
        status = draw(st.sampled_from(moves))
        events.append((at, status))
        if status == "revoked":
            break
    if end_live and status == "suspended":
        events.append((at + HOUR, "active"))
    return events


@st.composite
def histories(draw: st.DrawFn) -> list[Row]:
    """Per level, credentials one after another: each before the last was either revoked
    (then a fresh award follows) or superseded by the next (recorded when it was issued)."""
    rows: list[Row] = []
    for level_id in LEVELS:
        at = START + draw(offsets)
        previous: Row | None = None
        for _ in range(draw(st.integers(0, 3))):
            valid_from = at
            lifetime = draw(st.none() | st.integers(5, 60).map(lambda n: n * DAY))
            issued_at = valid_from + draw(st.sampled_from([timedelta(0), HOUR, 3 * DAY]))
            if previous is not None and previous.status != "revoked":
                previous.superseded_at = max(issued_at, previous.issued_at)
                previous.superseded_by = len(rows)
            row = Row(
                level_id,
                valid_from,
                valid_from + lifetime if lifetime is not None else None,
                issued_at,
            )
            supersede_next = draw(st.booleans())
            row.events = draw(changes(issued_at, end_live=supersede_next))
            rows.append(row)
            previous = row
            at = valid_from + draw(offsets) + HOUR
    return rows


def credential_id(index: int) -> str:
    return f"urn:uuid:00000000-0000-4000-8000-{index:012d}"


def store(session: Session, rows: list[Row]) -> None:
    session.add(
        Learner(
            id=LEARNER, subject_uuid="0" * 36, attributes={}, created_at=START, updated_at=START
        )
    )
    session.flush()
    for index, row in enumerate(rows):
        changed = row.events[-1][0] if row.events else row.issued_at
        session.add(
            Credential(
                id=credential_id(index),
                learner_id=LEARNER,
                level_id=row.level_id,
                level_version=1,
                issued_at=row.issued_at,
                valid_from=row.valid_from,
                valid_until=row.valid_until,
                status=row.status,
                status_changed_at=changed,
                superseded_by=credential_id(row.superseded_by)
                if row.superseded_by is not None
                else None,
                superseded_at=row.superseded_at,
                evidence=[],
                kid="",
                jwt="",
            )
        )
        session.flush()  # one live credential per level at a time: in order
        for at, status in [(row.issued_at, "active"), *row.events]:
            session.add(
                CredentialStatusEvent(
                    credential_id=credential_id(index), status=status, at=at, actor="test"
                )
            )
    session.flush()


def clear(session: Session) -> None:
    for table in (CredentialStatusEvent, Credential, Learner):
        session.execute(delete(table))  # type: ignore[arg-type]
    session.commit()


@pytest.fixture
def catalog(client, admin_headers, database: Database) -> CompiledCatalog:  # type: ignore[no-untyped-def]
    applied = client.put(
        "/v1/catalog",
        content=DEMO.read_bytes(),
        headers={**admin_headers, "Content-Type": "application/yaml"},
    )
    assert applied.status_code == 200, applied.text
    with Session(database.engine) as session:
        return compile_catalog(session, revision=-1)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=histories(), t=offsets.map(lambda o: START + 2 * o))
def test_permissions_issuance_and_reports_agree_on_what_is_held(
    database: Database, catalog: CompiledCatalog, rows: list[Row], t: datetime
) -> None:
    prerequisites = catalog.prerequisites
    names = {level_id: level_id for level_id in LEVELS}
    with Session(database.engine) as session:
        clear(session)
        store(session, rows)
        session.commit()
        try:
            # Permission decisions: the facts as the permission store reads them.
            permission_store = PermissionStore(database.engine)
            try:
                learner = permission_store.facts([LEARNER])[LEARNER]
            finally:
                permission_store.close()
            holdings = held_levels(
                [held_credential(r, names) for r in learner.credentials.values()],
                prerequisites,
                t,
                names,
            )
            held = set(holdings.held)

            # Issuance: the earning engine's facts as they stood at t.
            events = status_events(session, LEARNER)
            _, facts = facts_at(
                [],
                [
                    credential_history(r, events.get(r.id, ()))
                    for r in credential_rows(session, LEARNER)
                ],
                t,
            )
            timeline = held_timeline(facts)
            assert {lv for lv in LEVELS if holds((lv,), timeline, prerequisites, t)} == held
            for level_id, rule in catalog.rules.items():
                missing = evaluate_level(rule, [], facts, t, prerequisites).missing
                if missing is not None:
                    assert set(missing.levels) == set(rule.prerequisites) - held, level_id

            # Reports: the certification report as of t.
            report = reports.certification(session, catalog, group_by=None, track=None, at=t)
            (group,) = report.groups
            by_level = {x.level: x for x in group.levels}
            assert {lv for lv in LEVELS if by_level[lv].holders == 1} == held
            for level_id in LEVELS:
                lapses = holdings.held[level_id].lapses_at if level_id in held else None
                expiring = lapses is not None and lapses <= t + 30 * DAY
                assert by_level[level_id].expiring_30 == int(expiring), level_id
        finally:
            session.rollback()
            clear(session)
