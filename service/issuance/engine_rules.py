"""Building blocks of the earning engine: which completions count, when requirements were first
met, and when the prerequisite levels were held (:mod:`service.core.held`, the one definition
of "held"). Used by :mod:`service.issuance.engine`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import NamedTuple

from service.core.held import HeldCredentialFields, day, holds, requisites
from service.issuance.engine_facts import CompletionFact, CourseRequirement, CredentialFact

__all__ = [
    "Counting",
    "Cutoff",
    "Selection",
    "day",
    "earliest_with_prerequisites",
    "held_timeline",
    "later_cutoff",
    "select",
]


class Cutoff(NamedTuple):
    """Completions dated before ``moment`` (or at it, when ``strict``) do not count."""

    moment: datetime
    strict: bool
    why: str

    def admits(self, moment: datetime) -> bool:
        return moment > self.moment if self.strict else moment >= self.moment

    def reason(self) -> str:
        edge = "on or before" if self.strict else "before"
        return f"completions dated {edge} {day(self.moment)} do not count ({self.why})"


def later_cutoff(first: Cutoff | None, second: Cutoff | None) -> Cutoff | None:
    """The stricter of two cut-offs (the later moment; at the same moment, the strict one)."""
    if first is None or second is None:
        return first or second
    if first.moment != second.moment:
        return first if first.moment > second.moment else second
    return first if first.strict else second


class Counting(NamedTuple):
    """When a completion counts: passed, dated in ``[oldest, at]`` and admitted by ``cutoff``."""

    at: datetime
    oldest: datetime | None
    cutoff: Cutoff | None


class Selection(NamedTuple):
    """The earliest way a set of requirements was met, or what is still missing.

    ``met_at`` is the moment the last needed completion came in; it is ``None`` when not met, or
    when ``met`` holds with no completion needed at all (a level earned by prerequisites alone).
    """

    met: bool
    met_at: datetime | None
    evidence: tuple[str, ...]
    missing_courses: tuple[CourseRequirement, ...]
    electives_needed: int
    electives_uncounted: tuple[str, ...]
    shortfalls: tuple[str, ...]


def _earliest_counting(
    completions: Iterable[CompletionFact],
    min_scores: Mapping[str, float | None],
    counting: Counting,
) -> tuple[dict[str, CompletionFact], dict[str, float]]:
    """Per wanted course, its earliest counting completion; and the best score of completions
    that were dated right but scored too low (for the "needs a score of" reasons)."""
    earliest: dict[str, CompletionFact] = {}
    best_low: dict[str, float] = {}
    at, oldest, cutoff = counting  # unpacked once: this runs on every evaluation
    for completion in completions:
        course = completion.course
        if course not in min_scores or not completion.passed:
            continue
        moment = completion.completed_at
        if (
            moment > at
            or (oldest is not None and moment < oldest)
            or (cutoff is not None and not cutoff.admits(moment))
        ):
            continue
        min_score = min_scores[course]
        if min_score is not None and (completion.score is None or completion.score < min_score):
            if completion.score is not None and completion.score > best_low.get(course, -1.0):
                best_low[course] = completion.score
            continue
        known = earliest.get(course)
        if known is None or (moment, completion.id) < (known.completed_at, known.id):
            earliest[course] = completion
    return earliest, best_low


def select(
    required: Sequence[CourseRequirement],
    pick: int,
    electives: Sequence[str],
    completions: Iterable[CompletionFact],
    counting: Counting,
) -> Selection:
    """Find the earliest moment ``required`` and ``pick`` of ``electives`` were all met.

    Each required course uses its *earliest* counting completion and the electives are the
    ``pick`` courses completed first: any other choice can only make the latest completion used
    later, so this gives the moment the requirements were first met (and a retake never
    stretches validity). Evidence lists required courses in rule order, then the electives used.
    """
    min_scores: dict[str, float | None] = dict.fromkeys(electives)
    for requirement in required:
        min_scores[requirement.course] = requirement.min_score
    earliest, best_low = _earliest_counting(completions, min_scores, counting)

    evidence: list[str] = []
    missing: list[CourseRequirement] = []
    latest: datetime | None = None
    for requirement in required:
        found = earliest.get(requirement.course)
        if found is None:
            missing.append(requirement)
            continue
        evidence.append(found.id)
        if latest is None or found.completed_at > latest:
            latest = found.completed_at

    electives_needed = max(0, pick)
    uncounted: tuple[str, ...] = ()
    if electives:
        distinct = tuple(dict.fromkeys(electives))
        counted = sorted(
            (earliest[course] for course in distinct if course in earliest), key=_completion_order
        )
        for completion in counted[:pick] if pick > 0 else ():
            evidence.append(completion.id)
            if latest is None or completion.completed_at > latest:
                latest = completion.completed_at
        electives_needed = max(0, pick - len(counted))
        if electives_needed:
            uncounted = tuple(course for course in distinct if course not in earliest)

    shortfalls = (
        tuple(
            f"{course} needs a score of at least {_score(min_scores[course])} "
            f"(best so far: {_score(score)})"
            for course, score in best_low.items()
            if course not in earliest
        )
        if best_low
        else ()
    )
    met = not missing and electives_needed == 0
    return tuple.__new__(  # what ``Selection._make`` does, without its Python frame
        Selection,
        (
            met,
            latest if met else None,
            tuple(evidence) if met else (),
            tuple(missing),
            electives_needed,
            uncounted,
            shortfalls,
        ),
    )


def _completion_order(completion: CompletionFact) -> tuple[datetime, str]:
    return completion.completed_at, completion.id


def _score(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


def held_timeline(credentials: Sequence[CredentialFact]) -> dict[str, list[HeldCredentialFields]]:
    """The earning engine's credentials on the timeline of :mod:`service.core.held`, per level.

    The engine's credentials carry the status they have at the evaluation (now, or as of the
    moment a question about the past names), not their history: one revoked or suspended by then
    is taken as never active, so earning never rests on it, not even for a moment before the
    change (DESIGN.md §1 rule 2). A superseded credential is active until its successor's
    ``valid_from`` (it really was held in its time, so a late sync keeps its true date).

    Each credential is a :class:`~service.core.held.HeldCredential`'s fields as a plain tuple
    (:func:`~service.core.held.holds` takes either): issuing makes this for every level with
    prerequisites it evaluates.
    """
    by_id: dict[str, CredentialFact] | None = None
    timeline: dict[str, list[HeldCredentialFields]] = {}
    for credential_id, level_id, valid_from, valid_until, status, _, superseded_by in credentials:
        superseded_at: datetime | None = None
        if superseded_by is not None:
            if by_id is None:
                by_id = {c.id: c for c in credentials}
            successor = by_id.get(superseded_by)
            if successor is not None:
                superseded_at = successor.valid_from
        held: HeldCredentialFields = (
            credential_id,
            level_id,
            level_id,
            valid_from,
            valid_until,
            valid_from if status == "revoked" else None,
            ((valid_from, None),) if status == "suspended" else (),
            superseded_at,
        )
        timeline.setdefault(level_id, []).append(held)
    return timeline


_CLOSED: Mapping[str, tuple[str, ...]] = {}  # for levels already closed under prerequisites


def earliest_with_prerequisites(
    met_at: datetime | None,
    levels: Sequence[str],
    timeline: Mapping[str, Sequence[HeldCredentialFields]],
    prerequisites: Mapping[str, tuple[str, ...]],
    at: datetime,
    cutoff: Cutoff | None,
) -> datetime | None:
    """The first moment in ``[met_at, at]`` at which every level of ``levels`` is *held*
    (:func:`service.core.held.holds`: with its own prerequisites), if any.

    Holding only starts when a credential of one of their :func:`requisites` does, so the
    candidates are ``met_at`` and the ``valid_from`` moments after it. With ``met_at`` ``None``
    (no completion needed) the candidates are those the ``cutoff`` admits; with no prerequisites
    either there is no moment (such a level is never awarded automatically).
    """
    needed = requisites(levels, prerequisites)
    if met_at is not None and holds(needed, timeline, _CLOSED, met_at):
        return met_at
    starts = sorted(
        {
            valid_from
            for level_id in needed
            for _, _, _, valid_from, *_ in timeline.get(level_id, ())
            if valid_from <= at
            and (met_at is None or met_at < valid_from)
            and (cutoff is None or cutoff.admits(valid_from))
        }
    )
    for moment in starts:
        if holds(needed, timeline, _CLOSED, moment):
            return moment
    return None
