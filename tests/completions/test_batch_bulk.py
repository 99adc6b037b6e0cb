"""The bulk batch path answers and writes exactly what recording the items one by one does."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from credentials.audit import verify_chain
from service.audit.service import iter_records
from service.completions.batch import record_batch
from service.completions.service import BatchOutcome, record_each
from service.models import StatusList, StatusSlot
from service.status import service as status_lists
from tests.conftest import REPO

DEMO = REPO / "service" / "catalog" / "demo" / "social-media-program.yaml"
SOURCE, ACTOR = "lms", "client:lms"


def ago(**delta: float) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def item(who: str, course: str, days: float = 3, **extra: Any) -> dict[str, Any]:
    return {"learner_id": who, "course_id": course, "completed_at": ago(days=days), **extra}


@pytest.fixture
def issuer(app, client, admin_headers):  # type: ignore[no-untyped-def]
    applied = client.put(
        "/v1/catalog",
        content=DEMO.read_bytes(),
        headers={**admin_headers, "Content-Type": "application/yaml"},
    )
    assert applied.status_code == 200, applied.text
    return app.state.issuer


PRIOR = [
    item("ada", "policy-101", score=91, external_id="p-0"),
    item("cy", "policy-101", score=85, learner={"attributes": {"region": "EU", "role": "x"}}),
]
BATCH = [
    item("ada", "policy-101", score=91, external_id="p-0"),  # replay of an earlier request
    item("ada", "brand-voice-101", external_id="b-1"),  # earns Foundations
    item("ada", "no-such-course", external_id="b-2"),  # unknown course
    {"learner_id": "ada", "course_id": "disclosure-101"},  # completed_at missing
    item(
        "bo", "disclosure-101", external_id="b-4", learner={"name": "Bo", "attributes": {"r": "1"}}
    ),
    item("bo", "disclosure-101", external_id="b-4", score=12),  # 409: same id, other body
    item(
        "bo", "disclosure-101", external_id="b-4", learner={"name": "Bo", "attributes": {"r": "1"}}
    ),
    item("ada", "community-201", days=-1),  # in the future
    item("cy", "brand-voice-101", learner={"attributes": {"region": "UK", "role": None}}),
    item("cy", "policy-101", score=10, external_id="p-0"),  # new for this client...
    item("ada", "disclosure-101"),
    item("ada", "community-201"),
    item("ada", "analytics-201"),  # Practitioner, cascading on Foundations
    item("eve", "policy-101", days=330, score=95, learner={"email": "Eve@Example.com"}),
    item("eve", "brand-voice-101", days=330),  # Foundations, valid ~35 more days
    item("eve", "policy-refresher", days=1),  # within the renewal window: renewed
    item("dee", "policy-101", learner={"name": "Dee"}),
    item("dee", "policy-101", learner={"name": "Dee B."}),  # learner.updated
    item("ada", "no-such-course", external_id="b-2", score=3),  # first b-2 failed: judged anew
]


def _snapshot(session: Session, outcomes: list[BatchOutcome], mark: int) -> dict[str, Any]:
    def rows(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in session.execute(text(sql))]

    ids: dict[str, str] = {}

    def alias(value: Any) -> Any:  # uuids differ between runs: number them by first use
        if isinstance(value, str) and len(value) >= 36 and value[-36:].count("-") == 4:
            return ids.setdefault(value, f"#{len(ids)}")
        if isinstance(value, list):
            return [alias(v) for v in value]
        if isinstance(value, dict):
            return {k: alias(v) for k, v in value.items()}
        return value

    results = []
    for outcome in outcomes:
        if outcome.recorded is None:
            assert outcome.problem is not None
            results.append((outcome.index, outcome.problem.status, outcome.problem.type))
            continue
        completion = outcome.recorded.completion
        results.append(
            (
                outcome.index,
                201 if outcome.recorded.created else 200,
                alias(completion.id),
                completion.learner_id,
                completion.course_id,
                [
                    (alias(c.id), c.level_id, c.renewal, c.valid_from)
                    for c in outcome.recorded.issued
                ],
            )
        )
    events = session.execute(
        text("SELECT action, subject, data FROM audit_event WHERE seq > :m ORDER BY seq"),
        {"m": mark},
    )
    # evidence completed at the same moment comes in the database's (arbitrary) order
    audit = [
        (
            a,
            alias(s.split(":", 1)[1]),
            _sorted_evidence(alias(d if isinstance(d, dict) else eval_json(d))),
        )
        for a, s, d in events
    ]
    return {
        "results": results,
        "audit": audit,
        "learners": rows("SELECT id, email, name, attributes, revision FROM learner ORDER BY id"),
        "changes": rows(
            "SELECT learner_id, name, value FROM learner_attribute_change ORDER BY learner_id, id"
        ),
        "completions": sorted(
            rows("SELECT learner_id, course_id, external_id, score, passed FROM completion"),
            key=repr,
        ),
        "credentials": sorted(
            (r[0], r[1], r[2], r[3] is not None, r[4] != "")
            for r in rows(
                "SELECT learner_id, level_id, renewal, superseded_by, jwt FROM credential"
            )
        ),
        "slots": rows("SELECT purpose, count(*) FROM status_slot GROUP BY purpose ORDER BY 1"),
        "status_events": rows("SELECT count(*) FROM credential_status_event"),
    }


def eval_json(value: str) -> Any:
    return json.loads(value)


def _sorted_evidence(data: dict[str, Any]) -> dict[str, Any]:
    if "evidence" in data:
        return {**data, "evidence": sorted(data["evidence"])}
    return data


def _run(database, issuer, record: Callable[..., list[BatchOutcome]]) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    with Session(database.engine) as session, session.begin():
        mark = session.execute(text("SELECT coalesce(max(seq), 0) FROM audit_event")).scalar_one()
        record_each(session, issuer, PRIOR, source=SOURCE, actor=ACTOR)
        outcomes = record(session, issuer, BATCH, source=SOURCE, actor=ACTOR)
        snapshot = _snapshot(session, outcomes, mark)
        verdict = verify_chain(list(iter_records(session)))
        assert verdict.ok, verdict
        session.rollback()
    return snapshot


def test_bulk_batch_matches_recording_each_item(database, issuer) -> None:  # type: ignore[no-untyped-def]
    each = _run(database, issuer, record_each)
    bulk = _run(database, issuer, record_batch)
    assert bulk == each
    statuses = [r[1] for r in bulk["results"]]
    expected = [200, 201, 422, 422, 201, 409, 200, 422, 201, 409] + [201] * 8 + [422]
    assert statuses == expected
    issued = {r[0]: [c[1] for c in r[5]] for r in bulk["results"] if len(r) > 3 and r[5]}
    assert issued[1] == ["social-media/foundations"]
    assert issued[12] == ["social-media/practitioner"]
    assert [c[2] for c in bulk["results"][15][5]] == [True]  # the renewal
    assert "learner.updated" in [a[0] for a in bulk["audit"]]


def test_a_replay_inside_one_batch_repeats_the_first_result(database, issuer) -> None:  # type: ignore[no-untyped-def]
    items = [item("zoe", "policy-101", score=90, external_id="z")] * 3 + [
        item("zoe", "brand-voice-101", external_id="y"),
        item("zoe", "brand-voice-101", external_id="y"),
    ]
    with Session(database.engine) as session, session.begin():
        outcomes = record_batch(session, issuer, items, source=SOURCE, actor=ACTOR)
        stored = session.execute(text("SELECT count(*) FROM completion")).scalar_one()
    recorded = [o.recorded for o in outcomes]
    assert all(r is not None for r in recorded)
    assert [r.created for r in recorded if r] == [True, False, False, True, False]
    assert recorded[0] and recorded[1] and recorded[0].completion.id == recorded[1].completion.id
    assert recorded[3] and recorded[4] and recorded[4].issued == recorded[3].issued
    assert len(recorded[3].issued) == 1 and stored == 2


def _randbelow(values: list[int]) -> Callable[[int], int]:
    sequence = itertools.chain(values, itertools.count(1000))
    return lambda size: next(sequence) % size


def test_slot_allocation_skips_taken_and_repeated_indexes(database, issuer) -> None:  # type: ignore[no-untyped-def]
    with Session(database.engine) as session, session.begin():
        record_batch(
            session,
            issuer,
            [item("a", "policy-101", score=90), item("a", "brand-voice-101")],
            source=SOURCE,
            actor=ACTOR,
        )
        taken = set(session.exec(select(StatusSlot.idx)))
        credential_id = session.execute(text("SELECT id FROM credential")).scalar_one()
        pick = sorted(taken)[0]
        # the first picks collide with a taken index and with each other
        entries = status_lists.allocate_many(
            session,
            issuer.settings,
            [credential_id, credential_id],
            randbelow=_randbelow([pick, pick, 7, 7, 7, 9, pick, 9, 11, 12]),
        )
        indexes = [e.index for es in entries.values() for e in es]
        slots = list(session.exec(select(StatusSlot.list_id, StatusSlot.idx)))
        assert len(slots) == len(set(slots))  # never one index twice in a list
        assert pick not in indexes or list(taken).count(pick) == 1
        session.rollback()


def test_slot_allocation_moves_to_a_new_list_when_one_is_full(database, issuer) -> None:  # type: ignore[no-untyped-def]
    items = [
        item(f"l{n}", c, score=90) for n in range(3) for c in ("policy-101", "brand-voice-101")
    ]
    with Session(database.engine) as session, session.begin():
        first = StatusList(
            purpose="revocation",
            size=status_lists.LIST_SIZE,
            used=status_lists.FILL_LIMIT - 1,
            created_at=datetime.now(UTC),
        )
        session.add(first)
        session.flush()
        record_batch(session, issuer, items, source=SOURCE, actor=ACTOR)
        per_list = dict(
            session.execute(
                text(
                    "SELECT list_id, count(*) FROM status_slot"
                    " WHERE purpose = 'revocation' GROUP BY list_id"
                )
            ).all()
        )
        lists = {
            r.id: r.used
            for r in session.exec(select(StatusList).where(StatusList.purpose == "revocation"))
        }
        session.rollback()
    assert per_list[first.id] == 1 and sum(per_list.values()) == 3 and len(per_list) == 2
    assert lists[first.id] == status_lists.FILL_LIMIT
    assert sorted(lists.values()) == [2, status_lists.FILL_LIMIT]
