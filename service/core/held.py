"""Held at t: the one definition of which levels a learner holds at a moment, and why not.

DESIGN.md §1: a credential is **active** at t when it had been awarded by then
(``valid_from <= t``), had not expired (``t < valid_until``) and was neither revoked, superseded
nor suspended at t (its status at t, from its status history). A level is **held** at t when one
of its credentials is active at t *and* each of its prerequisite levels (the effective ones) is
held at t, recursively: an expired or revoked foundation stops every level above it from counting.
As the prerequisite graph is acyclic, that is the same as: every level in :func:`requisites` (the
level and all its prerequisites, transitively) has a credential active at t.

Every "held" in Credence is this one:

* permission decisions: :func:`held_levels` (what is held, and for the rest why not);
* issuance: earning rule 2 (every prerequisite held at the earned moment) and the manual award's
  prerequisite check, through :func:`holds` over the earning engine's credentials
  (:func:`service.issuance.engine_rules.held_timeline` says how they map onto this timeline);
* reports: certification holders and expiring counts and role-mandate compliance
  (:mod:`service.reports.repository`: the same rule in SQL, over :func:`requisites`);
* the ``mandate.overdue`` webhook (:mod:`service.webhooks.scanner`: the active credentials,
  then :func:`requisites`).

It sits on the base floor (it imports nothing) so that every domain may apply it.

Counting differently on purpose, and named so: a credential *in force* (its own standing only,
:meth:`service.issuance.engine_facts.CredentialFact.in_force_at`: the learner's live credential,
what a manual award would duplicate and the progress checklist shows) and the funnel report's
*reached* (ever awarded).

Pure and allocation-light: this runs on every permission check. The value types are
``NamedTuple`` rather than frozen dataclasses because they are built per check and a frozen
dataclass costs about three times as much to construct. Re-exported by
:mod:`service.permissions.engine`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Literal, NamedTuple

NotHeldCode = Literal[
    "expired", "revoked", "suspended", "not_yet_valid", "superseded", "prerequisite", "never_earned"
]

_EMPTY_NAMES: Mapping[str, str] = {}


def day(moment: datetime) -> str:
    """A moment as the date people read in reasons (``2026-03-05``)."""
    return moment.date().isoformat()


class HeldCredential(NamedTuple):
    """A credential as the permission engine sees it: its status at any moment follows from
    these times, so a past ``at`` is answered as things stood then.

    ``suspensions`` are ``[start, end)`` intervals (``end`` ``None`` while still suspended);
    ``superseded_at`` is when a renewal replaced it.
    """

    id: str
    level_id: str
    level_name: str
    valid_from: datetime
    valid_until: datetime | None = None
    revoked_at: datetime | None = None
    suspensions: tuple[tuple[datetime, datetime | None], ...] = ()
    superseded_at: datetime | None = None

    def standing(self, at: datetime) -> tuple[NotHeldCode | None, datetime | None]:
        """``(None, None)`` when active at ``at``; otherwise why not and since when
        (:func:`credential_standing`)."""
        return credential_standing(self, at)


#: A :class:`HeldCredential`'s fields, in order, as a plain tuple: what the permission cache
#: keeps (the garbage collector stops tracking plain tuples of immutable values, not named
#: ones). :func:`held_levels` and :func:`credential_standing` take either.
HeldCredentialFields = tuple[
    str,
    str,
    str,
    datetime,
    datetime | None,
    datetime | None,
    tuple[tuple[datetime, datetime | None], ...],
    datetime | None,
]


def credential_standing(
    credential: HeldCredentialFields, at: datetime
) -> tuple[NotHeldCode | None, datetime | None]:
    """``(None, None)`` when ``credential`` is active at ``at``; otherwise why not and since
    when.

    Precedence: not yet valid, revoked, superseded, suspended, expired. (:func:`held_levels`
    leaves out credentials not yet valid at ``at``: they had not been awarded then.)
    """
    _, _, _, valid_from, valid_until, revoked_at, suspensions, superseded_at = credential
    if at < valid_from:
        return "not_yet_valid", valid_from
    if revoked_at is not None and revoked_at <= at:
        return "revoked", revoked_at
    if superseded_at is not None and superseded_at <= at:
        return "superseded", superseded_at
    for start, end in suspensions:
        if start <= at and (end is None or at < end):
            return "suspended", start
    if valid_until is not None and valid_until <= at:
        return "expired", valid_until
    return None, None


class Held(NamedTuple):
    """A level that counts at the moment asked.

    ``credential_ids`` is the chain that makes it count: the level's credential, then its
    prerequisites' (transitively, each once). ``lapses_at`` is the earliest ``valid_until``
    along that chain (``None``: nothing in it expires), reached by level ``lapses_with``.
    """

    level_id: str
    level_name: str
    credential_id: str
    valid_until: datetime | None
    credential_ids: tuple[str, ...]
    lapses_at: datetime | None
    lapses_with: str


class NotHeld(NamedTuple):
    """Why a level does not count: ``code`` with the moment ``since`` (expired on, revoked on,
    suspended since, valid from, superseded on) and, for ``prerequisite``, the prerequisite's
    own :class:`NotHeld` in ``cause``."""

    level_id: str
    level_name: str
    code: NotHeldCode
    since: datetime | None = None
    credential_id: str | None = None
    cause: NotHeld | None = None

    @property
    def phrase(self) -> str:
        """The reason without the level's name: ``"was revoked on 2026-03-05"``."""
        when = day(self.since) if self.since is not None else "an unknown date"
        match self.code:
            case "expired":
                return f"expired on {when}"
            case "revoked":
                return f"was revoked on {when}"
            case "suspended":
                return f"has been suspended since {when}"
            case "not_yet_valid":
                return f"is not valid until {when}"
            case "superseded":
                return f"was superseded on {when}"
            case "prerequisite" if self.cause is not None:
                cause = self.cause
                return (
                    "is held but does not count: "
                    f"its prerequisite {cause.level_name} {cause.phrase}"
                )
        return "has not been earned"

    @property
    def reason(self) -> str:
        """A sentence: ``"Social Media Black Belt was revoked on 2026-03-05"``."""
        return f"{self.level_name} {self.phrase}"


class Holdings(NamedTuple):
    """The levels held at ``at`` and, for every other level with a credential (or needed as a
    prerequisite of one), why not. :meth:`why_not` also answers for levels never earned."""

    at: datetime
    held: dict[str, Held]
    not_held: dict[str, NotHeld]
    level_names: Mapping[str, str]
    prerequisites: Mapping[str, tuple[str, ...]]

    def name(self, level_id: str) -> str:
        """The level's display name (its id when unknown)."""
        found = self.held.get(level_id) or self.not_held.get(level_id)
        if found is not None:
            return found.level_name
        return self.level_names.get(level_id, level_id)

    def why_not(self, level_id: str) -> NotHeld:
        """Why ``level_id`` is not held (``never_earned`` when there is nothing to say)."""
        found = self.not_held.get(level_id)
        if found is not None:
            return found
        return NotHeld(level_id, self.level_names.get(level_id, level_id), "never_earned")


def held_levels(
    credentials: Iterable[HeldCredentialFields],
    prerequisites: Mapping[str, tuple[str, ...]],
    at: datetime,
    level_names: Mapping[str, str] = _EMPTY_NAMES,
) -> Holdings:
    """The levels the learner holds at ``at`` (see the module docstring), with reasons.

    Only credentials awarded by ``at`` take part (``valid_from <= at``: a credential's
    ``valid_from`` is its award date; one awarded later did not exist then and explains
    nothing, see :mod:`service.issuance.history`). A level is held when one of its credentials
    is active at ``at`` — ``at < valid_until``, not revoked at or before ``at``, not superseded
    at or before ``at``, not in a suspension interval — *and* every prerequisite level
    (``prerequisites`` are the effective ones, per level) is held at ``at``, transitively. Of
    several active credentials the one lasting longest is used. For levels not held, the reason
    comes from the level's most recent credential (superseded ones only if nothing else), or
    names the prerequisite that is not held. Raises ``ValueError`` on a prerequisite cycle.

    ``credentials`` are :class:`HeldCredential` or their fields as plain tuples (what the
    permission cache keeps: made into named tuples per check, they were a sixth of an
    uncached check's holdings).
    """
    active: dict[str, HeldCredentialFields] = {}
    # Per level not active, the most telling inactive credential: (valid_from, code, since,
    # its NotHeld's fields).
    inactive: dict[
        str, tuple[datetime, NotHeldCode, tuple[str, str, NotHeldCode, datetime | None, str]]
    ] = {}
    for credential in credentials:
        credential_id, level_id, level_name, valid_from, valid_until, _, _, _ = credential
        if at < valid_from:  # not awarded yet
            continue
        code, since = credential_standing(credential, at)
        if code is None:
            best = active.get(level_id)
            if best is None or _lasts_longer(valid_until, best[4]):
                active[level_id] = credential
        elif level_id not in active:
            known = inactive.get(level_id)
            if known is None or _more_telling(valid_from, code, known[0], known[1]):
                fields = (level_id, level_name, code, since, credential_id)
                inactive[level_id] = (valid_from, code, fields)

    held: dict[str, Held] = {}
    not_held: dict[str, NotHeld] = {}
    for level_id, (_, _, fields) in inactive.items():
        if level_id not in active:
            not_held[level_id] = tuple.__new__(NotHeld, (*fields, None))
    resolving: set[str] = set()
    for level_id in active:
        _resolve(level_id, active, prerequisites, level_names, held, not_held, resolving)
    return Holdings(at, held, not_held, level_names, prerequisites)


def _resolve(
    level_id: str,
    active: Mapping[str, HeldCredentialFields],
    prerequisites: Mapping[str, tuple[str, ...]],
    level_names: Mapping[str, str],
    held: dict[str, Held],
    not_held: dict[str, NotHeld],
    resolving: set[str],
) -> Held | None:
    """:func:`held_levels`'s walk up the prerequisite graph from ``level_id``, filling ``held``
    and ``not_held``.

    A module-level function given everything it uses, not a closure: a nested function that
    calls itself refers to itself through its own closure cell, and that cycle kept every
    check's credentials and dictionaries alive until the garbage collector's next pass (a cold
    permission check left ~18 objects for it, and the collector's passes took 5% of the
    server's CPU at a million learners: ``bench/scale.py``). Nor an object holding them: making
    one per check cost more than passing them.
    """
    found = held.get(level_id)
    if found is not None or level_id in not_held:
        return found
    credential = active.get(level_id)
    if credential is None:
        name = level_names.get(level_id, level_id)
        not_held[level_id] = NotHeld(level_id, name, "never_earned")
        return None
    if level_id in resolving:
        raise ValueError(f"prerequisite cycle through {level_id}")
    resolving.add(level_id)
    credential_id, _, level_name, _, valid_until, _, _, _ = credential
    chain = [credential_id]
    lapses_at, lapses_with = valid_until, level_id
    for prerequisite in prerequisites.get(level_id, ()):
        below = _resolve(
            prerequisite, active, prerequisites, level_names, held, not_held, resolving
        )
        if below is None:
            resolving.discard(level_id)
            not_held[level_id] = NotHeld(
                level_id,
                level_name,
                "prerequisite",
                None,
                credential_id,
                not_held[prerequisite],
            )
            return None
        for below_id in below.credential_ids:
            if below_id not in chain:
                chain.append(below_id)
        if below.lapses_at is not None and (lapses_at is None or below.lapses_at < lapses_at):
            lapses_at, lapses_with = below.lapses_at, below.lapses_with
    resolving.discard(level_id)
    result = tuple.__new__(  # what ``Held._make`` does, without its Python frame
        Held,
        (
            level_id,
            level_name,
            credential_id,
            valid_until,
            tuple(chain),
            lapses_at,
            lapses_with,
        ),
    )
    held[level_id] = result
    return result


def _lasts_longer(candidate_until: datetime | None, best_until: datetime | None) -> bool:
    """A credential valid until ``candidate_until`` lasts longer than one until ``best_until``
    (``None``: never expires)."""
    if best_until is None:
        return False
    return candidate_until is None or candidate_until > best_until


def _more_telling(
    valid_from: datetime, code: NotHeldCode, known_from: datetime, known_code: NotHeldCode
) -> bool:
    """Which inactive credential explains the level best: a superseded one only when nothing
    else; then the most recent (by ``valid_from``)."""
    if (code == "superseded") != (known_code == "superseded"):
        return known_code == "superseded"
    return valid_from > known_from


def active_at(credential: HeldCredentialFields, at: datetime) -> bool:
    """The credential is active at ``at``: awarded by then and in good standing (see
    :func:`credential_standing`, which says "not yet valid" before ``valid_from``)."""
    return credential_standing(credential, at)[0] is None


def requisites(
    level_ids: Iterable[str], prerequisites: Mapping[str, tuple[str, ...]]
) -> tuple[str, ...]:
    """``level_ids`` and every prerequisite of theirs, transitively, each once (depth first, in
    the order given). A level is held exactly when each of its requisites has an active
    credential."""
    found: dict[str, None] = {}
    pending = list(level_ids)[::-1]
    while pending:
        level_id = pending.pop()
        if level_id in found:
            continue
        found[level_id] = None
        pending.extend(reversed(prerequisites.get(level_id, ())))
    return tuple(found)


def holds(
    level_ids: Iterable[str],
    by_level: Mapping[str, Sequence[HeldCredentialFields]],
    prerequisites: Mapping[str, tuple[str, ...]],
    at: datetime,
) -> bool:
    """Every level of ``level_ids`` is held at ``at``: the same answer as :func:`held_levels`
    (its ``held``), without the reasons. ``by_level`` are the learner's credentials per level."""
    # Plain loops, not ``all``/``any`` over generators: a denial's missing list asks this for
    # each prerequisite of each level it lists, on every uncached permission check.
    for level_id in requisites(level_ids, prerequisites):
        for credential in by_level.get(level_id, ()):
            if active_at(credential, at):
                break
        else:
            return False
    return True
