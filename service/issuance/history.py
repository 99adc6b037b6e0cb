"""A learner's facts as they stood at a moment: the one definition behind every ``at=`` answer.

DESIGN.md §1: a decision "as of t" — and its explanation, and the learner's progress — uses only
what existed at t. Pure functions, no I/O; the permission checks and the progress endpoint both
build their engine inputs through :func:`facts_at`. What existed at t:

* a **completion** dated (``completed_at``) at or before t — the date the learning system
  reports, even when it was synced later;
* a **credential** awarded at or before t. Its award is its ``valid_from`` (DESIGN.md §1 rule 5:
  the moment its requirements were met, the credential's ``awardedDate``), *not* ``issued_at``,
  the moment Credence recorded it. A late LMS sync records a credential days after its
  ``valid_from``; the completions that earned it count from their own dates, so the credential
  must too — otherwise the past would show every requirement met and the level not held;
* its **status** from its status history up to t: revoked from its first revocation, suspended
  from a suspension until the reinstatement after it, otherwise active. A credential recorded
  without status events (an import) has its current status from ``status_changed_at`` (or its
  ``valid_from``);
* its **supersession** from ``superseded_at`` (when the renewal was recorded);
* an **attribute** value from its ``changed_at`` (see
  :func:`service.learners.service.attributes_at`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from service.issuance.engine_facts import CompletionFact, CredentialFact, CredentialStatus

Suspension = tuple[datetime, datetime | None]  # [start, end); end None while still suspended


def status_times(
    status: str,
    status_changed_at: datetime | None,
    valid_from: datetime,
    events: Iterable[tuple[datetime, int, str]],
) -> tuple[datetime | None, tuple[Suspension, ...]]:
    """A credential's status history as times: ``(revoked_at, suspensions)``.

    ``events`` are ``(at, event id, status)`` in any order. Rows written without events
    (imports) still count by their current ``status``, from ``status_changed_at`` or else
    ``valid_from``.
    """
    revoked_at: datetime | None = None
    suspensions: list[Suspension] = []
    suspended_since: datetime | None = None
    for at, _, event in sorted(events):
        if event == "revoked":
            if revoked_at is None:
                revoked_at = at
        elif event == "suspended":
            if suspended_since is None:
                suspended_since = at
        elif suspended_since is not None:  # reinstated
            suspensions.append((suspended_since, at))
            suspended_since = None
    changed = status_changed_at or valid_from
    if status == "revoked" and revoked_at is None:
        revoked_at = changed
    if status == "suspended" and suspended_since is None:
        suspended_since = changed
    if suspended_since is not None:
        suspensions.append((suspended_since, None))
    return revoked_at, tuple(suspensions)


class CredentialHistory(NamedTuple):
    """A credential with its status history as times, so its state at any moment follows."""

    id: str
    level_id: str
    valid_from: datetime
    valid_until: datetime | None
    revoked_at: datetime | None
    suspensions: tuple[Suspension, ...]
    superseded_by: str | None
    superseded_at: datetime | None

    def as_of(self, at: datetime) -> CredentialFact | None:
        """The credential as the earning engine would have seen it at ``at`` (its status and
        supersession then), or ``None`` when it had not been awarded yet."""
        if at < self.valid_from:
            return None
        status: CredentialStatus = "active"
        since: datetime | None = None
        if self.revoked_at is not None and self.revoked_at <= at:
            status, since = "revoked", self.revoked_at
        else:
            for start, end in self.suspensions:
                if start <= at and (end is None or at < end):
                    status, since = "suspended", start
                    break
        superseded = self.superseded_at is None or self.superseded_at <= at
        return CredentialFact(
            self.id,
            self.level_id,
            self.valid_from,
            self.valid_until,
            status,
            since,
            self.superseded_by if superseded else None,
        )


def facts_at(
    completions: Iterable[CompletionFact],
    credentials: Iterable[CredentialHistory],
    at: datetime,
) -> tuple[list[CompletionFact], list[CredentialFact]]:
    """The completions and credentials that existed at ``at``, each as it stood then (see the
    module docstring): the earning engine's inputs for a question about ``at``."""
    existing = [c for c in completions if c.completed_at <= at]
    facts = [fact for c in credentials if (fact := c.as_of(at)) is not None]
    return existing, facts
