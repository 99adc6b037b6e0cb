"""Permission checks: authenticate, read one snapshot, decide each check with the pure engine.

:class:`Permissions` lives once per app (``app.state.permissions``, made on first use). Per
request it reads a :class:`~service.permissions.repository.Snapshot` (the caller's key, the
catalog revision and the learners' facts, in one statement), reuses the compiled catalog while
the revision stands, and answers every check from that snapshot. Only a denial reads more: the
learner's completions, to say which courses are still needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from fastapi import FastAPI
from sqlmodel import Session

from service.auth.keys import grants, hashes_match
from service.auth.service import Principal
from service.db import utcnow
from service.errors import Forbidden, NotFound, Unauthorized
from service.issuance.compiled import CompiledCatalog
from service.issuance.engine import CompletionFact, CredentialFact, evaluate_level
from service.permissions.engine import (
    Decision,
    HeldCredential,
    Holdings,
    MissingFor,
    MissingLevel,
    NotHeld,
    decide,
    deny_unknown_learner,
    held_levels,
    missing_level_from,
    with_missing,
)
from service.permissions.repository import (
    AttributeChange,
    CompletionRow,
    CredentialRow,
    LearnerRows,
    PermissionStore,
    Snapshot,
)

SCOPE = "permissions:check"


class Check(NamedTuple):
    learner_id: str
    program: str
    at: datetime


class Answer(NamedTuple):
    check: Check
    decision: Decision


@dataclass(frozen=True)
class CatalogView:
    """The compiled catalog with what checks need from it, built once per catalog revision."""

    revision: int
    compiled: CompiledCatalog
    level_names: dict[str, str]


class Permissions:
    """The app's permission checker (one per app; see the module docstring)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.store = PermissionStore(app.state.engine)
        self._view: CatalogView | None = None
        self._counters: dict[tuple[str, bool], Any] = {}

    @classmethod
    def of(cls, app: FastAPI) -> Permissions:
        found: Permissions | None = getattr(app.state, "permissions", None)
        if found is None or found.store.engine is not app.state.engine:
            found = app.state.permissions = cls(app)
        return found

    # ------------------------------------------------------------------ the request

    def run(
        self,
        key: str,
        prefix: str,
        checks: Sequence[Check],
        *,
        unknown_program_denies: bool = False,
    ) -> tuple[Principal, list[Answer]]:
        """Authenticate ``key`` (401/403), then decide ``checks`` in order.

        An unknown program kind raises :class:`NotFound` naming each such check (nothing is
        decided then), or with ``unknown_program_denies`` is a deny saying so (AuthZEN).
        """
        learner_ids = list(dict.fromkeys(c.learner_id for c in checks))
        latest = max((c.at for c in checks), default=utcnow())
        snapshot = self.store.snapshot(prefix, learner_ids, latest)
        principal = authorize(snapshot, key, prefix)
        view = self.catalog(snapshot.catalog_revision)
        unknown = [i for i, c in enumerate(checks) if c.program not in view.compiled.programs]
        if unknown and not unknown_program_denies:
            names = sorted({checks[i].program for i in unknown})
            raise NotFound(
                f"No program kind {', '.join(map(repr, names))}.",
                errors=[
                    {"location": f"checks.{i}.program", "message": "unknown program kind"}
                    for i in unknown
                ]
                if len(checks) > 1
                else None,
            )
        return principal, decide_all(view, snapshot, checks, self.store)

    def catalog(self, revision: int) -> CatalogView:
        view = self._view
        if view is not None and view.revision == revision:
            return view
        # Read-only: on SQLite a plain Session would BEGIN IMMEDIATE and, on the event loop,
        # wait for the write lock that a request needing this loop holds (a 30 s stall, a 500).
        engine = self.app.state.engine
        with (
            engine.connect().execution_options(sqlite_readonly=True) as connection,
            Session(bind=connection) as session,
        ):
            compiled = self.app.state.issuer.catalog.get(session)
        names = {level_id: info.name for level_id, info in compiled.levels.items()}
        view = self._view = CatalogView(compiled.revision, compiled, names)
        return view

    def count(self, answers: Sequence[Answer]) -> None:
        """Count decisions per program kind and outcome on ``/metrics`` (not audit events)."""
        programs = self._view.compiled.programs if self._view is not None else {}
        for check, decision in answers:
            if check.program not in programs:  # unknown kinds would grow the label set
                continue
            allowed = decision.allowed
            counter = self._counters.get((check.program, allowed))
            if counter is None:
                decisions = self.app.state.metrics.permission_decisions
                counter = decisions.labels(check.program, "allow" if allowed else "deny")
                self._counters[(check.program, allowed)] = counter
            counter.inc()


def authorize(snapshot: Snapshot, key: str, prefix: str) -> Principal:
    """The caller, read in the same statement as the facts: a revoked key fails at once."""
    client = snapshot.client
    if client is None or client.revoked or not hashes_match(key, client.secret_hash):
        raise Unauthorized("The API key is not valid (unknown, malformed or revoked).")
    principal = Principal(client.id, client.name, prefix, frozenset(client.scopes.split()))
    if not grants(principal.scopes, SCOPE):
        raise Forbidden(f"This API key lacks the '{SCOPE}' scope.", required_scope=SCOPE)
    return principal


# ---------------------------------------------------------------------- deciding


def decide_all(
    view: CatalogView,
    snapshot: Snapshot,
    checks: Sequence[Check],
    store: PermissionStore,
) -> list[Answer]:
    """Every check's decision; denials of known learners then get their missing courses from
    one read of the completions of those learners."""
    compiled = view.compiled
    prerequisites = compiled.prerequisites
    names = view.level_names
    answers: list[Answer] = []
    denied: list[tuple[int, LearnerRows, Holdings]] = []
    no_facts = LearnerRows()
    for index, check in enumerate(checks):
        program = compiled.programs.get(check.program)
        facts = snapshot.learners.get(check.learner_id, no_facts)
        if program is None:
            reason = f"There is no program kind {check.program!r} in the catalog"
            decision = Decision(False, [reason], [], None, [])
        elif program.archived:
            reason = f"Program kind {program.name} is archived: nobody may run it"
            decision = Decision(False, [reason], [], None, [])
        elif not facts.known:
            decision = deny_unknown_learner(
                program.expr,
                check.learner_id,
                check.at,
                prerequisites=prerequisites,
                level_names=names,
                missing_for=_missing_for(compiled, (), (), check.at),
            )
        else:
            holdings = held_levels(held_credentials(facts, names), prerequisites, check.at, names)
            attributes = attributes_at(facts.attributes, check.at)
            decision = decide(program.expr, holdings, attributes)
            if not decision.allowed:
                denied.append((index, facts, holdings))
        answers.append(Answer(check, decision))
    if denied:
        completions = store.completions({checks[i].learner_id for i, *_ in denied})
        for index, facts, holdings in denied:
            check, decision = answers[index]
            missing_for = _missing_for(
                compiled,
                completions[check.learner_id],
                facts.credentials.values(),
                check.at,
            )
            decision = with_missing(decision, holdings, missing_for)
            reasons = decision.reasons + _until_restored(decision.missing, holdings)
            answers[index] = Answer(check, decision._replace(reasons=reasons))
    return answers


def held_credentials(facts: LearnerRows, names: dict[str, str]) -> list[HeldCredential]:
    """The learner's credentials with their status history as times (engine input)."""
    return [_held(row, names) for row in facts.credentials.values()]


def _held(row: CredentialRow, names: dict[str, str]) -> HeldCredential:
    revoked_at: datetime | None = None
    suspensions: list[tuple[datetime, datetime | None]] = []
    suspended_since: datetime | None = None
    for at, _, status in sorted(row.events):
        if status == "revoked":
            if revoked_at is None:
                revoked_at = at
        elif status == "suspended":
            if suspended_since is None:
                suspended_since = at
        elif suspended_since is not None:  # reinstated
            suspensions.append((suspended_since, at))
            suspended_since = None
    # Rows written without events (imports) still count by their current status.
    changed = row.status_changed_at or row.valid_from
    if row.status == "revoked" and revoked_at is None:
        revoked_at = changed
    if row.status == "suspended" and suspended_since is None:
        suspended_since = changed
    if suspended_since is not None:
        suspensions.append((suspended_since, None))
    return HeldCredential(
        row.id,
        row.level_id,
        names.get(row.level_id, row.level_id),
        row.valid_from,
        row.valid_until,
        revoked_at,
        tuple(suspensions),
        row.superseded_at,
    )


def attributes_at(history: list[AttributeChange], at: datetime) -> dict[str, str]:
    """The learner's attributes as they stood at ``at`` (latest change at or before it wins)."""
    if not history:
        return {}
    values: dict[str, str | None] = {}
    for change in sorted(history, key=lambda c: (c.changed_at, c.id)):
        if change.changed_at <= at:
            values[change.name] = change.value
    return {name: value for name, value in values.items() if value is not None}


def _missing_for(
    compiled: CompiledCatalog,
    completions: Sequence[CompletionRow],
    credentials: Any,
    at: datetime,
) -> MissingFor:
    """What each level still needs at ``at``, from the earning engine (only for the levels a
    denial lists, on demand)."""
    facts: tuple[list[CompletionFact], list[CredentialFact]] | None = None

    def missing_for(level_id: str) -> MissingLevel | None:
        nonlocal facts
        rule = compiled.rules.get(level_id)
        if rule is None:
            return None
        if facts is None:
            facts = (
                [
                    CompletionFact(c.id, c.course, c.completed_at, c.score, c.passed)
                    for c in completions
                ],
                [
                    CredentialFact(
                        r.id,
                        r.level_id,
                        r.valid_from,
                        r.valid_until,
                        r.status,
                        r.status_changed_at,
                        r.superseded_by,
                    )
                    for r in credentials
                ],
            )
        missing = evaluate_level(rule, facts[0], facts[1], at).missing
        return missing_level_from(missing, rule.name) if missing is not None else None

    return missing_for


def _until_restored(missing: list[MissingLevel], holdings: Holdings) -> list[str]:
    """For a level held but not counting, what would make it count again."""
    notes: list[str] = []
    for entry in missing:
        not_held = holdings.not_held.get(entry.level)
        if not_held is None or not_held.code != "prerequisite":
            continue
        root: NotHeld = not_held
        while root.cause is not None:
            root = root.cause
        remedy = {
            "expired": "is renewed",
            "revoked": "is earned again",
            "suspended": "is reinstated",
        }.get(root.code, "is held")
        notes.append(f"{not_held.level_name} grants nothing until {root.level_name} {remedy}")
    return notes


def now() -> datetime:
    return utcnow()
