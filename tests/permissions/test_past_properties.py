"""Property: every explanation at ``at`` equals a fresh evaluation over only the facts that
existed then (issue 18, "explanations in the past").

The system under test is the service's own path — :func:`service.permissions.service.decide_all`
over one cached :class:`~service.permissions.cache.LearnerFacts` holding *all* the learner's
facts, asked about many moments in a row (so its breakpoint memo is exercised) — and the oracle
is :mod:`tests.permissions.as_of`: the rows cut back to each moment, the engines run fresh.
(``test_past_properties_api.py`` does the same through HTTP on a real database.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from service.catalog.expressions import AllOf, AnyOf, AttributeIn, Expr, LevelRef
from service.core.durations import Duration
from service.issuance.compiled import CompiledCatalog, ProgramInfo
from service.issuance.engine import CourseRequirement, LevelRule, Renewal
from service.permissions.cache import LearnerFacts
from service.permissions.repository import (
    AttributeChange,
    CompletionRow,
    CredentialRow,
    LearnerRows,
)
from service.permissions.service import CatalogView, Check, decide_all
from tests.permissions.as_of import decisions_then

NOW = datetime(2026, 6, 1, tzinfo=UTC)
DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)
F, P, B = "t/foundations", "t/practitioner", "t/black-belt"
NAMES = {F: "Foundations", P: "Practitioner", B: "Black Belt"}
RULES = {
    F: LevelRule(
        F,
        1,
        NAMES[F],
        courses=(CourseRequirement("policy", 80.0), CourseRequirement("brand")),
        valid_for=Duration.parse("P20D"),
        renewal=Renewal(("refresher",), Duration.parse("P10D"), Duration.parse("P5D")),
    ),
    P: LevelRule(
        P,
        1,
        NAMES[P],
        courses=(CourseRequirement("advanced"),),
        electives_pick=1,
        electives_from=("brand", "refresher", "live"),
        prerequisites=(F,),
        valid_for=Duration.parse("P30D"),
    ),
    B: LevelRule(  # a recency rule: what is missing is never kept between breakpoints
        B,
        1,
        NAMES[B],
        courses=(CourseRequirement("crisis", 85.0),),
        prerequisites=(P,),
        valid_for=Duration.parse("P25D"),
        recency=Duration.parse("P15D"),
    ),
}
PREREQUISITES = {level_id: rule.prerequisites for level_id, rule in RULES.items()}
PROGRAMS: dict[str, Expr] = {
    "post": LevelRef(F),
    "campaign": AllOf((LevelRef(P), AttributeIn("region", ("EU",)))),
    "either": AnyOf((LevelRef(P), LevelRef(B))),
    "crisis": AllOf((LevelRef(B), AnyOf((LevelRef(F), AttributeIn("region", ("US",)))))),
}
VIEW = CatalogView(
    1,
    CompiledCatalog(
        1,
        RULES,
        {},
        PREREQUISITES,
        {name: ProgramInfo(name, name, expr, False) for name, expr in PROGRAMS.items()},
        {},
    ),
    NAMES,
)
COURSES = ["policy", "brand", "refresher", "advanced", "live", "crisis"]

days = st.integers(min_value=0, max_value=60)
moments = days.map(lambda d: NOW + d * DAY) | st.tuples(days, st.integers(1, 23)).map(
    lambda dh: NOW + dh[0] * DAY + dh[1] * timedelta(hours=1)
)


@st.composite
def status_history(
    draw: st.DrawFn, valid_from: datetime
) -> tuple[str, datetime | None, list[tuple[datetime, int, str]]]:
    """Legal status changes after the award (suspend, reinstate, revoke), as the service
    records them, or (an import) a status with no events at all."""
    if draw(st.integers(0, 5)) == 0:
        status = draw(st.sampled_from(["revoked", "suspended"]))
        return status, draw(st.none() | moments), []
    status, changed, events = "active", None, []
    at = valid_from
    for number in range(draw(st.integers(0, 3))):
        at = at + draw(st.integers(0, 15)) * DAY + draw(st.integers(0, 23)) * timedelta(hours=1)
        move = {"active": ["suspended", "revoked"], "suspended": ["active", "revoked"]}
        if status == "revoked":
            break
        status = draw(st.sampled_from(move[status]))
        changed = at
        events.append((at, number, status))
    return status, changed, events


@st.composite
def learner_rows(draw: st.DrawFn) -> LearnerRows:
    credentials: list[CredentialRow] = []
    for index in range(draw(st.integers(0, 5))):
        level_id = draw(st.sampled_from([F, F, P, B]))
        start = draw(moments)
        until = draw(st.none() | st.integers(1, 30).map(lambda n, s=start: s + n * DAY))
        status, changed, events = draw(status_history(start))
        credentials.append(
            CredentialRow(
                f"c{index}",
                level_id,
                start,
                until,
                status,
                changed,
                None,
                None,
                events,  # type: ignore[arg-type]
            )
        )
    # A renewal supersedes the one before it when recorded (at or after its award), or at
    # some other moment (data written by hand).
    by_level: dict[str, list[CredentialRow]] = {}
    for row in sorted(credentials, key=lambda r: r.valid_from):
        by_level.setdefault(row.level_id, []).append(row)
    superseded: dict[str, CredentialRow] = {}
    for rows in by_level.values():
        for old, new in pairwise(rows):
            if draw(st.booleans()):
                lag = draw(st.integers(0, 20)) * DAY
                at = new.valid_from + lag if draw(st.integers(0, 4)) else draw(moments)
                superseded[old.id] = old._replace(superseded_by=new.id, superseded_at=at)
    credentials = [superseded.get(row.id, row) for row in credentials]
    completions = [
        CompletionRow(
            f"m{index}",
            draw(st.sampled_from(COURSES)),
            draw(moments),
            draw(st.none() | st.sampled_from([60.0, 85.0, 95.0])),
            draw(st.integers(0, 5)) > 0,
        )
        for index in range(draw(st.integers(0, 8)))
    ]
    attributes = [
        AttributeChange("region", draw(st.none() | st.sampled_from(["EU", "US"])), draw(moments), i)
        for i in range(draw(st.integers(0, 3)))
    ]
    return LearnerRows(
        known=True,
        revision=1,
        credentials={c.id: c for c in credentials},
        attributes=attributes,
        completions=completions,
    )


def moments_to_ask(rows: LearnerRows) -> list[datetime]:
    """Every time a fact starts, ends or changes, and where a rule's window opens or closes,
    each with the moments just before and after; plus a daily sweep."""
    times = [c.completed_at for c in rows.completions] + [a.changed_at for a in rows.attributes]
    for row in rows.credentials.values():
        times += [row.valid_from, *(e[0] for e in row.events)]
        times += [t for t in (row.valid_until, row.status_changed_at, row.superseded_at) if t]
        if row.valid_until is not None:
            times += [row.valid_until - 10 * DAY, row.valid_until + 5 * DAY]
    edges = {t + edge for t in times for edge in (-TICK, 0 * TICK, TICK)}
    return sorted(edges | {NOW + n * DAY for n in range(-1, 100)})


@settings(max_examples=200, deadline=None)
@given(learner_rows(), st.sampled_from(["forwards", "backwards", "shuffled"]), st.randoms())
def test_every_explanation_at_a_moment_equals_a_fresh_evaluation_over_the_facts_then(
    rows: LearnerRows, order: str, random: object
) -> None:
    facts = LearnerFacts(rows, NAMES, RULES)  # every fact, as the cache holds them
    asked = moments_to_ask(rows)
    if order == "backwards":
        asked.reverse()
    elif order == "shuffled":
        random.shuffle(asked)  # type: ignore[attr-defined]
    for at in asked:
        expected = decisions_then(
            PROGRAMS, rows, at, rules=RULES, prerequisites=PREREQUISITES, names=NAMES
        )
        checks = [Check("ana", program, at) for program in PROGRAMS]
        for check, decision in decide_all(VIEW, {"ana": facts}, checks):
            fresh = expected[check.program]
            assert decision.allowed == fresh.allowed, (check.program, at)
            assert decision.reasons == fresh.reasons, (check.program, at)
            assert decision.missing == fresh.missing, (check.program, at)
            assert decision.granted_by == fresh.granted_by, (check.program, at)
            assert decision.valid_until == fresh.valid_until, (check.program, at)
