"""The permission engine: may this learner run this program kind at time ``t``, and why.

Pure functions, no I/O; runs on every permission check, so it allocates little. The service
loads the learner's credentials as :class:`HeldCredential`, calls :func:`held_levels` once per
learner and moment, then :func:`decide` per program kind (or :func:`check` for both).

DESIGN.md §1 "Permission decisions": a program kind's ``requires`` expression is evaluated over
the levels *held* at ``t`` — a level counts only while its credential is active and unexpired and
its prerequisites are held too, transitively (an expired or revoked foundation stops a higher
level from granting anything). "Held" is :mod:`service.core.held`, the one definition shared
with issuance and reports; its types are re-exported here. Every decision says why: the
credentials that granted it, when it first lapses, or what is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import NamedTuple

from service.catalog.expressions import AllOf, AnyOf, AttributeIn, Expr, LevelRef
from service.core.held import (
    Held,
    HeldCredential,
    Holdings,
    NotHeld,
    NotHeldCode,
    day,
    held_levels,
)
from service.issuance.engine import Missing

__all__ = [
    "Decision",
    "Held",
    "HeldCredential",
    "Holdings",
    "MissingCourse",
    "MissingFor",
    "MissingLevel",
    "NotHeld",
    "NotHeldCode",
    "Outcome",
    "check",
    "decide",
    "deny_unknown_learner",
    "held_levels",
    "missing_level_from",
    "missing_levels",
    "outcome",
]


class MissingCourse(NamedTuple):
    """A course still needed, with the score it must reach."""

    course: str
    min_score: float | None = None


class MissingLevel(NamedTuple):
    """A level the decision needs and the learner does not hold: the courses still needed (from
    the earning engine, when the service supplies ``missing_for``), electives, and the
    prerequisite levels not held."""

    level: str
    name: str = ""
    courses: tuple[MissingCourse, ...] = ()
    electives_needed: int = 0
    electives_from: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()


MissingFor = Callable[[str], MissingLevel | None]


class Decision(NamedTuple):
    """The answer to a permission check.

    ``granted_by`` lists the credentials the decision rests on (each level's and its
    prerequisites'); ``valid_until`` is when it first lapses (``None``: nothing granting it
    expires, or denied); ``reasons`` are plain-language sentences; ``missing`` lists the levels
    still needed when denied.
    """

    allowed: bool
    reasons: list[str]
    granted_by: list[str]
    valid_until: datetime | None
    missing: list[MissingLevel]


#: A requirement's outcome: (allowed, reasons, granted_by, valid_until, missing level ids).
Outcome = tuple[bool, list[str], list[str], datetime | None, list[str]]


def decide(
    expr: Expr,
    holdings: Holdings,
    attributes: Mapping[str, str],
    *,
    missing_for: MissingFor | None = None,
) -> Decision:
    """Evaluate a program kind's ``requires`` over the levels in ``holdings``.

    * a level: allowed when held; ``granted_by`` is its credential chain, ``valid_until`` its
      earliest lapse (including prerequisites); otherwise the reason it is not held;
    * ``all_of``: allowed when every item is; ``valid_until`` is the earliest of theirs; when
      denied, only the failing items' reasons are given;
    * ``any_of``: allowed when one item is; of the satisfied items the one lasting longest
      grants it (the first on a tie); when denied, every item's reason is given;
    * ``attribute in``: allowed when the learner's attribute is one of the values.

    ``missing`` holds, for each level needed and not held (and each prerequisite of it not
    held), ``missing_for(level)`` when given and not ``None``, else the level with its
    prerequisites not held.
    """
    allowed, reasons, granted, until, missing_ids = _evaluate(expr, holdings, attributes)
    if allowed:
        return Decision(True, reasons, granted, until, [])
    return Decision(False, reasons, [], None, missing_levels(missing_ids, holdings, missing_for))


def outcome(expr: Expr, holdings: Holdings, attributes: Mapping[str, str]) -> Outcome:
    """:func:`decide` up to the missing list: ``(allowed, reasons, granted_by, valid_until,
    the ids of the levels needed and not held)``, which :func:`missing_levels` turns into
    ``missing`` (so the outcome can be kept and the missing list made per check)."""
    return _evaluate(expr, holdings, attributes)


def _evaluate(expr: Expr, holdings: Holdings, attributes: Mapping[str, str]) -> Outcome:
    if isinstance(expr, LevelRef):
        level_id = expr.level
        held = holdings.held.get(level_id)
        if held is not None:
            return True, [_holds(held, holdings)], list(held.credential_ids), held.lapses_at, []
        return False, [holdings.why_not(level_id).reason], [], None, [level_id]
    if isinstance(expr, AttributeIn):
        return _attribute(expr, attributes)
    if isinstance(expr, AllOf):
        return _all_of(expr, holdings, attributes)
    if isinstance(expr, AnyOf):
        return _any_of(expr, holdings, attributes)
    raise TypeError(f"not an expression: {expr!r}")  # pragma: no cover


def _all_of(expr: AllOf, holdings: Holdings, attributes: Mapping[str, str]) -> Outcome:
    passed: list[str] = []
    failed: list[str] = []
    granted: list[str] = []
    missing: list[str] = []
    until: datetime | None = None
    for item in expr.items:
        ok, reasons, item_granted, item_until, item_missing = _evaluate(item, holdings, attributes)
        if ok:
            passed.extend(reasons)
            for credential_id in item_granted:
                if credential_id not in granted:
                    granted.append(credential_id)
            if item_until is not None and (until is None or item_until < until):
                until = item_until
        else:
            failed.extend(reasons)
            missing.extend(item_missing)
    if failed:
        return False, failed, [], None, missing
    return True, passed, granted, until, []


def _any_of(expr: AnyOf, holdings: Holdings, attributes: Mapping[str, str]) -> Outcome:
    best: Outcome | None = None
    failed: list[str] = []
    missing: list[str] = []
    for item in expr.items:
        outcome = _evaluate(item, holdings, attributes)
        if outcome[0]:
            if best is None or (
                best[3] is not None and (outcome[3] is None or outcome[3] > best[3])
            ):
                best = outcome
        elif best is None:
            failed.extend(outcome[1])
            missing.extend(outcome[4])
    if best is not None:
        return best
    return False, failed, [], None, missing


def _attribute(expr: AttributeIn, attributes: Mapping[str, str]) -> Outcome:
    value = attributes.get(expr.attribute)
    allowed_values = ", ".join(expr.values)
    if value is not None and str(value) in expr.values:
        return (
            True,
            [f"Learner's {expr.attribute} is {value}, one of {allowed_values}"],
            [],
            None,
            [],
        )
    actual = (
        f"learner's {expr.attribute} is {value}"
        if value is not None
        else (f"learner has no {expr.attribute}")
    )
    return False, [f"Requires {expr.attribute} in {allowed_values}; {actual}"], [], None, []


def _holds(held: Held, holdings: Holdings) -> str:
    if held.valid_until is None:
        text = f"Holds {held.level_name} (does not expire"
    else:
        text = f"Holds {held.level_name} (valid until {day(held.valid_until)}"
    if held.lapses_at is not None and held.lapses_with != held.level_id:
        lapsing = holdings.name(held.lapses_with)
        return f"{text}; counts until {day(held.lapses_at)}, when {lapsing} expires)"
    return f"{text})"


def missing_levels(
    level_ids: Iterable[str], holdings: Holdings, missing_for: MissingFor | None
) -> list[MissingLevel]:
    """:func:`decide`'s ``missing`` for the levels ``level_ids`` (its outcome's): each level not
    held, and each prerequisite of it not held, as ``missing_for(level)`` when given and not
    ``None``, else the level with its prerequisites not held."""
    found: dict[str, MissingLevel] = {}
    held = holdings.held
    prerequisites = holdings.prerequisites
    pending = list(level_ids)
    while pending:
        level_id = pending.pop(0)
        if level_id in found or level_id in held:
            continue
        # Loops, not comprehensions (a function call each in Python 3.11): this runs for each
        # level every uncached denial lists.
        not_held: list[str] = []
        for prerequisite in prerequisites.get(level_id, ()):
            if prerequisite not in held:
                not_held.append(prerequisite)
        entry = missing_for(level_id) if missing_for is not None else None
        if entry is None:
            entry = MissingLevel(level_id, holdings.name(level_id), (), 0, (), tuple(not_held))
        else:
            for prerequisite in not_held:
                if prerequisite not in entry.levels:
                    # The earning view checks direct prerequisites only; add those lapsed
                    # further down.
                    levels = tuple(dict.fromkeys((*entry.levels, *not_held)))
                    entry = entry._replace(levels=levels)
                    break
        found[level_id] = entry
        pending.extend(entry.levels)
    return list(found.values())


def check(
    expr: Expr,
    credentials: Iterable[HeldCredential],
    prerequisites: Mapping[str, tuple[str, ...]],
    attributes: Mapping[str, str],
    at: datetime,
    *,
    level_names: Mapping[str, str] | None = None,
    missing_for: MissingFor | None = None,
) -> Decision:
    """:func:`held_levels` then :func:`decide`, for a single check."""
    holdings = held_levels(credentials, prerequisites, at, level_names or {})
    return decide(expr, holdings, attributes, missing_for=missing_for)


def deny_unknown_learner(
    expr: Expr,
    learner_id: str,
    at: datetime,
    *,
    prerequisites: Mapping[str, tuple[str, ...]] | None = None,
    level_names: Mapping[str, str] | None = None,
    missing_for: MissingFor | None = None,
) -> Decision:
    """The decision for a learner Credence has never heard of: denied, saying so first, with
    every level the expression needs listed as missing."""
    holdings = Holdings(at, {}, {}, level_names or {}, prerequisites or {})
    decision = decide(expr, holdings, {}, missing_for=missing_for)
    reasons = [f"Learner {learner_id} is not known to Credence", *decision.reasons]
    return Decision(False, reasons, [], None, decision.missing)


def missing_level_from(missing: Missing, name: str = "") -> MissingLevel:
    """The earning engine's :class:`~service.issuance.engine.Missing` as a :class:`MissingLevel`
    (for a ``missing_for`` built on :func:`service.issuance.engine.progress`)."""
    return MissingLevel(
        level=missing.level_id,
        name=name,
        courses=tuple(MissingCourse(r.course, r.min_score) for r in missing.courses),
        electives_needed=missing.electives_needed,
        electives_from=missing.electives_from,
        levels=missing.levels,
    )
