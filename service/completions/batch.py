"""Recording completions: the one write path, for a batch and for a single completion (a batch
of one). The outcome is that of recording the items one by one, each as its own request: the
same per-item results, rows and audit events in the same order (the property tests in
``tests/completions/test_one_path.py`` hold it to that), at a fixed number of statements per
batch.

Every item is validated first (no writes). Under the chain's append lock one query finds the
external ids already used (replays and 409s; a repeat inside the batch is a replay of its first
use, or a 409). The accepted items are then applied in memory in order: learner upserts, the
completion, and the earning engine over the learner's completions and credentials (loaded once
per batch), exactly as each item would have seen them. The writes follow as multi-row statements;
the audit events are chained in memory from one head read.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from service.audit.service import EventSpec, lock_learners, record_many
from service.completions import repository
from service.completions.common import (
    BatchOutcome,
    CompletionRow,
    Recorded,
    check_dates,
    conflict,
    invalid,
    request_hash,
    unknown_course,
)
from service.completions.schemas import CompletionIn
from service.db import utcnow
from service.errors import ServiceError
from service.issuance.compiled import CompiledCatalog
from service.issuance.context import Issuer
from service.issuance.engine import evaluate_to_fixpoint, level_order
from service.issuance.engine_facts import CompletionFact, CredentialFact, LevelRule
from service.issuance.issuing import (
    IssuedRow,
    PendingCredential,
    issue_many,
    issued_event,
    pending_from_awards,
)
from service.learners.book import LearnerBook


@dataclass
class _Accepted:
    index: int
    body: CompletionIn
    row: dict[str, Any]
    issued: list[str] = field(default_factory=list)


def record_batch(
    session: Session,
    issuer: Issuer,
    items: Sequence[Mapping[str, Any] | CompletionIn],
    *,
    source: str,
    actor: str,
) -> list[BatchOutcome]:
    """Per-item outcomes in order; a bad item is reported and the others are kept (flushes).
    Items are raw JSON objects, validated here, or already validated :class:`CompletionIn`."""
    outcomes: dict[int, BatchOutcome] = {}
    parsed: list[tuple[int, CompletionIn]] = []
    for index, raw in enumerate(items):
        if isinstance(raw, CompletionIn):
            parsed.append((index, raw))
            continue
        try:
            parsed.append((index, CompletionIn.model_validate(raw)))
        except ValidationError as exc:
            outcomes[index] = BatchOutcome(index, None, invalid(exc))
    if not parsed:
        return [outcomes[i] for i in range(len(items))]
    # idempotency checks, learner upserts and evaluation must see the committed writers of
    # these learners; writers of other learners run alongside
    lock_learners(session, {b.learner_id for _, b in parsed})
    now = utcnow()
    earlier = _earlier(session, source, {b.external_id for _, b in parsed if b.external_id})
    compiled = issuer.catalog.get(session)  # cached per catalog revision (one short read)
    courses = compiled.courses  # every course, archived included
    accepted: list[_Accepted] = []
    first_use: dict[str, _Accepted] = {}
    replays: list[tuple[int, _Accepted]] = []
    for index, body in parsed:
        digest = request_hash(body)
        key = body.external_id
        if key is not None and key in earlier:
            recorded, stored_hash = earlier[key]
            outcome = (
                BatchOutcome(index, recorded, None)
                if stored_hash == digest
                else BatchOutcome(index, None, conflict(body, recorded.completion.id))
            )
            outcomes[index] = outcome
            continue
        if key is not None and key in first_use:
            first = first_use[key]
            if first.row["request_hash"] == digest:
                replays.append((index, first))
            else:
                outcomes[index] = BatchOutcome(index, None, conflict(body, first.row["id"]))
            continue
        try:
            check_dates(body, now)
            if body.course_id not in courses:
                raise unknown_course(body.course_id)
        except ServiceError as exc:
            outcomes[index] = BatchOutcome(index, None, exc)
            continue
        item = _Accepted(index, body, _completion_row(body, source, digest, now))
        accepted.append(item)
        if key is not None:
            first_use[key] = item
    if accepted:
        credentials = _record(session, issuer, compiled, accepted, actor=actor, now=now)
        for item in accepted:
            row = item.row
            completion = CompletionRow(
                row["id"],
                row["learner_id"],
                row["course_id"],
                row["completed_at"],
                row["score"],
                row["passed"],
                row["source"],
                row["external_id"],
                row["received_at"],
            )
            recorded = Recorded(completion, [credentials[c] for c in item.issued], created=True)
            outcomes[item.index] = BatchOutcome(item.index, recorded, None)
        for index, first in replays:
            original = outcomes[first.index].recorded
            assert original is not None
            outcomes[index] = BatchOutcome(
                index, Recorded(original.completion, original.issued, created=False), None
            )
    return [outcomes[i] for i in range(len(items))]


def _completion_row(body: CompletionIn, source: str, digest: str, now: datetime) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "learner_id": body.learner_id,
        "course_id": body.course_id,
        "completed_at": body.completed_at,
        "score": body.score,
        "passed": body.passed,
        "source": source,
        "external_id": body.external_id,
        "request_hash": digest,
        "received_at": now,
        "issued": [],
    }


def _earlier(
    session: Session, source: str, external_ids: set[str | None]
) -> dict[str, tuple[Recorded, str]]:
    """Completions this client already stored under the batch's external ids, as replays."""
    if not external_ids:
        return {}
    rows = repository.by_external_ids(session, source, {i for i in external_ids if i})
    found = repository.credentials(session, [cid for row in rows for cid in row.issued])
    return {
        str(row.external_id): (
            Recorded(row, [found[c] for c in row.issued if c in found], created=False),
            row.request_hash,
        )
        for row in rows
    }


def _record(
    session: Session,
    issuer: Issuer,
    compiled: CompiledCatalog,
    accepted: list[_Accepted],
    *,
    actor: str,
    now: datetime,
) -> dict[str, IssuedRow]:
    """Apply the accepted items in order in memory, then write everything; the credentials
    issued, by id."""
    learner_ids = {item.body.learner_id for item in accepted}
    book = LearnerBook(session, learner_ids)
    completions, held = repository.learner_facts(session, learner_ids)
    candidates = _Candidates(compiled)
    passed: defaultdict[str, set[str]] = defaultdict(set)
    for learner_id, learner_facts in completions.items():
        passed[learner_id] = {f.course for f in learner_facts.values() if f.passed}
    events: list[EventSpec] = []
    pending: list[PendingCredential] = []
    for item in accepted:
        body, row = item.body, item.row
        learner_event = book.mention(body.learner_id, body.learner, now=now, actor=actor)
        if learner_event is not None:
            events.append(learner_event)
        events.append(_recorded_event(row, actor))
        facts = completions[body.learner_id]
        facts[row["id"]] = CompletionFact(
            row["id"], body.course_id, body.completed_at, body.score, body.passed
        )
        if body.passed:
            passed[body.learner_id].add(body.course_id)
        rules = candidates.rules_for(passed[body.learner_id])
        if not rules:
            continue  # no level can be earned without more courses: nothing to evaluate
        for credential in _evaluate(compiled, rules, book, facts, held, body.learner_id, now):
            pending.append(credential)
            item.issued.append(credential.id)
            events.append(issued_event(credential, actor))
        row["issued"] = list(item.issued)
    book.write(session)
    repository.insert_completions(session, [item.row for item in accepted])
    issued = issue_many(session, issuer, compiled, pending, actor=actor, now=now)
    record_many(session, events, at=now)
    return {c.id: c for c in issued}


class _Candidates:
    """The levels an evaluation must look at: those whose courses (full requirements or the
    renewal path) all have a passed completion. The others cannot be awarded, even by a
    cascade, so the engine gets only the candidates, as long as it orders them as it orders
    the whole catalog (then the awards and their order are the same)."""

    def __init__(self, compiled: CompiledCatalog) -> None:
        self.rules = compiled.rules
        self.order = level_order(compiled.rules)
        self.needs = [(level_id, *_needs(rule)) for level_id, rule in self.rules.items()]
        self.subsets: dict[frozenset[str], dict[str, LevelRule]] = {}

    def rules_for(self, passed: set[str]) -> dict[str, LevelRule]:
        chosen = frozenset(
            level_id
            for level_id, required, electives, pick, renewal in self.needs
            if (required <= passed and len(electives & passed) >= pick)
            or (renewal is not None and renewal <= passed)
        )
        subset = self.subsets.get(chosen)
        if subset is None:
            subset = {level_id: self.rules[level_id] for level_id in chosen}
            if level_order(subset) != [x for x in self.order if x in chosen]:
                subset = self.rules  # ties would be ordered differently: take them all
            self.subsets[chosen] = subset
        return subset


def _needs(rule: LevelRule) -> tuple[set[str], set[str], int, set[str] | None]:
    renewal = set(rule.renewal.courses) if rule.renewal else None
    return {c.course for c in rule.courses}, set(rule.electives_from), rule.electives_pick, renewal


def _evaluate(
    compiled: CompiledCatalog,
    rules: dict[str, LevelRule],
    book: LearnerBook,
    facts: dict[str, CompletionFact],
    held: dict[str, list[CredentialFact]],
    learner_id: str,
    now: datetime,
) -> list[PendingCredential]:
    """What recording this completion issues; ``held`` is updated with it."""
    current = held[learner_id]
    awards = evaluate_to_fixpoint(rules, facts.values(), current, now)
    issued = pending_from_awards(
        compiled,
        awards,
        learner_id=learner_id,
        subject_id=book.subject_id(learner_id),
        email=book.rows[learner_id]["email"],
        facts=facts,
    )
    for credential in issued:
        award = credential.award
        current = [
            c._replace(superseded_by=credential.id) if c.id == credential.previous_id else c
            for c in current
        ]
        current.append(
            CredentialFact(
                id=credential.id,
                level_id=award.level_id,
                valid_from=award.earned_at,
                valid_until=award.valid_until,
                status="active",
                status_changed_at=now,
            )
        )
    if issued:
        current.sort(key=lambda c: c.valid_from)
        held[learner_id] = current
    return issued


def _recorded_event(row: dict[str, Any], actor: str) -> EventSpec:
    return EventSpec(
        actor=actor,
        action="completion.recorded",
        subject=f"completion:{row['id']}",
        data={
            "learner": row["learner_id"],
            "course": row["course_id"],
            "completed_at": row["completed_at"].isoformat(),
            "score": row["score"],
            "passed": row["passed"],
            "external_id": row["external_id"],
        },
    )
