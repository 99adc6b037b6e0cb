"""The permission engine on the demo social-media catalog's program kinds."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.catalog.expressions import Expr, evaluate, parse_requires
from service.issuance.engine import CourseRequirement, Missing
from service.permissions.engine import (
    Decision,
    HeldCredential,
    MissingCourse,
    MissingLevel,
    check,
    decide,
    deny_unknown_learner,
    held_levels,
    missing_level_from,
)

FOUNDATIONS = "social-media/foundations"
PRACTITIONER = "social-media/practitioner"
BLACK_BELT = "social-media/black-belt"
NAMES = {
    FOUNDATIONS: "Social Media Foundations",
    PRACTITIONER: "Social Media Practitioner",
    BLACK_BELT: "Social Media Black Belt",
}
PREREQUISITES: dict[str, tuple[str, ...]] = {
    FOUNDATIONS: (),
    PRACTITIONER: (FOUNDATIONS,),
    BLACK_BELT: (PRACTITIONER,),
}
PROGRAMS: dict[str, Expr] = {
    "post-on-brand-accounts": parse_requires(FOUNDATIONS),
    "run-paid-campaigns": parse_requires({"all_of": [PRACTITIONER]}),
    "host-live-events": parse_requires({"any_of": [PRACTITIONER, BLACK_BELT]}),
    "respond-to-crisis": parse_requires(
        {"all_of": [BLACK_BELT, {"attribute": "region", "in": ["EU", "UK", "US"]}]}
    ),
}
EU = {"region": "EU"}


def d(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def cred(
    id: str,
    level_id: str,
    valid_from: str,
    valid_until: str | None,
    *,
    revoked: str | None = None,
    suspensions: Sequence[tuple[str, str | None]] = (),
    superseded: str | None = None,
) -> HeldCredential:
    return HeldCredential(
        id=id,
        level_id=level_id,
        level_name=NAMES[level_id],
        valid_from=d(valid_from),
        valid_until=d(valid_until) if valid_until else None,
        revoked_at=d(revoked) if revoked else None,
        suspensions=tuple((d(s), d(e) if e else None) for s, e in suspensions),
        superseded_at=d(superseded) if superseded else None,
    )


F1 = cred("f1", FOUNDATIONS, "2025-06-01", "2026-06-01")
P1 = cred("p1", PRACTITIONER, "2025-07-01", "2027-07-01")
B1 = cred("b1", BLACK_BELT, "2025-09-01", "2027-09-01")
ALL = (F1, P1, B1)
NOW = "2026-01-15"


def run(
    program: str,
    credentials: Sequence[HeldCredential],
    at: str = NOW,
    attributes: dict[str, str] | None = None,
) -> Decision:
    return check(
        PROGRAMS[program],
        credentials,
        PREREQUISITES,
        attributes if attributes is not None else EU,
        d(at),
        level_names=NAMES,
    )


# --- single levels and all_of ---------------------------------------------------------------


def test_of_two_active_credentials_for_a_level_the_one_lasting_longest_counts() -> None:
    # Whichever order they come in; one that never expires lasts longest.
    longer = cred("f-long", FOUNDATIONS, "2025-06-01", "2026-12-01")
    later = cred("f-later", FOUNDATIONS, "2025-09-01", "2026-03-01")
    for credentials in ([longer, later], [later, longer]):
        decision = run("post-on-brand-accounts", credentials)
        assert (decision.granted_by, decision.valid_until) == (["f-long"], d("2026-12-01"))
    never = cred("f-forever", FOUNDATIONS, "2025-10-01", None)
    for credentials in ([longer, never], [never, longer]):
        decision = run("post-on-brand-accounts", credentials)
        assert (decision.granted_by, decision.valid_until) == (["f-forever"], None)


def test_foundations_grants_posting_until_it_expires() -> None:
    decision = run("post-on-brand-accounts", [F1])
    assert decision == Decision(
        allowed=True,
        reasons=["Holds Social Media Foundations (valid until 2026-06-01)"],
        granted_by=["f1"],
        valid_until=d("2026-06-01"),
        missing=[],
    )


def test_a_level_never_earned_is_missing() -> None:
    decision = run("post-on-brand-accounts", [])
    assert not decision.allowed
    assert decision.reasons == ["Social Media Foundations has not been earned"]
    assert decision.missing == [MissingLevel(FOUNDATIONS, "Social Media Foundations")]
    assert decision.granted_by == [] and decision.valid_until is None


def test_practitioner_is_granted_with_its_prerequisite_and_lapses_with_it() -> None:
    decision = run("run-paid-campaigns", [F1, P1])
    assert decision.allowed
    assert decision.granted_by == ["p1", "f1"]
    assert decision.valid_until == d("2026-06-01")  # Foundations lapses first
    assert decision.reasons == [
        "Holds Social Media Practitioner (valid until 2027-07-01; "
        "counts until 2026-06-01, when Social Media Foundations expires)"
    ]


def test_an_expired_prerequisite_disables_the_higher_level_and_is_named() -> None:
    decision = run("run-paid-campaigns", [F1, P1], at="2026-07-01")
    assert not decision.allowed
    assert decision.reasons == [
        "Social Media Practitioner is held but does not count: "
        "its prerequisite Social Media Foundations expired on 2026-06-01"
    ]
    assert decision.missing == [
        MissingLevel(PRACTITIONER, "Social Media Practitioner", levels=(FOUNDATIONS,)),
        MissingLevel(FOUNDATIONS, "Social Media Foundations"),
    ]


def test_a_prerequisite_two_levels_down_also_disables_black_belt() -> None:
    decision = run("respond-to-crisis", ALL, at="2026-07-01")
    assert not decision.allowed
    assert decision.reasons == [
        "Social Media Black Belt is held but does not count: its prerequisite "
        "Social Media Practitioner is held but does not count: its prerequisite "
        "Social Media Foundations expired on 2026-06-01"
    ]
    assert [m.level for m in decision.missing] == [BLACK_BELT, PRACTITIONER, FOUNDATIONS]


def test_valid_until_is_the_earliest_lapse_including_prerequisites() -> None:
    renewed = cred("f2", FOUNDATIONS, "2026-05-01", "2027-05-01")
    old = cred("f1", FOUNDATIONS, "2025-06-01", "2026-06-01", superseded="2026-05-01")
    decision = run("respond-to-crisis", [old, renewed, P1, B1], at="2026-05-02")
    assert decision.allowed
    assert decision.granted_by == ["b1", "p1", "f2"]
    assert decision.valid_until == d("2027-05-01")


# --- any_of -------------------------------------------------------------------------------


def test_any_of_is_granted_by_either_alternative() -> None:
    decision = run("host-live-events", [F1, P1])
    assert decision.allowed and decision.granted_by == ["p1", "f1"]


def test_any_of_uses_the_satisfied_alternative_that_lasts_longest() -> None:
    foundations = cred("f9", FOUNDATIONS, "2025-01-01", None)
    practitioner = cred("p9", PRACTITIONER, "2025-01-01", "2027-06-01")
    black_belt = cred("b9", BLACK_BELT, "2025-01-01", "2027-03-01")
    expr = parse_requires({"any_of": [BLACK_BELT, PRACTITIONER]})
    holdings = held_levels([foundations, practitioner, black_belt], PREREQUISITES, d(NOW))
    decision = decide(expr, holdings, {})
    assert decision.granted_by == ["p9", "f9"]
    assert decision.valid_until == d("2027-06-01")
    assert decision.reasons == ["Holds Social Media Practitioner (valid until 2027-06-01)"]


def test_any_of_denied_gives_every_alternatives_reason() -> None:
    revoked = cred("b1", BLACK_BELT, "2025-09-01", "2027-09-01", revoked="2025-12-01")
    decision = run("host-live-events", [F1, revoked])
    assert not decision.allowed
    assert decision.reasons == [
        "Social Media Practitioner has not been earned",
        "Social Media Black Belt was revoked on 2025-12-01",
    ]
    assert [m.level for m in decision.missing] == [PRACTITIONER, BLACK_BELT]


# --- attribute conditions and nesting -----------------------------------------------------


def test_crisis_response_needs_black_belt_and_an_allowed_region() -> None:
    decision = run("respond-to-crisis", ALL, attributes={"region": "UK"})
    assert decision.allowed
    assert decision.granted_by == ["b1", "p1", "f1"]
    assert decision.reasons[1] == "Learner's region is UK, one of EU, UK, US"


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [
        ({"region": "BR"}, "Requires region in EU, UK, US; learner's region is BR"),
        ({"role": "marketing"}, "Requires region in EU, UK, US; learner has no region"),
    ],
    ids=["wrong-value", "missing-attribute"],
)
def test_crisis_response_is_denied_outside_the_regions(
    attributes: dict[str, str], reason: str
) -> None:
    decision = run("respond-to-crisis", ALL, attributes=attributes)
    assert not decision.allowed
    assert decision.reasons == [reason]
    assert decision.missing == [] and decision.granted_by == []


def test_all_of_denied_lists_only_what_fails() -> None:
    decision = run("respond-to-crisis", [F1, P1], attributes={"region": "BR"})
    assert decision.reasons == [
        "Social Media Black Belt has not been earned",
        "Requires region in EU, UK, US; learner's region is BR",
    ]
    assert [m.level for m in decision.missing] == [BLACK_BELT]


def test_nested_expressions() -> None:
    expr = parse_requires(
        {
            "any_of": [
                {"all_of": [BLACK_BELT, {"attribute": "region", "in": ["EU"]}]},
                {"all_of": [PRACTITIONER, {"attribute": "department", "in": ["comms"]}]},
            ]
        }
    )
    holdings = held_levels(ALL, PREREQUISITES, d(NOW))
    comms = decide(expr, holdings, {"region": "US", "department": "comms"})
    assert comms.allowed and comms.granted_by == ["p1", "f1"]
    eu = decide(expr, holdings, {"region": "EU"})
    assert eu.allowed and eu.granted_by == ["b1", "p1", "f1"]
    neither = decide(expr, holdings, {"region": "US"})
    assert not neither.allowed
    assert neither.reasons == [
        "Requires region in EU; learner's region is US",
        "Requires department in comms; learner has no department",
    ]


# --- credential status over time ----------------------------------------------------------


def test_at_in_the_past_answers_as_things_stood_across_a_revocation() -> None:
    revoked = cred("b1", BLACK_BELT, "2025-09-01", "2027-09-01", revoked="2026-03-05")
    before = run("respond-to-crisis", [F1, P1, revoked], at="2026-03-03")
    after = run("respond-to-crisis", [F1, P1, revoked], at="2026-03-06")
    assert before.allowed and before.granted_by == ["b1", "p1", "f1"]
    assert not after.allowed
    assert after.reasons == ["Social Media Black Belt was revoked on 2026-03-05"]


def test_revocation_and_expiry_take_effect_at_their_exact_moment() -> None:
    revoked = cred("f1", FOUNDATIONS, "2025-06-01", "2026-06-01", revoked="2026-03-05")
    assert not run("post-on-brand-accounts", [revoked], at="2026-03-05").allowed
    assert not run("post-on-brand-accounts", [F1], at="2026-06-01").allowed
    assert run("post-on-brand-accounts", [F1], at="2026-05-31").allowed


def test_suspended_then_reinstated() -> None:
    suspended = cred(
        "p1", PRACTITIONER, "2025-07-01", "2027-07-01", suspensions=[("2026-02-01", "2026-02-15")]
    )
    during = run("run-paid-campaigns", [F1, suspended], at="2026-02-10")
    assert not during.allowed
    assert during.reasons == ["Social Media Practitioner has been suspended since 2026-02-01"]
    assert run("run-paid-campaigns", [F1, suspended], at="2026-02-15").allowed
    assert run("run-paid-campaigns", [F1, suspended], at="2026-01-31").allowed


def test_a_suspension_without_an_end_lasts() -> None:
    suspended = cred("f1", FOUNDATIONS, "2025-06-01", "2026-06-01", suspensions=[(NOW, None)])
    assert not run("post-on-brand-accounts", [suspended], at="2026-05-31").allowed


def test_a_credential_awarded_after_at_did_not_exist_then() -> None:
    decision = run("post-on-brand-accounts", [F1], at="2025-05-01")
    assert decision.reasons == ["Social Media Foundations has not been earned"]
    assert held_levels([F1], PREREQUISITES, d("2025-05-01"), NAMES).not_held == {}
    # An expired credential explains the level, not a renewal awarded after ``at``.
    renewal = cred("f2", FOUNDATIONS, "2026-08-01", "2027-08-01")
    decision = run("post-on-brand-accounts", [F1, renewal], at="2026-07-01")
    assert decision.reasons == ["Social Media Foundations expired on 2026-06-01"]
    decision = run("post-on-brand-accounts", [renewal, F1], at="2026-07-01")
    assert decision.reasons == ["Social Media Foundations expired on 2026-06-01"]


def test_a_renewal_replaces_the_superseded_credential_from_its_supersession() -> None:
    old = cred("f1", FOUNDATIONS, "2025-06-01", "2026-06-01", superseded="2026-04-10")
    new = cred("f2", FOUNDATIONS, "2026-04-10", "2027-04-10")
    assert run("post-on-brand-accounts", [old, new], at="2026-04-09").granted_by == ["f1"]
    assert run("post-on-brand-accounts", [old, new], at="2026-04-10").granted_by == ["f2"]
    late = run("post-on-brand-accounts", [old, new], at="2027-05-01")
    assert late.reasons == ["Social Media Foundations expired on 2027-04-10"]  # not "superseded"


def test_a_renewal_dated_before_its_issue_is_preferred_while_both_are_active() -> None:
    old = cred("f1", FOUNDATIONS, "2025-06-01", "2026-06-01", superseded="2026-04-10")
    new = cred("f2", FOUNDATIONS, "2026-04-01", "2027-04-01")  # earned 1 April, issued 10 April
    decision = run("post-on-brand-accounts", [old, new], at="2026-04-05")
    assert decision.granted_by == ["f2"] and decision.valid_until == d("2027-04-01")


def test_a_superseded_credential_does_not_come_back_when_its_renewal_is_revoked() -> None:
    old = cred("f1", FOUNDATIONS, "2025-06-01", "2026-06-01", superseded="2026-04-10")
    new = cred("f2", FOUNDATIONS, "2026-04-10", "2027-04-10", revoked="2026-05-01")
    decision = run("post-on-brand-accounts", [old, new], at="2026-05-02")
    assert not decision.allowed
    assert decision.reasons == ["Social Media Foundations was revoked on 2026-05-01"]


def test_all_of_lapses_with_its_earliest_item() -> None:
    names = {**NAMES, "brand/spokesperson": "Spokesperson"}
    spokesperson = HeldCredential(
        "s1", "brand/spokesperson", "Spokesperson", d("2025-01-01"), d("2026-03-01")
    )
    expr = parse_requires({"all_of": ["brand/spokesperson", PRACTITIONER]})
    decision = check(expr, [F1, P1, spokesperson], PREREQUISITES, {}, d(NOW), level_names=names)
    assert decision.allowed
    assert decision.granted_by == ["s1", "p1", "f1"]
    assert decision.valid_until == d("2026-03-01")


def test_held_levels_explains_every_level_with_a_credential() -> None:
    revoked = cred("b1", BLACK_BELT, "2025-09-01", "2027-09-01", revoked="2026-01-01")
    holdings = held_levels([F1, P1, revoked], PREREQUISITES, d(NOW), NAMES)
    assert set(holdings.held) == {FOUNDATIONS, PRACTITIONER}
    practitioner = holdings.held[PRACTITIONER]
    assert practitioner.credential_id == "p1"  # its own, not the last of its chain
    assert (practitioner.credential_ids, practitioner.lapses_at, practitioner.lapses_with) == (
        ("p1", "f1"),
        d("2026-06-01"),
        FOUNDATIONS,
    )
    assert holdings.why_not(BLACK_BELT).code == "revoked"
    assert holdings.why_not("other-track/level").reason == "other-track/level has not been earned"


def test_a_prerequisite_cycle_is_refused() -> None:
    cyclic = {**PREREQUISITES, FOUNDATIONS: (BLACK_BELT,)}
    with pytest.raises(ValueError, match="cycle"):
        held_levels(ALL, cyclic, d(NOW))


# --- what is missing ----------------------------------------------------------------------


def test_missing_uses_the_courses_the_service_supplies() -> None:
    needed = {
        FOUNDATIONS: Missing(FOUNDATIONS, courses=(CourseRequirement("policy-refresher"),)),
        PRACTITIONER: Missing(PRACTITIONER, levels=(FOUNDATIONS,)),
    }

    def missing_for(level_id: str) -> MissingLevel | None:
        found = needed.get(level_id)
        return missing_level_from(found, NAMES[level_id]) if found else None

    holdings = held_levels([F1, P1], PREREQUISITES, d("2026-07-01"), NAMES)
    decision = decide(PROGRAMS["run-paid-campaigns"], holdings, EU, missing_for=missing_for)
    assert decision.missing == [
        MissingLevel(PRACTITIONER, "Social Media Practitioner", levels=(FOUNDATIONS,)),
        MissingLevel(
            FOUNDATIONS,
            "Social Media Foundations",
            courses=(MissingCourse("policy-refresher", None),),
        ),
    ]


def test_missing_adds_prerequisites_the_service_did_not_list() -> None:
    def missing_for(level_id: str) -> MissingLevel | None:
        return MissingLevel(level_id, NAMES[level_id], courses=(MissingCourse("x-101"),))

    holdings = held_levels([F1, P1, B1], PREREQUISITES, d("2026-07-01"), NAMES)
    decision = decide(PROGRAMS["respond-to-crisis"], holdings, EU, missing_for=missing_for)
    assert [(m.level, m.levels) for m in decision.missing] == [
        (BLACK_BELT, (PRACTITIONER,)),
        (PRACTITIONER, (FOUNDATIONS,)),
        (FOUNDATIONS, ()),
    ]


def test_an_unknown_learner_is_denied_with_everything_missing() -> None:
    decision = deny_unknown_learner(
        PROGRAMS["respond-to-crisis"],
        "jdoe",
        d(NOW),
        prerequisites=PREREQUISITES,
        level_names=NAMES,
    )
    assert not decision.allowed
    assert decision.reasons[0] == "Learner jdoe is not known to Credence"
    assert [m.level for m in decision.missing] == [BLACK_BELT, PRACTITIONER, FOUNDATIONS]


# --- properties ---------------------------------------------------------------------------

BASE = d("2025-01-01")
LEVELS = (FOUNDATIONS, PRACTITIONER, BLACK_BELT)


@st.composite
def credentials_st(draw: st.DrawFn) -> list[HeldCredential]:
    result = []
    for index in range(draw(st.integers(0, 6))):
        level_id = draw(st.sampled_from(LEVELS))
        start = BASE + timedelta(days=draw(st.integers(0, 700)))
        length = draw(st.none() | st.integers(1, 730))
        revoked = draw(st.none() | st.integers(0, 800))
        suspension = draw(
            st.none() | st.tuples(st.integers(0, 800), st.none() | st.integers(1, 90))
        )
        result.append(
            HeldCredential(
                id=f"c{index}",
                level_id=level_id,
                level_name=NAMES[level_id],
                valid_from=start,
                valid_until=start + timedelta(days=length) if length else None,
                revoked_at=start + timedelta(days=revoked) if revoked is not None else None,
                suspensions=()
                if suspension is None
                else (
                    (
                        start + timedelta(days=suspension[0]),
                        start + timedelta(days=suspension[0] + suspension[1])
                        if suspension[1]
                        else None,
                    ),
                ),
            )
        )
    return result


@settings(max_examples=300, deadline=None)
@given(
    credentials=credentials_st(),
    days=st.integers(0, 1500),
    program=st.sampled_from(sorted(PROGRAMS)),
    region=st.sampled_from(["EU", "BR", None]),
)
def test_decisions_agree_with_the_expression_over_held_levels(
    credentials: list[HeldCredential], days: int, program: str, region: str | None
) -> None:
    at = BASE + timedelta(days=days)
    attributes = {"region": region} if region else {}
    holdings = held_levels(credentials, PREREQUISITES, at, NAMES)
    for level_id, held in holdings.held.items():
        assert all(p in holdings.held for p in PREREQUISITES[level_id])
        assert held.lapses_at is None or held.lapses_at > at
        for prerequisite in PREREQUISITES[level_id]:
            below = holdings.held[prerequisite].lapses_at
            assert below is None or (held.lapses_at is not None and held.lapses_at <= below)
    decision = decide(PROGRAMS[program], holdings, attributes)
    assert decision.allowed == evaluate(PROGRAMS[program], set(holdings.held), attributes)
    by_id = {c.id: c for c in credentials}
    for credential_id in decision.granted_by:
        assert by_id[credential_id].standing(at) == (None, None)
    if decision.allowed:
        assert decision.reasons and not decision.missing
    else:
        assert decision.reasons and not decision.granted_by
