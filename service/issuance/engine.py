"""The earning engine: from data alone, decide whether and when a learner earned a level.

Pure functions, no I/O. The issuance service maps rows onto the dataclasses of
:mod:`service.issuance.engine_facts` (re-exported here), calls :func:`evaluate_to_fixpoint`
inside its transaction and issues the returned awards in order; :func:`progress` feeds the
learner's checklist. The rules (DESIGN.md §1 "Earning rules") as implemented:

1. **Counting.** A completion counts for a course when it passed, its score reaches the course's
   ``min_score`` (a missing score never reaches one), it is dated no later than ``at``, no older
   than ``at - recency`` (when the level has a ``recency``), and the re-earning / revocation
   cut-off admits it (rule 4). Every required course and ``electives_pick`` distinct elective
   courses need a counting completion.
2. **Prerequisites.** Every prerequisite level is *held* at the earned moment, in the one sense
   of :mod:`service.core.held`: an ``active`` credential with ``valid_from <= t <
   valid_until`` and, recursively, its own prerequisites held too (an expired foundation stops a
   black belt being earned on a practitioner that no longer counts). A superseded credential
   counts until its successor's ``valid_from``; revoked and suspended ones never count
   (:func:`~service.issuance.engine_rules.held_timeline`).
3. **Dates.** The earned moment is when the requirements were first met: per required course its
   earliest counting completion, for electives the ``pick`` courses completed first, the latest
   of those; pushed to the first later prerequisite ``valid_from`` if a prerequisite was not held
   then. It is ``validFrom`` and ``awardedDate``; ``valid_until = earned + valid_for``. A
   credential already expired at ``at`` is still awarded, as history (late LMS syncs).
4. **Re-earning.** Once the learner held the level (any non-revoked credential), completions
   count only from ``previous.valid_until - renewal.window`` (the window is zero without a
   renewal rule; strictly after ``previous.valid_from`` if the window reaches back that far), so
   old completions never renew an expired credential and the same period is never awarded
   twice. From that moment up to ``valid_until + grace`` the ``renewal.courses`` alone are
   enough; later the full requirements are needed. Before the window opens nothing is awarded,
   a credential that never expires is never re-awarded, and the award ``supersedes`` the
   previous credential. After a revocation only completions dated after it count, and the full
   requirements apply. A suspended credential blocks any automatic award of its level.
5. **One current credential per level**: each award supersedes the one before it.
"""

from __future__ import annotations

import heapq
from collections.abc import Container, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime

from service.core.held import HeldCredentialFields, holds
from service.issuance.engine_facts import (
    PENDING_PREFIX,
    Award,
    CompletionFact,
    CourseRequirement,
    CredentialFact,
    CredentialStatus,
    LevelEvaluation,
    LevelProgress,
    LevelRule,
    Missing,
    ProgressStatus,
    Renewal,
)
from service.issuance.engine_rules import (
    Counting,
    Cutoff,
    day,
    earliest_with_prerequisites,
    held_timeline,
    later_cutoff,
    select,
)

__all__ = [
    "PENDING_PREFIX",
    "Award",
    "CompletionFact",
    "CourseRequirement",
    "CredentialFact",
    "CredentialStatus",
    "LevelEvaluation",
    "LevelProgress",
    "LevelRule",
    "Missing",
    "ProgressStatus",
    "Renewal",
    "evaluate_level",
    "evaluate_to_fixpoint",
    "facts_matter",
    "level_order",
    "prerequisite_graph",
    "progress",
    "with_awards",
]


def evaluate_level(
    rule: LevelRule,
    completions: Iterable[CompletionFact],
    credentials: Sequence[CredentialFact],
    at: datetime,
    prerequisites: Mapping[str, tuple[str, ...]] | None = None,
    held_now: Container[str] | None = None,
) -> LevelEvaluation:
    """Decide whether ``rule``'s level is earned by ``at``, from the learner's facts.

    ``completions`` and ``credentials`` are the learner's (credentials for every level: the
    prerequisites are looked up among them). ``prerequisites`` are every level's effective
    prerequisites, so that a prerequisite counts only with its own (:func:`evaluate_to_fixpoint`
    and :func:`progress` pass their rules'); without them the rule's prerequisites are taken to
    have none of their own. ``held_now`` are the levels held at ``at``, when the caller knows
    them already (a permission check's holdings, :func:`service.core.held.held_levels`): they
    name the prerequisites ``missing`` lists as not held, instead of this function laying the
    credentials out on a timeline to find them.

    Returns an :class:`Award` when a new credential is due (see the module docstring for the
    rules), otherwise what is missing on the path open at ``at`` (the renewal path inside the
    window and grace, else the full requirements), or why nothing can be awarded (``blocked``)
    or needs to be (the current credential is not due).
    """
    completions = tuple(completions)
    # The level's own credentials in one pass (this runs for every level a permission check's
    # denial lists): the one in force at ``at`` (the latest to start), the latest revocation,
    # the latest not revoked (a current one on a tie), and any current one suspended.
    level_id = rule.level_id
    held: CredentialFact | None = None
    previous: CredentialFact | None = None
    previous_current = False
    revoked: datetime | None = None
    for credential in credentials:
        if credential.level_id != level_id:
            continue
        status = credential.status
        if status == "revoked":
            # Revoked at an unknown time: taken as revoked from the start.
            moment = credential.status_changed_at or credential.valid_from
            if revoked is None or moment > revoked:
                revoked = moment
            continue
        current = credential.superseded_by is None
        if current and status == "suspended":
            since = credential.status_changed_at
            note = f" since {day(since)}" if since else ""
            blocked = f"{rule.name} is suspended{note}; it is not re-awarded automatically"
            return LevelEvaluation(level_id, earned=False, blocked=blocked)
        valid_from = credential.valid_from
        if previous is None or (
            valid_from > previous.valid_from
            if valid_from != previous.valid_from
            else current and not previous_current
        ):
            previous, previous_current = credential, current
        if (
            current
            and valid_from <= at
            and (credential.valid_until is None or at < credential.valid_until)
            and (held is None or valid_from > held.valid_from)
        ):
            held = credential  # in force at ``at``: active, not superseded, within validity

    cutoff = (
        Cutoff(revoked, strict=True, why=f"the credential was revoked on {day(revoked)}")
        if revoked is not None
        else None
    )
    renewable_from: datetime | None = None
    renewal_until: datetime | None = None
    if previous is not None:
        if previous.valid_until is None:  # never expires: nothing to renew
            return LevelEvaluation(rule.level_id, earned=False, held=held)
        reearn = _reearning_cutoff(rule, previous, previous.valid_until)
        renewable_from = reearn.moment
        if not reearn.admits(at):  # the current credential is not due yet
            return LevelEvaluation(
                rule.level_id, earned=False, held=held, renewable_from=renewable_from
            )
        cutoff = later_cutoff(cutoff, reearn)
        if rule.renewal is not None and previous.is_current and cutoff is reearn:
            grace = rule.renewal.grace
            renewal_until = grace.add_to(previous.valid_until) if grace else previous.valid_until

    oldest = rule.recency.subtract_from(at) if rule.recency else None
    counting = tuple.__new__(Counting, (at, oldest, cutoff))  # ``Counting._make``, frameless
    graph = prerequisites if prerequisites is not None else {rule.level_id: rule.prerequisites}
    # The credentials are laid out on the timeline of held levels only when a question needs
    # it: when the requirements are met, and for the prerequisites not held unless
    # ``held_now`` says. A denial's missing list evaluates levels whose requirements are
    # nearly never met, for every uncached permission check.
    timeline: Mapping[str, Sequence[HeldCredentialFields]] | None = None

    def held_timeline_once() -> Mapping[str, Sequence[HeldCredentialFields]]:
        nonlocal timeline
        if timeline is None:
            # A level without prerequisites never looks at the credentials held.
            timeline = held_timeline(credentials) if rule.prerequisites else _NO_TIMELINE
        return timeline

    def earliest(met_at: datetime | None) -> datetime | None:
        return earliest_with_prerequisites(
            met_at, rule.prerequisites, held_timeline_once(), graph, at, cutoff
        )

    full = select(rule.courses, rule.electives_pick, rule.electives_from, completions, counting)
    earned_at = earliest(full.met_at) if full.met else None
    evidence, by_renewal = full.evidence, False
    path = full
    if renewal_until is not None and rule.renewal is not None:
        scores = {r.course: r.min_score for r in rule.courses}
        renewal_courses = tuple(CourseRequirement(c, scores.get(c)) for c in rule.renewal.courses)
        short = select(renewal_courses, 0, (), completions, counting)
        short_at = earliest(short.met_at) if short.met else None
        if short_at is not None and short_at <= renewal_until:
            if earned_at is None or short_at < earned_at:
                earned_at, evidence, by_renewal = short_at, short.evidence, True
        elif at <= renewal_until:
            path = short

    if earned_at is not None:
        award = Award(
            level_id=rule.level_id,
            version=rule.version,
            earned_at=earned_at,
            valid_until=rule.valid_for.add_to(earned_at) if rule.valid_for else None,
            evidence=evidence,
            supersedes=previous.id if previous is not None and previous.is_current else None,
            renewal=by_renewal,
        )
        return LevelEvaluation(
            rule.level_id, earned=True, award=award, held=held, renewable_from=renewable_from
        )

    reasons = list(path.shortfalls)
    if cutoff is not None:
        reasons.insert(0, cutoff.reason())
    if path is not full and renewal_until is not None:
        reasons.append(
            f"until {day(renewal_until)} the renewal courses alone are enough; "
            "after that the full requirements apply"
        )
    if path.met and not rule.prerequisites and path.met_at is None:
        reasons.append("the level has no requirements, so it is never awarded automatically")
    not_held: tuple[str, ...] = ()
    if rule.prerequisites and held_now is not None:
        not_held = tuple([level for level in rule.prerequisites if level not in held_now])
    elif rule.prerequisites:
        by_level = held_timeline_once()
        not_held = tuple(
            [level for level in rule.prerequisites if not holds((level,), by_level, graph, at)]
        )
    # Made with ``tuple.__new__`` (what ``_make`` does, without the class's Python frame): a
    # denial's missing list ends here for each level it lists, on every uncached check.
    new = tuple.__new__
    missing = new(
        Missing,
        (
            rule.level_id,
            path.missing_courses,
            path.electives_needed,
            path.electives_uncounted,
            not_held,
            tuple(reasons),
            path is not full,
        ),
    )
    return new(LevelEvaluation, (rule.level_id, False, None, missing, held, renewable_from, None))


_NO_TIMELINE: Mapping[str, Sequence[HeldCredentialFields]] = {}


def facts_matter(rule: LevelRule, touched: AbstractSet[str]) -> bool:
    """Whether :func:`evaluate_level` of ``rule``, given ``held_now``, can depend on the facts
    of a learner whose credentials' level ids (whatever their status) and completions' courses
    (whatever their outcome) are ``touched``.

    It cannot when the learner never held the level and never completed a course its
    requirements count, and those requirements are not met without completions: then nothing
    in the facts is looked at (the level's own credentials decide re-earning, cut-offs and
    suspensions; the requirements' courses decide counting; the prerequisites' credentials
    matter only once the requirements are met), so ``evaluate_level(rule, (), (), at,
    prerequisites, held_now)`` answers the same, without the facts being made. That is the
    common case of a denial's missing list: the level above the learner's, not yet started.
    """
    if rule.level_id in touched or (not rule.courses and rule.electives_pick <= 0):
        return True
    for requirement in rule.courses:
        if requirement.course in touched:
            return True
    return not touched.isdisjoint(rule.electives_from)


def _reearning_cutoff(rule: LevelRule, previous: CredentialFact, valid_until: datetime) -> Cutoff:
    start = rule.renewal.window.subtract_from(valid_until) if rule.renewal else valid_until
    why = f"re-earning after the credential valid until {day(valid_until)}"
    if start <= previous.valid_from:  # a window longer than the validity: never reuse evidence
        return Cutoff(previous.valid_from, strict=True, why=why)
    return Cutoff(start, strict=False, why=why)


def evaluate_to_fixpoint(
    rules: Mapping[str, LevelRule],
    completions: Iterable[CompletionFact],
    credentials: Sequence[CredentialFact],
    at: datetime,
) -> list[Award]:
    """Every award due for the learner at ``at``, cascading until nothing new is earned.

    Levels are evaluated in :func:`level_order` (prerequisites first, then by level id); each
    award is fed back as a held credential (see :func:`with_awards`) before the level is
    evaluated again and before the levels that depend on it, so one call can award Foundations,
    then Practitioner, or a history credential and then its renewal. A level's awards depend
    only on its prerequisites, so this single ordered pass reaches the fixpoint: evaluating
    again with the awards applied yields nothing. Awards are returned in issuing order;
    ``supersedes`` may name ``pending:<i>``, the award at index ``i`` of this list.
    """
    completions = tuple(completions)
    held = list(credentials)
    graph = prerequisite_graph(rules)
    # A level the learner never held nor started is never awarded (see facts_matter): most
    # learners' completions touch one level of the catalog, and every completion runs this.
    touched = {credential.level_id for credential in held}
    touched.update(completion.course for completion in completions)
    awards: list[Award] = []
    for level_id in level_order(rules):
        rule = rules[level_id]
        if not facts_matter(rule, touched):
            continue
        # Each award for a level is strictly later than the last, among finitely many moments.
        for _ in range(len(completions) + len(held) + 2):
            evaluation = evaluate_level(rule, completions, held, at, graph)
            if evaluation.award is None:
                break
            held = _apply(held, evaluation.award, f"{PENDING_PREFIX}{len(awards)}")
            awards.append(evaluation.award)
        else:  # pragma: no cover - guards the termination argument above
            raise RuntimeError(f"earning {level_id} did not reach a fixpoint")
    return awards


def with_awards(
    credentials: Iterable[CredentialFact], awards: Sequence[Award]
) -> list[CredentialFact]:
    """``credentials`` as they stand once ``awards`` are issued: each award becomes an active
    credential ``pending:<i>`` (``i`` its index) and the credential it supersedes gets
    ``superseded_by``."""
    held = list(credentials)
    for index, award in enumerate(awards):
        held = _apply(held, award, f"{PENDING_PREFIX}{index}")
    return held


def _apply(held: list[CredentialFact], award: Award, pending_id: str) -> list[CredentialFact]:
    if award.supersedes is not None:
        held = [
            c._replace(superseded_by=pending_id) if c.id == award.supersedes else c for c in held
        ]
    held.append(
        CredentialFact(
            id=pending_id,
            level_id=award.level_id,
            valid_from=award.earned_at,
            valid_until=award.valid_until,
        )
    )
    return held


def prerequisite_graph(rules: Mapping[str, LevelRule]) -> dict[str, tuple[str, ...]]:
    """Each level's effective prerequisites, from ``rules``. Complete for the levels of the
    active catalog: an active level never names an archived one (the catalog refuses it)."""
    return {level_id: rule.prerequisites for level_id, rule in rules.items()}


def level_order(rules: Mapping[str, LevelRule]) -> list[str]:
    """Level ids with every prerequisite before the levels needing it, ties by level id.

    Prerequisites outside ``rules`` are ignored (their credentials are just looked up). Raises
    ``ValueError`` naming the levels on a cycle (the catalog refuses cycles, so this is a bug).
    """
    waiting = {
        level_id: {p for p in rule.prerequisites if p in rules and p != level_id}
        for level_id, rule in rules.items()
    }
    dependents: dict[str, list[str]] = {level_id: [] for level_id in rules}
    for level_id, needs in waiting.items():
        for needed in needs:
            dependents[needed].append(level_id)
    ready = [level_id for level_id, needs in waiting.items() if not needs]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        level_id = heapq.heappop(ready)
        order.append(level_id)
        for dependent in dependents[level_id]:
            waiting[dependent].discard(level_id)
            if not waiting[dependent]:
                heapq.heappush(ready, dependent)
    if len(order) != len(rules):
        stuck = sorted(set(rules) - set(order))
        raise ValueError(f"prerequisite cycle among {', '.join(stuck)}")
    return order


def progress(
    rules: Mapping[str, LevelRule],
    completions: Iterable[CompletionFact],
    credentials: Sequence[CredentialFact],
    at: datetime,
) -> dict[str, LevelProgress]:
    """The learner's checklist at ``at``, one entry per level in :func:`level_order`.

    Awards still due are applied first, so a level whose requirements are met shows as
    ``earnable`` and does not appear as a missing prerequisite of the levels above it. A held
    level carries ``valid_until`` and, once its renewal window opens, the renewal path's
    ``missing``; a level not held carries ``missing`` (courses, electives, prerequisites).
    """
    completions = tuple(completions)
    awards = evaluate_to_fixpoint(rules, completions, credentials, at)
    after = with_awards(credentials, awards)
    graph = prerequisite_graph(rules)
    lines: dict[str, LevelProgress] = {}
    for level_id in level_order(rules):
        rule = rules[level_id]
        evaluation = evaluate_level(rule, completions, after, at, graph)
        held = evaluation.held
        status: ProgressStatus
        if held is not None:
            pending = held.id.startswith(PENDING_PREFIX)
            status = "earnable" if pending else "held"
            lines[level_id] = LevelProgress(
                level_id,
                rule.name,
                status,
                credential_id=None if pending else held.id,
                valid_until=held.valid_until,
                renewable_from=evaluation.renewable_from,
                missing=evaluation.missing,
            )
            continue
        status = "suspended" if evaluation.blocked else "missing"
        lines[level_id] = LevelProgress(level_id, rule.name, status, missing=evaluation.missing)
    return lines
