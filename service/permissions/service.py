"""Permission checks: authenticate, read the learners' facts revisions, decide with the engine.

:class:`Permissions` lives once per process, built with the app's engine (``create_app`` or its
lifespan) and handed to the routes as ``PermissionsDep`` (:mod:`service.permissions.deps`). Per
request it reads a :class:`~service.permissions.repository.Snapshot` (the caller's key, the
catalog revision and each learner's facts revision, in one statement), admits the caller by
the one API-key rule (:func:`service.auth.service.admit`) on the key row read there, reuses
the compiled catalog while its revision stands and each learner's parsed facts while that
learner's revision stands (:mod:`service.permissions.cache`), and answers every check from
them. The facts of learners the cache does not hold come in the snapshot's statement; those
of held learners whose revision moved, in one more statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import anyio
import anyio.to_thread
from prometheus_client import Counter
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service.auth.service import PresentedKey, Principal, admit
from service.db import utcnow
from service.errors import NotFound
from service.issuance.compiled import CatalogCache, CompiledCatalog
from service.issuance.engine import evaluate_level
from service.permissions.cache import (
    EarningFacts,
    FactsCache,
    LearnerFacts,
    NotStarted,
    Standing,
    learner_facts,
)
from service.permissions.coalescing import CoalescingStore
from service.permissions.engine import (
    Decision,
    Holdings,
    MissingFor,
    MissingLevel,
    NotHeld,
    deny_unknown_learner,
    missing_level_from,
    missing_levels,
)
from service.permissions.repository import ImmediateReads, PermissionStore, Reads, Snapshot

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
    # What levels never started still need, for every learner (:class:`NotStarted`).
    not_started: NotStarted = field(default_factory=NotStarted, compare=False)


class Permissions:
    """The process's permission checker (see the module docstring).

    ``catalog`` is the process's compiled-catalog cache (shared with issuance), ``decisions``
    the ``/metrics`` counter of decisions by program kind and outcome, ``cache_learners`` the
    facts cache's capacity (``Settings.permission_cache_learners``).
    """

    def __init__(
        self, engine: Engine, *, catalog: CatalogCache, decisions: Counter, cache_learners: int
    ) -> None:
        self.engine = engine
        self.store = PermissionStore(engine)
        # PostgreSQL: reads coalesced across concurrent checks, off the event loop's back.
        self.reads: Reads = (
            CoalescingStore(engine)
            if self.store.dialect == "postgresql"
            else ImmediateReads(self.store)
        )
        self.cache: FactsCache[LearnerFacts] = FactsCache(cache_learners)
        self.compiled_catalog = catalog
        self.decisions = decisions
        self._view: CatalogView | None = None
        self._reading_catalog = anyio.Lock()  # one read of a new revision, not one per check
        self._counters: dict[tuple[str, bool], Any] = {}

    # ------------------------------------------------------------------ the request

    async def run(
        self,
        key: PresentedKey,
        checks: Sequence[Check],
        *,
        unknown_program_denies: bool = False,
    ) -> tuple[Principal, list[Answer]]:
        """Admit ``key`` (401/403, read in the snapshot statement), then decide ``checks`` in
        order.

        An unknown program kind raises :class:`NotFound` naming each such check (nothing is
        decided then), or with ``unknown_program_denies`` is a deny saying so (AuthZEN).
        """
        learner_ids = list(dict.fromkeys(c.learner_id for c in checks))
        # The facts of learners the cache does not hold come with the snapshot: one round
        # trip, not two.
        unseen = [i for i in learner_ids if not self.cache.holds(i)]
        snapshot = await self.reads.snapshot(key.prefix, learner_ids, unseen)
        principal = admit(snapshot.client, key, SCOPE)  # a revoked key fails at once
        view = self._view
        if view is None or view.revision != snapshot.catalog_revision:
            view = await self._read_catalog(snapshot.catalog_revision)
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
        return principal, decide_all(view, await self.learners(view, snapshot), checks)

    async def close(self) -> None:
        await self.reads.close()

    async def learners(self, view: CatalogView, snapshot: Snapshot) -> dict[str, LearnerFacts]:
        """The facts of every known learner in ``snapshot``: from the cache where the learner's
        facts revision still matches, else from the snapshot's own facts (learners not cached)
        or read (in one statement), and remembered."""
        cache = self.cache
        cache.for_catalog(view.revision)
        found: dict[str, LearnerFacts] = {}
        stale: list[str] = []
        for learner_id, revision in snapshot.revisions.items():
            entry = cache.get(learner_id, revision)
            if entry is not None:
                found[learner_id] = entry
                continue
            rows = snapshot.facts.get(learner_id)
            if rows is None:
                stale.append(learner_id)
                continue
            found[learner_id] = entry = learner_facts(rows, view.level_names, view.compiled.rules)
            cache.put(learner_id, entry)
        if stale:
            # Read after the snapshot: at least as new as the revisions it saw, and labelled
            # with the revision read in the same statement, so a later change is never masked.
            for learner_id, rows in (await self.reads.facts(stale)).items():
                entry = learner_facts(rows, view.level_names, view.compiled.rules)
                cache.put(learner_id, entry)
                found[learner_id] = entry
        return found

    async def _read_catalog(self, revision: int) -> CatalogView:
        """:meth:`catalog` in a worker thread, not on the event loop (where a wait for a pooled
        connection stalled every request), and once: the checks that arrive meanwhile wait for
        that read instead of compiling the catalog each in a thread of its own."""
        async with self._reading_catalog:
            view = self._view
            if view is not None and view.revision == revision:
                return view
            return await anyio.to_thread.run_sync(self.catalog, revision)

    def catalog(self, revision: int) -> CatalogView:
        view = self._view
        if view is not None and view.revision == revision:
            return view
        # Read-only: on SQLite a plain Session would BEGIN IMMEDIATE and wait for the writers'
        # lock, which a reader does not need. (``run`` calls this in a worker thread: on the
        # event loop, a wait for the lock or a pooled connection stalled every request.)
        with (
            self.engine.connect().execution_options(sqlite_readonly=True) as connection,
            Session(bind=connection) as session,
        ):
            compiled = self.compiled_catalog.get(session)
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
                counter = self.decisions.labels(check.program, "allow" if allowed else "deny")
                self._counters[(check.program, allowed)] = counter
            counter.inc()


# ---------------------------------------------------------------------- deciding


def decide_all(
    view: CatalogView, learners: dict[str, LearnerFacts], checks: Sequence[Check]
) -> list[Answer]:
    """Every check's decision, in order; a denial of a known learner also says, from the
    earning engine, which courses and levels are still missing."""
    compiled = view.compiled
    prerequisites = compiled.prerequisites
    names = view.level_names
    answers: list[Answer] = []
    for check in checks:
        program = compiled.programs.get(check.program)
        facts = learners.get(check.learner_id)
        if program is None:
            reason = f"There is no program kind {check.program!r} in the catalog"
            decision = Decision(False, [reason], [], None, [])
        elif program.archived:
            reason = f"Program kind {program.name} is archived: nobody may run it"
            decision = Decision(False, [reason], [], None, [])
        elif facts is None:
            decision = deny_unknown_learner(
                program.expr,
                check.learner_id,
                check.at,
                prerequisites=prerequisites,
                level_names=names,
                missing_for=_missing_for(view, None, None, check.at),
            )
        else:
            standing = facts.standing(check.at, prerequisites, names)
            allowed, reasons, granted, until, needed = standing.outcome(check.program, program.expr)
            if allowed:
                decision = Decision(True, list(reasons), list(granted), until, [])
            else:
                holdings = standing.holdings
                missing_for = _missing_for(view, facts, standing, check.at)
                missing = missing_levels(needed, holdings, missing_for)
                restored = _until_restored(missing, holdings)
                decision = Decision(False, [*reasons, *restored], [], None, missing)
        answers.append(Answer(check, decision))
    return answers


def _missing_for(
    view: CatalogView,
    facts: LearnerFacts | None,
    standing: Standing | None,
    at: datetime,
) -> MissingFor:
    """What each level still needs at ``at``, from the earning engine (only for the levels a
    denial lists, on demand; kept in the learner's standing where that is safe, and for levels
    the learner never started in the catalog view's :class:`NotStarted`). The earning engine's
    inputs are made once per check, for all the levels it lists."""
    compiled = view.compiled
    not_started = view.not_started
    earning: EarningFacts | None = None

    def earning_facts() -> EarningFacts:
        nonlocal earning
        if earning is None:
            assert facts is not None
            earning = facts.earning_facts(at)
        return earning

    def missing_for(level_id: str) -> MissingLevel | None:
        rule = compiled.rules.get(level_id)
        if rule is None:
            return None
        if facts is not None and standing is not None:
            return standing.missing_for(rule, facts, at, earning_facts, not_started)
        missing = evaluate_level(rule, [], [], at).missing
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
