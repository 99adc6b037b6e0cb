"""The earning engine on the demo social-media catalog: examples, then properties."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.core.durations import Duration
from service.issuance.engine import (
    Award,
    CompletionFact,
    CourseRequirement,
    CredentialFact,
    LevelRule,
    Renewal,
    evaluate_level,
    evaluate_to_fixpoint,
    facts_matter,
    level_order,
    progress,
    with_awards,
)

FOUNDATIONS = "social-media/foundations"
PRACTITIONER = "social-media/practitioner"
BLACK_BELT = "social-media/black-belt"
ELECTIVES = ("community-201", "analytics-201", "paid-social-201", "live-events-201")

RULES: dict[str, LevelRule] = {
    FOUNDATIONS: LevelRule(
        level_id=FOUNDATIONS,
        version=1,
        name="Social Media Foundations",
        courses=(CourseRequirement("policy-101", 80), CourseRequirement("brand-voice-101", None)),
        valid_for=Duration.parse("P1Y"),
        renewal=Renewal(
            courses=("policy-refresher",),
            window=Duration.parse("P60D"),
            grace=Duration.parse("P30D"),
        ),
    ),
    PRACTITIONER: LevelRule(
        level_id=PRACTITIONER,
        version=1,
        name="Social Media Practitioner",
        courses=(CourseRequirement("disclosure-101", None),),
        electives_pick=2,
        electives_from=ELECTIVES,
        prerequisites=(FOUNDATIONS,),  # implied: the rank below
        valid_for=Duration.parse("P2Y"),
    ),
    BLACK_BELT: LevelRule(
        level_id=BLACK_BELT,
        version=1,
        name="Social Media Black Belt",
        courses=(
            CourseRequirement("crisis-301", 85),
            CourseRequirement("legal-301", 85),
            CourseRequirement("mentoring-301", None),
        ),
        prerequisites=(PRACTITIONER,),
        valid_for=Duration.parse("P2Y"),
    ),
}
FOUNDATION_RULE = RULES[FOUNDATIONS]

_ids = itertools.count(1)


def d(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def done(
    course: str, when: str | datetime, score: float | None = None, *, passed: bool = True
) -> CompletionFact:
    moment = d(when) if isinstance(when, str) else when
    return CompletionFact(f"c{next(_ids)}", course, moment, score, passed)


def foundations_done(when: str) -> list[CompletionFact]:
    return [done("policy-101", when, 90), done("brand-voice-101", when)]


def credential(
    level_id: str,
    valid_from: str,
    valid_until: str | None,
    *,
    id: str = "cred-1",
    status: str = "active",
    changed: str | None = None,
    superseded_by: str | None = None,
) -> CredentialFact:
    return CredentialFact(
        id=id,
        level_id=level_id,
        valid_from=d(valid_from),
        valid_until=d(valid_until) if valid_until else None,
        status=status,  # type: ignore[arg-type]
        status_changed_at=d(changed) if changed else None,
        superseded_by=superseded_by,
    )


# --- counting -----------------------------------------------------------------------------


def test_foundations_is_earned_when_the_last_required_course_is_completed() -> None:
    policy = done("policy-101", "2025-01-10", 85)
    voice = done("brand-voice-101", "2025-02-01")
    result = evaluate_level(FOUNDATION_RULE, [policy, voice], [], d("2025-06-01"))
    assert result.earned
    assert result.award == Award(
        level_id=FOUNDATIONS,
        version=1,
        earned_at=d("2025-02-01"),
        valid_until=d("2026-02-01"),
        evidence=(policy.id, voice.id),
    )


def test_a_score_of_79_does_not_count_towards_a_min_score_of_80() -> None:
    completions = [done("policy-101", "2025-01-10", 79), done("brand-voice-101", "2025-01-11")]
    result = evaluate_level(FOUNDATION_RULE, completions, [], d("2025-06-01"))
    assert not result.earned
    assert result.missing is not None
    assert result.missing.courses == (CourseRequirement("policy-101", 80),)
    assert "policy-101 needs a score of at least 80 (best so far: 79)" in result.missing.reasons


@pytest.mark.parametrize(
    "policy",
    [
        done("policy-101", "2025-01-10", None),  # a min_score needs a score
        done("policy-101", "2025-01-10", 95, passed=False),
        done("policy-101", "2025-07-01", 95),  # after `at`
    ],
    ids=["no-score", "failed", "future"],
)
def test_completions_that_do_not_count(policy: CompletionFact) -> None:
    completions = [policy, done("brand-voice-101", "2025-01-11")]
    assert not evaluate_level(FOUNDATION_RULE, completions, [], d("2025-06-01")).earned


def test_the_earliest_counting_completion_dates_the_award_so_retakes_do_not_stretch_it() -> None:
    first = done("policy-101", "2025-01-10", 85)
    low = done("policy-101", "2025-01-05", 60)
    retake = done("policy-101", "2025-03-01", 99)
    voice = done("brand-voice-101", "2025-01-02")
    award = evaluate_level(FOUNDATION_RULE, [retake, low, first, voice], [], d("2025-06-01")).award
    assert award is not None
    assert award.earned_at == d("2025-01-10")
    assert award.evidence == (first.id, voice.id)


def test_recency_drops_completions_older_than_the_limit() -> None:
    rule = replace(FOUNDATION_RULE, recency=Duration.parse("P1Y"), valid_for=None)
    completions = [done("policy-101", "2024-01-10", 90), done("brand-voice-101", "2025-01-11")]
    result = evaluate_level(rule, completions, [], d("2025-06-01"))
    assert not result.earned
    assert result.missing is not None
    assert [r.course for r in result.missing.courses] == ["policy-101"]
    fresh = done("policy-101", "2025-03-01", 90)
    award = evaluate_level(rule, [*completions, fresh], [], d("2025-06-01")).award
    assert award is not None and award.earned_at == d("2025-03-01")


def test_practitioner_needs_two_distinct_electives_and_uses_the_earliest_two() -> None:
    foundations = credential(FOUNDATIONS, "2025-01-01", "2026-01-01")
    disclosure = done("disclosure-101", "2025-02-01")
    community = done("community-201", "2025-03-01")
    again = done("community-201", "2025-03-05")
    result = evaluate_level(
        RULES[PRACTITIONER], [disclosure, community, again], [foundations], d("2025-06-01")
    )
    assert result.missing is not None
    assert result.missing.electives_needed == 1
    assert result.missing.electives_from == ("analytics-201", "paid-social-201", "live-events-201")

    analytics = done("analytics-201", "2025-04-01")
    paid = done("paid-social-201", "2025-05-01")
    completions = [paid, disclosure, community, again, analytics]
    award = evaluate_level(RULES[PRACTITIONER], completions, [foundations], d("2025-06-01")).award
    assert award is not None
    assert award.earned_at == d("2025-04-01")
    assert award.evidence == (disclosure.id, community.id, analytics.id)


def test_practitioner_waits_for_foundations_and_dates_from_its_valid_from() -> None:
    practitioner_courses = [
        done("disclosure-101", "2025-01-05"),
        *(done(c, "2025-01-06") for c in ELECTIVES[:2]),
    ]
    result = evaluate_level(RULES[PRACTITIONER], practitioner_courses, [], d("2025-06-01"))
    assert not result.earned
    assert result.missing is not None and result.missing.levels == (FOUNDATIONS,)
    assert result.missing.courses == () and result.missing.electives_needed == 0

    foundations = credential(FOUNDATIONS, "2025-03-01", "2026-03-01")
    award = evaluate_level(
        RULES[PRACTITIONER], practitioner_courses, [foundations], d("2025-06-01")
    ).award
    assert award is not None
    assert award.earned_at == d("2025-03-01")
    assert award.valid_until == d("2027-03-01")


def test_the_levels_held_now_name_the_prerequisites_missing_and_never_decide_an_award() -> None:
    """``held_now`` (a permission check's holdings) answers only which prerequisites the
    missing list names; when the requirements are met, the award still rests on the
    credentials' own timeline."""
    foundations = credential(FOUNDATIONS, "2025-01-01", "2026-01-01")
    some = [done("disclosure-101", "2025-02-01")]
    at = d("2025-06-01")

    def missing_levels(held_now: set[str] | None) -> tuple[str, ...]:
        missing = evaluate_level(
            RULES[PRACTITIONER], some, [foundations], at, None, held_now
        ).missing
        assert missing is not None and missing.electives_needed == 2
        return missing.levels

    assert missing_levels(None) == ()  # from the credentials: Foundations is held
    assert missing_levels({FOUNDATIONS}) == ()
    assert missing_levels(set()) == (FOUNDATIONS,)  # the caller's holdings say otherwise

    every = [*some, *(done(c, "2025-02-02") for c in ELECTIVES[:2])]
    award = evaluate_level(RULES[PRACTITIONER], every, [foundations], at, None, set()).award
    assert award is not None and award.earned_at == d("2025-02-02")


@pytest.mark.parametrize("status", ["revoked", "suspended"])
def test_a_revoked_or_suspended_prerequisite_is_not_held(status: str) -> None:
    foundations = credential(FOUNDATIONS, "2025-01-01", "2026-01-01", status=status)
    completions = [
        done("disclosure-101", "2025-02-01"),
        *(done(c, "2025-02-02") for c in ELECTIVES),
    ]
    result = evaluate_level(RULES[PRACTITIONER], completions, [foundations], d("2025-06-01"))
    assert not result.earned


def test_a_prerequisite_counts_only_with_its_own_prerequisites() -> None:
    """Rule 2 uses the one "held" (issue 17): a Black Belt is not earned on a Practitioner whose
    Foundations has expired; it is earned once Foundations is renewed, at the renewal's award."""
    foundations = credential(FOUNDATIONS, "2024-01-01", "2025-01-01", id="f1")
    practitioner = credential(PRACTITIONER, "2024-02-01", "2026-02-01", id="p1")
    black_belt = [
        done("crisis-301", "2025-03-01", 90),
        done("legal-301", "2025-03-01", 90),
        done("mentoring-301", "2025-03-01"),
    ]
    result = evaluate_to_fixpoint(RULES, black_belt, [foundations, practitioner], d("2025-04-01"))
    assert result == []
    missing = evaluate_level(
        RULES[BLACK_BELT],
        black_belt,
        [foundations, practitioner],
        d("2025-04-01"),
        {level: rule.prerequisites for level, rule in RULES.items()},
    ).missing
    assert missing is not None and missing.levels == (PRACTITIONER,)

    renewed = [*black_belt, *foundations_done("2025-05-01")]
    awards = evaluate_to_fixpoint(RULES, renewed, [foundations, practitioner], d("2025-06-01"))
    assert [(a.level_id, a.earned_at) for a in awards] == [
        (FOUNDATIONS, d("2025-05-01")),
        (BLACK_BELT, d("2025-05-01")),
    ]


# --- cascade ------------------------------------------------------------------------------


def all_courses(when: str) -> list[CompletionFact]:
    return [
        *foundations_done(when),
        done("disclosure-101", when),
        *(done(c, when) for c in ELECTIVES[:2]),
        done("crisis-301", when, 90),
        done("legal-301", when, 85),
        done("mentoring-301", when),
    ]


def test_foundations_practitioner_and_black_belt_cascade_in_one_call() -> None:
    completions = [
        *foundations_done("2025-01-10"),
        done("disclosure-101", "2025-01-05"),
        *(done(c, "2025-01-06") for c in ELECTIVES[2:]),
        done("crisis-301", "2025-02-01", 90),
        done("legal-301", "2025-02-02", 85),
        done("mentoring-301", "2025-01-03"),
    ]
    awards = evaluate_to_fixpoint(RULES, completions, [], d("2025-06-01"))
    assert [(a.level_id, a.earned_at) for a in awards] == [
        (FOUNDATIONS, d("2025-01-10")),
        (PRACTITIONER, d("2025-01-10")),  # its courses came first: dated from Foundations
        (BLACK_BELT, d("2025-02-02")),
    ]
    assert all(a.supersedes is None and not a.renewal for a in awards)


def test_black_belt_needs_85_in_crisis_and_legal() -> None:
    completions = [
        c if c.course != "legal-301" else c._replace(score=84) for c in all_courses("2025-01-10")
    ]
    awards = evaluate_to_fixpoint(RULES, completions, [], d("2025-06-01"))
    assert [a.level_id for a in awards] == [FOUNDATIONS, PRACTITIONER]


def test_fixpoint_with_everything_already_held_awards_nothing() -> None:
    completions = all_courses("2025-01-10")
    awards = evaluate_to_fixpoint(RULES, completions, [], d("2025-06-01"))
    assert len(awards) == 3
    assert evaluate_to_fixpoint(RULES, completions, with_awards([], awards), d("2025-06-01")) == []


def test_level_order_puts_prerequisites_first_and_refuses_cycles() -> None:
    assert level_order(RULES) == [FOUNDATIONS, PRACTITIONER, BLACK_BELT]
    cyclic = {**RULES, FOUNDATIONS: replace(FOUNDATION_RULE, prerequisites=(BLACK_BELT,))}
    with pytest.raises(ValueError, match="cycle"):
        level_order(cyclic)


# --- re-earning ---------------------------------------------------------------------------

PRIOR = credential(FOUNDATIONS, "2025-02-01", "2026-02-01", id="prior")  # window from 2025-12-03


def test_nothing_is_awarded_before_the_renewal_window_opens() -> None:
    completions = [*foundations_done("2025-11-01"), done("policy-refresher", "2025-11-02")]
    result = evaluate_level(FOUNDATION_RULE, completions, [PRIOR], d("2025-11-15"))
    assert not result.earned and result.missing is None
    assert result.held == PRIOR
    assert result.renewable_from == d("2025-12-03")


@pytest.mark.parametrize("when", ["2025-12-03", "2026-01-20", "2026-02-01", "2026-03-03"])
def test_policy_refresher_alone_renews_in_the_window_or_the_grace(when: str) -> None:
    refresher = done("policy-refresher", when)
    award = evaluate_level(FOUNDATION_RULE, [refresher], [PRIOR], d("2026-04-01")).award
    assert award is not None
    assert award.renewal
    assert award.supersedes == "prior"
    assert award.evidence == (refresher.id,)
    assert award.earned_at == d(when)
    assert award.valid_until == Duration.parse("P1Y").add_to(d(when))


def test_a_refresher_taken_before_the_window_does_not_renew() -> None:
    completions = [done("policy-refresher", "2025-12-02")]
    result = evaluate_level(FOUNDATION_RULE, completions, [PRIOR], d("2026-01-15"))
    assert not result.earned
    assert result.missing is not None and result.missing.renewal
    assert result.missing.courses == (CourseRequirement("policy-refresher", None),)


def test_after_the_grace_the_full_requirements_are_needed() -> None:
    refresher = done("policy-refresher", "2026-03-04")
    result = evaluate_level(FOUNDATION_RULE, [refresher], [PRIOR], d("2026-04-01"))
    assert not result.earned
    assert result.missing is not None and not result.missing.renewal
    assert [r.course for r in result.missing.courses] == ["policy-101", "brand-voice-101"]

    full = foundations_done("2026-03-20")
    award = evaluate_level(FOUNDATION_RULE, [refresher, *full], [PRIOR], d("2026-04-01")).award
    assert award is not None
    assert (award.renewal, award.supersedes, award.earned_at) == (False, "prior", d("2026-03-20"))


def test_old_completions_never_re_earn_an_expired_credential() -> None:
    old = foundations_done("2025-02-01")  # the ones that earned PRIOR
    assert evaluate_to_fixpoint(RULES, old, [PRIOR], d("2026-06-01")) == []
    # A completion in the window counts; one before it (2025-12-01) does not.
    mixed = [done("policy-101", "2025-12-10", 90), done("brand-voice-101", "2025-12-01")]
    assert evaluate_to_fixpoint(RULES, mixed, [PRIOR], d("2026-06-01")) == []


def test_a_credential_that_never_expires_is_not_re_awarded() -> None:
    forever = PRIOR._replace(valid_until=None)
    rule = replace(FOUNDATION_RULE, valid_for=None)
    completions = foundations_done("2027-01-01")
    result = evaluate_level(rule, completions, [forever], d("2027-06-01"))
    assert not result.earned and result.held == forever


def test_a_late_sync_records_an_already_expired_credential_once() -> None:
    completions = foundations_done("2023-03-01")
    awards = evaluate_to_fixpoint(RULES, completions, [], d("2026-06-01"))
    assert [(a.earned_at, a.valid_until) for a in awards] == [(d("2023-03-01"), d("2024-03-01"))]
    assert evaluate_to_fixpoint(RULES, completions, with_awards([], awards), d("2026-06-01")) == []
    lines = progress(RULES, completions, [], d("2026-06-01"))
    assert lines[FOUNDATIONS].status == "missing"  # history grants nothing


def test_a_late_sync_can_record_history_and_its_renewal_in_one_call() -> None:
    completions = [*foundations_done("2023-03-01"), done("policy-refresher", "2024-02-01")]
    awards = evaluate_to_fixpoint(RULES, completions, [], d("2024-06-01"))
    assert [(a.earned_at, a.renewal, a.supersedes) for a in awards] == [
        (d("2023-03-01"), False, None),
        (d("2024-02-01"), True, "pending:0"),
    ]


def test_after_a_revocation_only_newer_completions_count() -> None:
    revoked = PRIOR._replace(status="revoked", status_changed_at=d("2025-06-01"))
    old = foundations_done("2025-02-01")
    assert evaluate_to_fixpoint(RULES, old, [revoked], d("2025-09-01")) == []
    refresher = done("policy-refresher", "2026-01-10")  # in the old window: not a renewal now
    assert evaluate_to_fixpoint(RULES, [*old, refresher], [revoked], d("2026-01-20")) == []

    newer = foundations_done("2025-08-01")
    awards = evaluate_to_fixpoint(RULES, [*old, *newer], [revoked], d("2025-09-01"))
    assert [(a.earned_at, a.supersedes, a.evidence) for a in awards] == [
        (d("2025-08-01"), None, tuple(c.id for c in newer))
    ]


def test_a_completion_at_the_moment_of_revocation_does_not_count() -> None:
    revoked = PRIOR._replace(status="revoked", status_changed_at=d("2025-08-01"))
    same_moment = [done("policy-101", "2025-08-01", 90), done("brand-voice-101", "2025-08-02")]
    assert evaluate_to_fixpoint(RULES, same_moment, [revoked], d("2025-09-01")) == []


def test_a_renewal_that_was_revoked_cannot_itself_be_renewed_by_the_refresher() -> None:
    renewed = credential(
        FOUNDATIONS,
        "2025-12-10",
        "2026-12-10",
        id="renewed",
        status="revoked",
        changed="2026-01-05",
    )
    superseded = PRIOR._replace(superseded_by="renewed")
    refresher = done("policy-refresher", "2026-01-15")  # inside PRIOR's window and grace
    result = evaluate_level(FOUNDATION_RULE, [refresher], [superseded, renewed], d("2026-02-01"))
    assert not result.earned
    assert result.missing is not None and not result.missing.renewal
    assert result.missing.reasons[0].startswith("completions dated on or before 2026-01-05")


def test_of_two_credentials_from_the_same_moment_the_current_one_is_renewed() -> None:
    # A renewal dated the moment its predecessor began (a corrected record): the current
    # credential is the one renewed and superseded, whichever order the facts come in.
    old = credential(FOUNDATIONS, "2025-03-01", "2025-09-01", id="old", superseded_by="new")
    new = credential(FOUNDATIONS, "2025-03-01", "2026-03-01", id="new")
    refresher = done("policy-refresher", "2026-02-15")  # in new's window, not in old's grace
    for facts in ([old, new], [new, old]):
        awards = evaluate_to_fixpoint(RULES, [refresher], facts, d("2026-03-10"))
        assert [(a.earned_at, a.renewal, a.supersedes) for a in awards] == [
            (d("2026-02-15"), True, "new")
        ]


def test_a_suspended_credential_blocks_automatic_re_award() -> None:
    suspended = PRIOR._replace(status="suspended", status_changed_at=d("2025-10-01"))
    completions = [done("policy-refresher", "2026-01-10"), *foundations_done("2026-01-11")]
    result = evaluate_level(FOUNDATION_RULE, completions, [suspended], d("2026-01-20"))
    assert not result.earned
    assert result.blocked is not None and "suspended since 2025-10-01" in result.blocked
    assert progress(RULES, completions, [suspended], d("2026-01-20"))[FOUNDATIONS].status == (
        "suspended"
    )


def test_a_superseded_prerequisite_counts_for_its_own_period() -> None:
    old = credential(FOUNDATIONS, "2024-01-01", "2025-01-01", id="f1", superseded_by="f2")
    new = credential(FOUNDATIONS, "2024-12-01", "2025-12-01", id="f2")
    practitioner = [
        done("disclosure-101", "2024-06-01"),
        *(done(c, "2024-06-02") for c in ELECTIVES),
    ]
    award = evaluate_level(RULES[PRACTITIONER], practitioner, [old, new], d("2025-06-01")).award
    assert award is not None and award.earned_at == d("2024-06-02")


def test_a_superseded_prerequisite_ends_where_its_successor_begins() -> None:
    old = credential(FOUNDATIONS, "2024-01-01", "2025-01-01", id="f1", superseded_by="f2")
    new = credential(
        FOUNDATIONS, "2024-12-01", "2025-12-01", id="f2", status="revoked", changed="2025-02-01"
    )
    practitioner = [
        done("disclosure-101", "2024-12-10"),
        *(done(c, "2024-12-11") for c in ELECTIVES),
    ]
    result = evaluate_level(RULES[PRACTITIONER], practitioner, [old, new], d("2025-06-01"))
    assert not result.earned


def test_an_earlier_completion_can_end_a_prerequisite_before_the_next_level_is_met() -> None:
    # Why "awarding is monotonic" holds only without expiring prerequisites: an earlier
    # qualifying score moves Foundations back a year, so it has lapsed when Practitioner is met.
    base = [
        done("brand-voice-101", "2024-01-01"),
        done("policy-101", "2024-12-01", 90),
        done("disclosure-101", "2025-03-01"),
        *(done(c, "2025-03-01") for c in ELECTIVES[:2]),
    ]
    at = d("2025-06-01")
    assert [a.level_id for a in evaluate_to_fixpoint(RULES, base, [], at)] == [
        FOUNDATIONS,
        PRACTITIONER,
    ]
    earlier = done("policy-101", "2024-01-02", 85)
    assert [a.level_id for a in evaluate_to_fixpoint(RULES, [*base, earlier], [], at)] == [
        FOUNDATIONS
    ]


def test_progress_lists_held_earnable_and_missing_levels() -> None:
    current = credential(FOUNDATIONS, "2025-01-01", "2026-01-01", id="f1")
    completions = [
        done("disclosure-101", "2025-02-01"),
        *(done(c, "2025-02-02") for c in ELECTIVES),
    ]
    lines = progress(RULES, completions, [current], d("2025-12-15"))
    assert list(lines) == [FOUNDATIONS, PRACTITIONER, BLACK_BELT]
    foundations, practitioner, black_belt = lines.values()
    assert (foundations.status, foundations.credential_id) == ("held", "f1")
    assert foundations.valid_until == d("2026-01-01")
    assert foundations.renewable_from == d("2025-11-02")
    assert foundations.missing is not None and foundations.missing.renewal  # window is open
    assert (practitioner.status, practitioner.valid_until) == ("earnable", d("2027-02-02"))
    assert black_belt.status == "missing" and black_belt.missing is not None
    assert black_belt.missing.levels == ()  # Practitioner is about to be issued
    assert [r.course for r in black_belt.missing.courses] == [
        "crisis-301",
        "legal-301",
        "mentoring-301",
    ]


# --- properties ---------------------------------------------------------------------------

BASE = d("2023-01-01")
AT = BASE + timedelta(days=1500)
COURSES = (
    "policy-101",
    "brand-voice-101",
    "policy-refresher",
    "disclosure-101",
    *ELECTIVES,
    "crisis-301",
    "legal-301",
    "mentoring-301",
)
NEVER_EXPIRING = {
    level_id: replace(rule, valid_for=None, renewal=None) for level_id, rule in RULES.items()
}


@st.composite
def completions_st(draw: st.DrawFn, max_size: int = 25) -> list[CompletionFact]:
    rows = draw(
        st.lists(
            st.tuples(
                st.sampled_from(COURSES),
                st.integers(0, 1500),
                st.one_of(st.none(), st.integers(60, 100)),
                st.booleans() | st.just(True),
            ),
            max_size=max_size,
        )
    )
    return [
        CompletionFact(f"c{i}", course, BASE + timedelta(days=days), score, passed)
        for i, (course, days, score, passed) in enumerate(rows)
    ]


@st.composite
def prior_credentials_st(draw: st.DrawFn) -> list[CredentialFact]:
    """At most one current credential per level, optionally after a superseded one."""
    credentials: list[CredentialFact] = []
    for index, (level_id, rule) in enumerate(RULES.items()):
        if not draw(st.booleans()):
            continue
        assert rule.valid_for is not None
        start = BASE + timedelta(days=draw(st.integers(0, 1400)))
        status = draw(st.sampled_from(["active", "active", "suspended", "revoked"]))
        changed = start + timedelta(days=draw(st.integers(0, 200)))
        current = CredentialFact(
            f"p{index}",
            level_id,
            start,
            rule.valid_for.add_to(start),
            status,  # type: ignore[arg-type]
            changed if status != "active" else None,
        )
        if draw(st.booleans()):
            older_start = start - timedelta(days=draw(st.integers(200, 400)))
            older = CredentialFact(
                f"o{index}",
                level_id,
                older_start,
                rule.valid_for.add_to(older_start),
                superseded_by=current.id,
            )
            credentials.append(older)
        credentials.append(current)
    return credentials


def held_by_definition(level_id: str, credentials: Sequence[CredentialFact], t: datetime) -> bool:
    by_id = {c.id: c for c in credentials}
    for c in credentials:
        if c.level_id != level_id or c.status != "active" or not c.valid_at(t):
            continue
        successor = by_id.get(c.superseded_by) if c.superseded_by else None
        if successor is None or t < successor.valid_from:
            return True
    return False


PROPERTY_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(completions=completions_st(), priors=prior_credentials_st())
def test_every_award_is_sound(
    completions: list[CompletionFact], priors: list[CredentialFact]
) -> None:
    awards = evaluate_to_fixpoint(RULES, completions, priors, AT)
    by_id = {c.id: c for c in completions}
    for index, award in enumerate(awards):
        rule = RULES[award.level_id]
        before = with_awards(priors, awards[:index])
        # prerequisites held at the earned moment
        for prerequisite in rule.prerequisites:
            assert held_by_definition(prerequisite, before, award.earned_at)
        # earned_at is an evidence completion's time or a prerequisite's valid_from
        moments = {by_id[e].completed_at for e in award.evidence}
        moments |= {c.valid_from for c in before if c.level_id in rule.prerequisites}
        assert award.earned_at in moments
        assert award.earned_at <= AT
        assert all(by_id[e].completed_at <= award.earned_at for e in award.evidence)
        assert all(by_id[e].passed for e in award.evidence)
        # validity is exactly valid_for
        assert rule.valid_for is not None
        assert award.valid_until == rule.valid_for.add_to(award.earned_at)
    # one current credential per level, and never for a suspended level
    after = with_awards(priors, awards)
    for level_id in RULES:
        assert len([c for c in after if c.level_id == level_id and c.is_current]) <= 1
    suspended = {c.level_id for c in priors if c.status == "suspended" and c.is_current}
    assert not suspended & {a.level_id for a in awards}


@PROPERTY_SETTINGS
@given(completions=completions_st(), priors=prior_credentials_st())
def test_the_fixpoint_is_idempotent(
    completions: list[CompletionFact], priors: list[CredentialFact]
) -> None:
    awards = evaluate_to_fixpoint(RULES, completions, priors, AT)
    assert evaluate_to_fixpoint(RULES, completions, with_awards(priors, awards), AT) == []


@PROPERTY_SETTINGS
@given(
    completions=completions_st(),
    extra=st.tuples(st.sampled_from(COURSES), st.integers(0, 1500), st.integers(60, 100)),
)
def test_adding_a_passed_completion_never_removes_an_award(
    completions: list[CompletionFact], extra: tuple[str, int, int]
) -> None:
    course, days, score = extra
    more = [*completions, CompletionFact("extra", course, BASE + timedelta(days=days), score)]
    # Without expiry, every level is monotonic...
    before = {a.level_id for a in evaluate_to_fixpoint(NEVER_EXPIRING, completions, [], AT)}
    after = {a.level_id for a in evaluate_to_fixpoint(NEVER_EXPIRING, more, [], AT)}
    assert before <= after
    # ...with expiry, a level without prerequisites still is (see the example test above).
    before_f = {a.level_id for a in evaluate_to_fixpoint(RULES, completions, [], AT)}
    after_f = {a.level_id for a in evaluate_to_fixpoint(RULES, more, [], AT)}
    assert FOUNDATIONS not in before_f or FOUNDATIONS in after_f


#: The demo's rules and variants the facts shortcut must also hold for: a recency window, a
#: level earned by its prerequisites alone (met with no completion: the facts always matter).
SHORTCUT_RULES = [
    *RULES.values(),
    *NEVER_EXPIRING.values(),
    replace(RULES[PRACTITIONER], recency=Duration.parse("P1Y")),
    LevelRule("social-media/mentor", 1, "Mentor", prerequisites=(BLACK_BELT,)),
]


@PROPERTY_SETTINGS
@given(
    completions=completions_st(),
    priors=prior_credentials_st(),
    days=st.integers(0, 1600),
    held_now=st.sets(st.sampled_from(list(RULES))),
)
def test_a_level_never_started_is_answered_the_same_without_the_learners_facts(
    completions: list[CompletionFact],
    priors: list[CredentialFact],
    days: int,
    held_now: set[str],
) -> None:
    """What a permission check's denial relies on to skip making the earning facts
    (``facts_matter``): whenever it says the facts cannot matter, they do not, at any moment
    and whatever the caller holds; and they are said to matter whenever the learner held the
    level or completed a course it counts."""
    at = BASE + timedelta(days=days)
    graph = {rule.level_id: rule.prerequisites for rule in SHORTCUT_RULES}
    for rule in SHORTCUT_RULES:
        counted = {r.course for r in rule.courses} | set(rule.electives_from)
        # The same learner without anything of this level: the shortcut's case, every example.
        untouched_completions = [c for c in completions if c.course not in counted]
        untouched_priors = [c for c in priors if c.level_id != rule.level_id]
        for facts in ((completions, priors), (untouched_completions, untouched_priors)):
            touched = {c.level_id for c in facts[1]} | {c.course for c in facts[0]}
            if rule.level_id in touched or counted & touched:
                assert facts_matter(rule, touched)
            if facts_matter(rule, touched):
                continue
            full = evaluate_level(rule, facts[0], facts[1], at, graph, held_now)
            assert full == evaluate_level(rule, (), (), at, graph, held_now)
            # and nothing is awarded (evaluate_to_fixpoint skips such a level)
            assert evaluate_level(rule, facts[0], facts[1], at, graph).award is None
        untouched = {c.level_id for c in untouched_priors}
        untouched |= {c.course for c in untouched_completions}
        met_with_nothing = not rule.courses and rule.electives_pick <= 0
        assert facts_matter(rule, untouched) == met_with_nothing
