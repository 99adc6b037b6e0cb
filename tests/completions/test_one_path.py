"""One write path for completions (:func:`record_batch`; ``POST /v1/completions`` is a batch of
one): recording items one request at a time or all in one batch answers and writes the same, a
replay changes nothing, and neither does a 409."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlmodel import Session

from credentials.audit import verify_chain
from service.audit.service import iter_records
from service.completions.service import BatchOutcome, record_batch
from tests.completions.conftest import ACTOR, SOURCE, ago, item

Recorder = Callable[[Session, Any, Sequence[dict[str, Any]]], list[BatchOutcome]]


def as_one_batch(session: Session, issuer: Any, items: Sequence[dict[str, Any]]) -> list[Any]:
    return record_batch(session, issuer, items, source=SOURCE, actor=ACTOR)


def one_request_each(session: Session, issuer: Any, items: Sequence[dict[str, Any]]) -> list[Any]:
    """As ``POST /v1/completions`` item after item: each a batch of one, renumbered."""
    outcomes = []
    for index, raw in enumerate(items):
        (outcome,) = record_batch(session, issuer, [raw], source=SOURCE, actor=ACTOR)
        outcome.index = index
        outcomes.append(outcome)
    return outcomes


def _rows(session: Session, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in session.execute(text(sql))]


def _head(session: Session) -> int:
    return int(session.execute(text("SELECT coalesce(max(seq), 0) FROM audit_event")).scalar_one())


def _counts(session: Session) -> dict[str, int]:
    tables = (
        "learner",
        "learner_attribute_change",
        "completion",
        "credential",
        "credential_status_event",
        "status_slot",
        "audit_event",
    )
    return {t: session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}


def _snapshot(session: Session, outcomes: list[BatchOutcome], mark: int) -> dict[str, Any]:
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
            problem = outcome.problem
            results.append((outcome.index, problem.status, problem.type, problem.detail))
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
            _sorted_evidence(alias(d if isinstance(d, dict) else json.loads(d))),
        )
        for a, s, d in events
    ]
    return {
        "results": results,
        "audit": audit,
        "learners": _rows(
            session, "SELECT id, email, name, attributes, revision FROM learner ORDER BY id"
        ),
        "changes": _rows(
            session,
            "SELECT learner_id, name, value FROM learner_attribute_change ORDER BY learner_id, id",
        ),
        "completions": sorted(
            _rows(
                session, "SELECT learner_id, course_id, external_id, score, passed FROM completion"
            ),
            key=repr,
        ),
        "credentials": sorted(
            (r[0], r[1], r[2], r[3] is not None, r[4] != "")
            for r in _rows(
                session, "SELECT learner_id, level_id, renewal, superseded_by, jwt FROM credential"
            )
        ),
        "slots": _rows(
            session, "SELECT purpose, count(*) FROM status_slot GROUP BY purpose ORDER BY 1"
        ),
        "status_events": _rows(session, "SELECT count(*) FROM credential_status_event"),
    }


def _sorted_evidence(data: dict[str, Any]) -> dict[str, Any]:
    if "evidence" in data:
        return {**data, "evidence": sorted(data["evidence"])}
    return data


def _run(
    database: Any,
    issuer: Any,
    record: Recorder,
    items: Sequence[dict[str, Any]],
    prior: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    with Session(database.engine) as session, session.begin():
        mark = _head(session)
        one_request_each(session, issuer, prior)
        snapshot = _snapshot(session, record(session, issuer, items), mark)
        verdict = verify_chain(list(iter_records(session)))
        assert verdict.ok, verdict
        session.rollback()
    return snapshot


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


def test_one_batch_answers_and_writes_as_one_request_per_item(database, issuer) -> None:  # type: ignore[no-untyped-def]
    each = _run(database, issuer, one_request_each, BATCH, PRIOR)
    bulk = _run(database, issuer, as_one_batch, BATCH, PRIOR)
    assert bulk == each
    statuses = [r[1] for r in bulk["results"]]
    expected = [200, 201, 422, 422, 201, 409, 200, 422, 201, 409] + [201] * 8 + [422]
    assert statuses == expected
    issued = {r[0]: [c[1] for c in r[5]] for r in bulk["results"] if len(r) > 4 and r[5]}
    assert issued[1] == ["social-media/foundations"]
    assert issued[12] == ["social-media/practitioner"]
    assert [c[2] for c in bulk["results"][15][5]] == [True]  # the renewal
    assert "learner.updated" in [a[0] for a in bulk["audit"]]


# weighted towards what earns Foundations (and renews it, or cascades to Practitioner)
COURSES = (
    *("policy-101", "brand-voice-101") * 4,
    *("policy-refresher",) * 2,
    "disclosure-101",
    "community-201",
    "analytics-201",
    "no-such-course",
)
details = st.one_of(
    st.none(),
    st.fixed_dictionaries({"name": st.sampled_from(["Ada", "Ada L."])}),
    st.fixed_dictionaries(
        {
            "attributes": st.dictionaries(
                st.sampled_from(["role", "region"]), st.none() | st.just("x")
            )
        }
    ),
    st.fixed_dictionaries({"email": st.sampled_from(["a@example.com", "B@Example.com"])}),
)
valid_items = st.fixed_dictionaries(
    {
        "learner_id": st.sampled_from(["ada", "bo"]),
        "course_id": st.sampled_from(COURSES),
        "days": st.sampled_from([-1, 0.5, 3, 3, 3, 40, 330, 340, 380, 800]),
    },
    optional={
        "score": st.sampled_from([10, 95, 95]),
        "passed": st.sampled_from([True, True, False]),
        "external_id": st.sampled_from(["x-1", "x-2", "x-3"]),
        "learner": details,
    },
)
invalid_item = st.just({"learner_id": "ada", "course_id": "policy-101"})  # no completed_at
raw_items = st.one_of(valid_items, valid_items, valid_items, invalid_item)


def _dated(raws: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in r.items() if k != "days"}
        | ({"completed_at": ago(days=r["days"])} if "days" in r else {})
        for r in raws
    ]


PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY
@given(raws=st.lists(raw_items, min_size=6, max_size=14))
def test_any_sequence_recorded_one_request_at_a_time_equals_one_batch(  # type: ignore[no-untyped-def]
    database, issuer, raws
) -> None:
    items = _dated(raws)
    assert _run(database, issuer, as_one_batch, items) == _run(
        database, issuer, one_request_each, items
    )


@PROPERTY
@given(raws=st.lists(raw_items, min_size=6, max_size=14), batched=st.booleans())
def test_replays_and_conflicts_change_nothing(database, issuer, raws, batched) -> None:  # type: ignore[no-untyped-def]
    """Every item stored under an external_id, sent again, is a 200 with the same completion
    and credentials; sent with another body, a 409; neither writes a row or an audit event."""
    items = _dated(raws)
    record: Recorder = as_one_batch if batched else one_request_each
    with Session(database.engine) as session, session.begin():
        first = record(session, issuer, items)
        before, head = _counts(session), _head(session)
        stored = [
            (i, o.recorded)
            for i, o in enumerate(first)
            if o.recorded is not None and "external_id" in items[i]  # the idempotent ones
        ]
        again = record(session, issuer, [items[i] for i, _ in stored])
        for (_, recorded), outcome in zip(stored, again, strict=True):
            assert outcome.recorded is not None and not outcome.recorded.created
            assert outcome.recorded.completion.id == recorded.completion.id
            assert [c.id for c in outcome.recorded.issued] == [c.id for c in recorded.issued]
        other = [{**items[i], "score": 42.5} for i, _ in stored]
        conflicts = record(session, issuer, other)
        assert [(o.problem.status, o.problem.type) for o in conflicts if o.problem] == [
            (409, "idempotency-conflict")
        ] * len(other)
        assert (_counts(session), _head(session)) == (before, head)
        session.rollback()
