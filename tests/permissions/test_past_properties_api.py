"""Property, through the API on SQLite and PostgreSQL: for a learner history built with the
service's own endpoints (completions posted out of date order, so credentials are back-dated
and renewed; suspensions, reinstatements and revocations; attribute changes dated in the past),
every answer about a moment ``at`` — the single check, the batch, AuthZEN with
``context.time``, and ``GET /v1/learners/{id}/progress?at=`` — equals a fresh evaluation over
only the rows that existed at ``at`` (:mod:`tests.permissions.as_of`, reading the database
directly)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlmodel import Session

from service.issuance.engine import LevelProgress, Missing
from service.models import metadata
from service.permissions.engine import Decision
from service.permissions.repository import (
    AttributeChange,
    CompletionRow,
    CredentialRow,
    LearnerRows,
)
from tests.permissions.as_of import decisions_then, progress_then
from tests.permissions.conftest import COURSES, FOUNDATIONS, PRACTITIONER, Demo, iso

TICK = timedelta(microseconds=1)
NOW = datetime.now(UTC).replace(microsecond=0)

earn = st.tuples(st.just("earn"), st.sampled_from([FOUNDATIONS, PRACTITIONER]), st.integers(0, 900))
complete = st.tuples(
    st.just("complete"),
    st.sampled_from(["policy-refresher", "policy-101", "disclosure-101", "live-events-201"]),
    st.integers(0, 900),
    st.sampled_from([None, 70.0, 95.0]),
)
status = st.tuples(
    st.just("status"),
    st.sampled_from([FOUNDATIONS, FOUNDATIONS, PRACTITIONER]),
    st.sampled_from(["suspend", "reinstate", "revoke"]),
)
attribute = st.tuples(
    st.just("attribute"), st.sampled_from(["EU", "US", None]), st.integers(0, 900)
)
histories = st.lists(st.one_of(earn, earn, complete, status, attribute), min_size=2, max_size=8)

LEGAL = {"suspend": {"active"}, "reinstate": {"suspended"}, "revoke": {"active", "suspended"}}


def build(demo: Demo, learner: str, actions: list[tuple[Any, ...]]) -> list[datetime]:
    """Apply ``actions`` through the API; returns the real times between them."""
    created = demo.client.put(f"/v1/learners/{learner}", json={}, headers=demo.admin)
    assert created.status_code == 201, created.text  # known, with nothing yet
    marks = [datetime.now(UTC)]
    for action in actions:
        kind = action[0]
        if kind == "earn":
            for course, score in COURSES[action[1]]:
                demo.complete(learner, course, NOW - timedelta(days=action[2]), score or 90.0)
        elif kind == "complete":
            demo.complete(learner, action[1], NOW - timedelta(days=action[2]), action[3])
        elif kind == "status":
            listed = demo.client.get(
                "/v1/credentials",
                params={"learner_id": learner, "level": action[1]},
                headers=demo.admin,
            )
            assert listed.status_code == 200, listed.text
            current = [c for c in listed.json()["items"] if c["superseded_by"] is None]
            if current and current[-1]["status"] in LEGAL[action[2]]:
                demo.status(current[-1]["id"], action[2])
        else:
            body: dict[str, Any] = {
                "attributes": {"region": action[1]} if action[1] else {},
                "attributes_effective_at": iso(NOW - timedelta(days=action[2])),
            }
            response = demo.client.put(f"/v1/learners/{learner}", json=body, headers=demo.admin)
            assert response.status_code in (200, 201), response.text
        marks.append(datetime.now(UTC))
    return marks


def read_rows(engine: Any, learner: str) -> LearnerRows:
    """The learner's rows, straight from the tables."""
    t = metadata.tables
    cr, ev, co, at = (
        t["credential"],
        t["credential_status_event"],
        t["completion"],
        t["learner_attribute_change"],
    )
    rows = LearnerRows(known=True, revision=0)
    with Session(engine) as session:
        events: dict[str, list[tuple[datetime, int, str]]] = {}
        query = select(ev.c.credential_id, ev.c.at, ev.c.id, ev.c.status).join(
            cr, cr.c.id == ev.c.credential_id
        )
        for credential_id, moment, number, state in session.execute(
            query.where(cr.c.learner_id == learner)
        ):
            events.setdefault(credential_id, []).append((moment, number, state))
        for r in session.execute(select(cr).where(cr.c.learner_id == learner)).mappings():
            rows.credentials[r["id"]] = CredentialRow(
                r["id"],
                r["level_id"],
                r["valid_from"],
                r["valid_until"],
                r["status"],
                r["status_changed_at"],
                r["superseded_by"],
                r["superseded_at"],
                events.get(r["id"], []),
            )
        for r in session.execute(select(co).where(co.c.learner_id == learner)).mappings():
            rows.completions.append(
                CompletionRow(r["id"], r["course_id"], r["completed_at"], r["score"], r["passed"])
            )
        for r in session.execute(select(at).where(at.c.learner_id == learner)).mappings():
            rows.attributes.append(AttributeChange(r["name"], r["value"], r["changed_at"], r["id"]))
    return rows


def moments(rows: LearnerRows, marks: list[datetime]) -> list[datetime]:
    """Just before and at every award, expiry, renewal window and grace end, status change and
    completion, plus the real times between the actions."""
    times = set(marks)
    for row in rows.credentials.values():
        times |= {row.valid_from - TICK, row.valid_from}
        times |= {e[0] - TICK for e in row.events} | {e[0] for e in row.events}
        if row.valid_until is not None:
            for edge in (timedelta(0), -timedelta(days=60), timedelta(days=30)):
                times |= {row.valid_until + edge - TICK, row.valid_until + edge + TICK}
    times |= {c.completed_at - TICK for c in rows.completions}
    times |= {a.changed_at for a in rows.attributes}
    return sorted(times)


def when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def decision_json(decision: Decision) -> dict[str, Any]:
    return {
        "allowed": decision.allowed,
        "reasons": decision.reasons,
        "granted_by": decision.granted_by,
        "valid_until": decision.valid_until,
        "missing": [
            {
                "level": m.level,
                "name": m.name,
                "courses": [{"course": c.course, "min_score": c.min_score} for c in m.courses],
                "electives_needed": m.electives_needed,
                "electives_from": list(m.electives_from),
                "levels": list(m.levels),
            }
            for m in decision.missing
        ],
    }


def answered(body: dict[str, Any]) -> dict[str, Any]:
    keys = ("allowed", "reasons", "granted_by", "valid_until", "missing")
    return {**{k: body[k] for k in keys}, "valid_until": when(body["valid_until"])}


def missing_json(missing: Missing | None) -> dict[str, Any] | None:
    if missing is None:
        return None
    return {
        "courses": [{"course": c.course, "min_score": c.min_score} for c in missing.courses],
        "electives_needed": missing.electives_needed,
        "electives_from": list(missing.electives_from),
        "levels": list(missing.levels),
        "reasons": list(missing.reasons),
        "renewal": missing.renewal,
    }


def line_json(line: LevelProgress) -> dict[str, Any]:
    return {
        "level": line.level_id,
        "status": line.status,
        "credential_id": line.credential_id,
        "valid_until": line.valid_until,
        "renewable_from": line.renewable_from,
        "missing": missing_json(line.missing),
    }


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=histories)
def test_every_answer_about_a_past_moment_uses_only_what_existed_then(
    demo: Demo, database: Any, actions: list[tuple[Any, ...]]
) -> None:
    learner = f"p-{uuid.uuid4().hex[:12]}"
    marks = build(demo, learner, actions)
    rows = read_rows(database.engine, learner)
    app = demo.client.app
    with Session(database.engine) as session:
        compiled = app.state.issuer.catalog.get(session)  # type: ignore[attr-defined]
    names = {level_id: info.name for level_id, info in compiled.levels.items()}
    programs = {name: program.expr for name, program in compiled.programs.items()}
    asked = moments(rows, marks)

    expected = {
        at: decisions_then(
            programs,
            rows,
            at,
            rules=compiled.rules,
            prerequisites=compiled.prerequisites,
            names=names,
        )
        for at in asked
    }
    pairs = [(at, program) for at in asked for program in sorted(programs)]
    batch = demo.client.post(
        "/v1/permissions/check",
        json={"checks": [{"learner_id": learner, "program": p, "at": iso(at)} for at, p in pairs]},
        headers=demo.checker,
    )
    assert batch.status_code == 200, batch.text
    authzen = demo.client.post(
        "/access/v1/evaluations",
        json={
            "subject": {"type": "user", "id": learner},
            "action": {"name": "run"},
            "evaluations": [
                {"resource": {"type": "program", "id": p}, "context": {"time": iso(at)}}
                for at, p in pairs
            ],
        },
        headers=demo.checker,
    )
    assert authzen.status_code == 200, authzen.text
    for (at, program), result, evaluation in zip(
        pairs, batch.json()["results"], authzen.json()["evaluations"], strict=True
    ):
        fresh = decision_json(expected[at][program])
        assert answered(result) == fresh, (program, at, actions)
        context = {**evaluation["context"], "allowed": evaluation["decision"]}
        assert answered(context) == fresh, (program, at, actions)
    for at in asked[:: max(1, len(asked) // 6)]:  # the single check, on a sample
        single = demo.check(learner, "run-paid-campaigns", at)
        assert answered(single) == decision_json(expected[at]["run-paid-campaigns"])

    sampled = {row.valid_from - TICK for row in rows.credentials.values()}
    sampled |= set(asked[:: max(1, len(asked) // 8)])
    for at in sorted(sampled):
        response = demo.client.get(
            f"/v1/learners/{learner}/progress", params={"at": iso(at)}, headers=demo.admin
        )
        assert response.status_code == 200, response.text
        body = response.json()
        current, lines = progress_then(compiled.rules, rows, at)
        listed = [{k: c[k] for k in ("id", "level", "status")} for c in body["credentials"]]
        assert listed == current, (at, actions)
        got = [
            {
                **line,
                "valid_until": when(line["valid_until"]),
                "renewable_from": when(line["renewable_from"]),
            }
            for line in body["levels"]
        ]
        for line in got:
            line.pop("name")
        assert got == [line_json(line) for line in lines.values()], (at, actions)
