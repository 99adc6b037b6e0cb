"""The oracle for answers about a past moment: the learner's rows cut back to what existed then,
and the engines run fresh over them.

Written independently of :mod:`service.issuance.history` (which the service uses): here the
database is *replayed* up to ``t`` — as if the question had been asked at ``t`` of a database
holding only the rows that existed then, each with the status it had then — and the engines are
called directly, with no cache or memo. Existed at ``t``: completions dated at or before ``t``,
credentials awarded (``valid_from``) at or before ``t``, status events, supersessions and
attribute changes recorded at or before ``t``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from service.catalog.expressions import Expr
from service.issuance.engine import (
    CompletionFact,
    CredentialFact,
    LevelProgress,
    LevelRule,
    evaluate_level,
    progress,
)
from service.permissions.cache import held_credential
from service.permissions.engine import (
    Decision,
    MissingLevel,
    NotHeld,
    decide,
    held_levels,
    missing_level_from,
)
from service.permissions.repository import CredentialRow, LearnerRows


def _replay(
    events: list[tuple[datetime, int, str]], t: datetime | None
) -> tuple[str, datetime | None]:
    status, since = "active", None
    for at, _, event in sorted(events):
        if t is not None and at > t:
            break
        if status != "revoked" and event != status:  # a revocation is final
            status, since = event, at
    return status, since


def _status_then(row: CredentialRow, t: datetime) -> tuple[str, datetime | None]:
    """Replay the row's status events up to ``t``. A revoked or suspended row whose events do
    not end in that status (an import, written without them) got it at ``status_changed_at``
    (else ``valid_from``)."""
    events = list(row.events)
    if row.status != "active" and _replay(events, None)[0] != row.status:
        events.append((row.status_changed_at or row.valid_from, -1, row.status))
    return _replay(events, t)


def rows_as_of(rows: LearnerRows, t: datetime) -> LearnerRows:
    """``rows`` as the database held them at ``t``."""
    credentials: dict[str, CredentialRow] = {}
    for row in rows.credentials.values():
        if row.valid_from > t:
            continue
        status, since = _status_then(row, t)
        superseded = row.superseded_at is None or row.superseded_at <= t
        credentials[row.id] = row._replace(
            status=status,
            status_changed_at=since if status != "active" else None,
            superseded_by=row.superseded_by if superseded else None,
            superseded_at=row.superseded_at if superseded else None,
            events=[e for e in row.events if e[0] <= t],
        )
    return LearnerRows(
        known=rows.known,
        revision=rows.revision,
        credentials=credentials,
        attributes=[a for a in rows.attributes if a.changed_at <= t],
        completions=[c for c in rows.completions if c.completed_at <= t],
    )


def earning_facts(rows: LearnerRows) -> tuple[list[CompletionFact], list[CredentialFact]]:
    """The rows as the issuance service hands them to the earning engine (current status)."""
    completions = [
        CompletionFact(c.id, c.course, c.completed_at, c.score, c.passed) for c in rows.completions
    ]
    credentials = [
        CredentialFact(
            r.id,
            r.level_id,
            r.valid_from,
            r.valid_until,
            r.status,  # type: ignore[arg-type]
            r.status_changed_at,
            r.superseded_by,
        )
        for r in rows.credentials.values()
    ]
    return completions, credentials


def attributes(rows: LearnerRows) -> dict[str, str]:
    latest: dict[str, tuple[datetime, int, str | None]] = {}
    for change in rows.attributes:
        key = (change.changed_at, change.id, change.value)
        if change.name not in latest or key[:2] > latest[change.name][:2]:
            latest[change.name] = key
    return {name: value for name, (_, _, value) in latest.items() if value is not None}


def missing_then(
    rule: LevelRule,
    rows: LearnerRows,
    t: datetime,
    prerequisites: Mapping[str, tuple[str, ...]] | None = None,
    held: Collection[str] | None = None,
) -> MissingLevel | None:
    """What the earning engine says ``rule``'s level still needs at ``t`` over ``rows`` (already
    cut back to ``t``), with the prerequisites not held named from ``held`` (the levels the
    permission engine holds at ``t``) when given, as a permission check's denial names them."""
    completions, credentials = earning_facts(rows)
    found = evaluate_level(rule, completions, credentials, t, prerequisites, held).missing
    return missing_level_from(found, rule.name) if found is not None else None


def decisions_then(
    programs: Mapping[str, Expr],
    rows: LearnerRows,
    t: datetime,
    *,
    rules: Mapping[str, LevelRule],
    prerequisites: Mapping[str, tuple[str, ...]],
    names: Mapping[str, str],
) -> dict[str, Decision]:
    """Fresh decisions at ``t`` over ``rows`` as they stood then, per program kind: the
    permission engine, the earning engine for what is missing, and the "grants nothing until"
    notes."""
    then = rows_as_of(rows, t)
    holdings = held_levels(
        [held_credential(r, names) for r in then.credentials.values()], prerequisites, t, names
    )
    attributes_then = attributes(then)

    found: dict[str, MissingLevel | None] = {}

    def missing_for(level_id: str) -> MissingLevel | None:
        if level_id not in found:
            rule = rules.get(level_id)
            found[level_id] = (
                missing_then(rule, then, t, prerequisites, holdings.held)
                if rule is not None
                else None
            )
        return found[level_id]

    decisions: dict[str, Decision] = {}
    for program, expr in programs.items():
        decision = decide(expr, holdings, attributes_then, missing_for=missing_for)
        notes: list[str] = []
        for entry in decision.missing:
            not_held = holdings.not_held.get(entry.level)
            if not_held is None or not_held.code != "prerequisite":
                continue
            root: NotHeld = not_held
            while root.cause is not None:
                root = root.cause
            remedy = {"expired": "is renewed", "revoked": "is earned again"}.get(root.code)
            remedy = remedy or ("is reinstated" if root.code == "suspended" else "is held")
            notes.append(f"{not_held.level_name} grants nothing until {root.level_name} {remedy}")
        decisions[program] = decision._replace(reasons=decision.reasons + notes)
    return decisions


def progress_then(
    rules: Mapping[str, LevelRule], rows: LearnerRows, t: datetime
) -> tuple[list[dict[str, Any]], dict[str, LevelProgress]]:
    """The progress checklist at ``t`` and the credentials current then (id, level, status)."""
    then = rows_as_of(rows, t)
    completions, credentials = earning_facts(then)
    current = [
        {"id": r.id, "level": r.level_id, "status": r.status}
        for r in sorted(then.credentials.values(), key=lambda r: r.valid_from)
        if r.status != "revoked" and r.superseded_by is None
    ]
    return current, progress(rules, completions, credentials, t)
