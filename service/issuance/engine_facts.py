"""The earning engine's data: what the service feeds it and what it answers.

Plain immutable values with no behaviour beyond a few derived properties, so the issuance
service can map database rows onto them and the engine stays free of I/O. What the engine reads
and answers on every evaluation (the facts, :class:`Missing`, :class:`LevelEvaluation`) are
named tuples: a denial's missing list runs the engine on every uncached permission check, and
a frozen dataclass cost 8,800-12,000 instructions to make against 4,300 for a named tuple
(callgrind); change them with ``_replace``. The catalog's rules stay frozen dataclasses.
Re-exported by :mod:`service.issuance.engine`; import them from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

from service.core.durations import Duration

CredentialStatus = Literal["active", "suspended", "revoked"]
ProgressStatus = Literal["held", "earnable", "suspended", "missing"]

#: Prefix of the ids :func:`~service.issuance.engine.with_awards` gives awards not yet issued;
#: ``pending:<i>`` is the award at index ``i`` of the list it was given.
PENDING_PREFIX = "pending:"


@dataclass(frozen=True, slots=True)
class CourseRequirement:
    """A course the level requires, with the minimum score (0-100) a completion must reach."""

    course: str
    min_score: float | None = None


@dataclass(frozen=True, slots=True)
class Renewal:
    """The shorter path to renew: ``courses`` alone suffice from ``valid_until - window`` until
    ``valid_until + grace``."""

    courses: tuple[str, ...]
    window: Duration
    grace: Duration | None = None


@dataclass(frozen=True, slots=True)
class LevelRule:
    """One version of a level's requirements.

    ``prerequisites`` are the *effective* ones: the explicit ``levels`` plus the implied previous
    rank of the track, as the catalog resolved them.
    """

    level_id: str
    version: int
    name: str
    courses: tuple[CourseRequirement, ...] = ()
    electives_pick: int = 0
    electives_from: tuple[str, ...] = ()
    prerequisites: tuple[str, ...] = ()
    valid_for: Duration | None = None
    renewal: Renewal | None = None
    recency: Duration | None = None


class CompletionFact(NamedTuple):
    """A learner's completion of a course, as recorded (append-only)."""

    id: str
    course: str
    completed_at: datetime
    score: float | None = None
    passed: bool = True


class CredentialFact(NamedTuple):
    """A credential the learner was issued for some level.

    ``status_changed_at`` is when the current status was set (the revocation time for a revoked
    credential, the suspension time for a suspended one). A credential with ``superseded_by`` was
    replaced by a renewal: it is history, held only until its successor's ``valid_from``.
    """

    id: str
    level_id: str
    valid_from: datetime
    valid_until: datetime | None = None
    status: CredentialStatus = "active"
    status_changed_at: datetime | None = None
    superseded_by: str | None = None

    @property
    def is_current(self) -> bool:
        """Neither revoked nor superseded: the learner's one live credential for the level."""
        return self.status != "revoked" and self.superseded_by is None

    def in_force_at(self, moment: datetime) -> bool:
        """The learner's live credential for the level (active, not superseded) and within its
        validity at ``moment``. Its own standing only: whether the level is *held* — its
        prerequisites too — is :mod:`service.core.held`."""
        return self.status == "active" and self.superseded_by is None and self.valid_at(moment)

    def valid_at(self, moment: datetime) -> bool:
        """``valid_from <= moment < valid_until`` (status not considered)."""
        return self.valid_from <= moment and (self.valid_until is None or moment < self.valid_until)


@dataclass(frozen=True, slots=True)
class Award:
    """A credential to issue.

    ``earned_at`` is the credential's ``validFrom`` and ``awardedDate``. ``valid_until`` may
    already be past (a late sync records history that grants nothing). ``supersedes`` names the
    credential this one replaces (it may be a ``pending:<i>`` id from the same evaluation).
    ``renewal`` is true when the shorter renewal path (``renewal.courses`` alone) earned it.
    """

    level_id: str
    version: int
    earned_at: datetime
    valid_until: datetime | None
    evidence: tuple[str, ...]
    supersedes: str | None = None
    renewal: bool = False


class Missing(NamedTuple):
    """What a learner still needs for a level, on the path open to them at the time asked.

    ``renewal`` is true when the courses listed are the renewal path's. ``levels`` are the
    prerequisite levels not held at that time. ``reasons`` explain cut-offs and scores in plain
    language (``"policy-101 needs a score of at least 80 (best so far: 79)"``).
    """

    level_id: str
    courses: tuple[CourseRequirement, ...] = ()
    electives_needed: int = 0
    electives_from: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    renewal: bool = False

    @property
    def is_empty(self) -> bool:
        return not (self.courses or self.electives_needed or self.levels)


class LevelEvaluation(NamedTuple):
    """The answer for one level at one time.

    ``held`` is the learner's credential in force at that time
    (:meth:`CredentialFact.in_force_at`), if any; ``renewable_from``
    is when its renewal window opens (``None`` when it never expires). ``blocked`` says why
    nothing will be awarded automatically (a suspended credential).
    """

    level_id: str
    earned: bool
    award: Award | None = None
    missing: Missing | None = None
    held: CredentialFact | None = None
    renewable_from: datetime | None = None
    blocked: str | None = None


@dataclass(frozen=True, slots=True)
class LevelProgress:
    """One line of the learner's progress checklist.

    ``status``: ``held`` (an issued credential is in force now, until ``valid_until``: its own
    standing, see :meth:`CredentialFact.in_force_at`),
    ``earnable`` (requirements are met; the credential is issued on the next evaluation),
    ``suspended`` (no automatic award), ``missing`` (see ``missing``). A held level whose renewal
    window is open also carries ``missing`` for the renewal path.
    """

    level_id: str
    name: str
    status: ProgressStatus
    credential_id: str | None = None
    valid_until: datetime | None = None
    renewable_from: datetime | None = None
    missing: Missing | None = None
