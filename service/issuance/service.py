"""Issuing credentials: evaluate a learner, sign what they earned, store it exactly as signed,
all inside the caller's transaction (flush only). Status changes flip status-list bits in the
same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlmodel import Session, col, select

from credentials import (
    Achievement,
    Evidence,
    IssuerProfile,
    build_credential,
    new_urn_uuid,
    sign_credential,
)
from service.audit.service import lock_chain, record
from service.db import utcnow
from service.errors import Conflict, InvalidInput, NotFound
from service.issuance.compiled import CompiledCatalog
from service.issuance.context import Issuer
from service.issuance.engine import evaluate_to_fixpoint, progress
from service.issuance.engine_facts import (
    Award,
    CompletionFact,
    CredentialFact,
    CredentialStatus,
    LevelProgress,
)
from service.issuance.engine_rules import held_timeline
from service.issuance.held import holds
from service.issuance.history import CredentialHistory, facts_at, status_times
from service.issuance.repository import (
    StatusEvent,
    completion_facts,
    credential_rows,
    status_events,
)
from service.learners.service import subject_id
from service.models import Completion, Credential, CredentialStatusEvent, Learner
from service.status import service as status_lists


def credential_fact(row: Credential) -> CredentialFact:
    """A stored credential as the earning engine takes it: its status as it stands now."""
    return CredentialFact(
        id=row.id,
        level_id=row.level_id,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        status=row.status,  # type: ignore[arg-type]
        status_changed_at=row.status_changed_at,
        superseded_by=row.superseded_by,
    )


def evaluate_learner(
    session: Session, issuer: Issuer, learner: Learner, *, actor: str, at: datetime | None = None
) -> list[Credential]:
    """Issue every credential the learner has earned by ``at`` (cascading to a fixpoint).

    Reads the learner's facts under the chain's append lock (see :func:`lock_chain`): two
    evaluations of one learner at once must not both see "not yet issued"."""
    lock_chain(session)
    at = at or utcnow()
    compiled = issuer.catalog.get(session)
    completions = completion_facts(session, learner.id)
    rows = credential_rows(session, learner.id)
    awards = evaluate_to_fixpoint(
        compiled.rules, completions, [credential_fact(r) for r in rows], at
    )
    if not awards:
        return []
    by_id = {r.id: r for r in rows}
    issued_ids: dict[str, str] = {}  # engine's pending ids -> real ids
    issued: list[Credential] = []
    for n, award in enumerate(awards):
        supersedes = award.supersedes
        if supersedes is not None:
            supersedes = issued_ids.get(supersedes, supersedes)
        credential = issue(
            session,
            issuer,
            compiled,
            learner,
            award,
            previous=by_id.get(supersedes) if supersedes else None,
            actor=actor,
        )
        issued_ids[f"pending:{n}"] = credential.id
        by_id[credential.id] = credential
        issued.append(credential)
    return issued


def credential_history(row: Credential, events: Sequence[StatusEvent]) -> CredentialHistory:
    """``row`` with its status history as times (:mod:`service.issuance.history`)."""
    revoked_at, suspensions = status_times(
        row.status, row.status_changed_at, row.valid_from, [(e.at, e.id, e.status) for e in events]
    )
    return CredentialHistory(
        row.id,
        row.level_id,
        row.valid_from,
        row.valid_until,
        revoked_at,
        suspensions,
        row.superseded_by,
        row.superseded_at,
    )


@dataclass(frozen=True)
class CredentialAsOf:
    """A credential as it stood at a moment: its status then, since when and why."""

    row: Credential
    status: CredentialStatus
    status_changed_at: datetime | None
    status_reason: str | None


def learner_progress(
    session: Session, issuer: Issuer, learner: Learner, at: datetime
) -> tuple[list[CredentialAsOf], dict[str, LevelProgress]]:
    """The learner's credentials current at ``at`` and, per active level, held / earnable /
    missing — all from the facts as they stood at ``at`` (:func:`facts_at`)."""
    compiled = issuer.catalog.get(session)
    rows = credential_rows(session, learner.id)
    events = status_events(session, learner.id)
    completions, credentials = facts_at(
        completion_facts(session, learner.id),
        [credential_history(row, events.get(row.id, ())) for row in rows],
        at,
    )
    lines = progress(compiled.rules, completions, credentials, at)
    by_id = {row.id: row for row in rows}
    current = [
        _as_of(by_id[fact.id], fact, events.get(fact.id, ()), at)
        for fact in credentials
        if fact.is_current
    ]
    return current, lines


def _as_of(
    row: Credential, fact: CredentialFact, events: Sequence[StatusEvent], at: datetime
) -> CredentialAsOf:
    if row.status == fact.status and (row.status_changed_at is None or row.status_changed_at <= at):
        return CredentialAsOf(row, fact.status, row.status_changed_at, row.status_reason)
    earlier = [e for e in events if e.at <= at and e.status == fact.status]
    if earlier:
        return CredentialAsOf(row, fact.status, earlier[-1].at, earlier[-1].reason)
    return CredentialAsOf(row, fact.status, fact.status_changed_at, None)


def issue(
    session: Session,
    issuer: Issuer,
    compiled: CompiledCatalog,
    learner: Learner,
    award: Award,
    *,
    previous: Credential | None,
    actor: str,
    manual_reason: str | None = None,
) -> Credential:
    """Build, lint, sign and store one credential with its status slots and audit event."""
    settings = issuer.settings
    level = compiled.levels[award.level_id]
    now = utcnow()
    credential = Credential(
        id=new_urn_uuid(),
        learner_id=learner.id,
        level_id=level.id,
        level_version=award.version,
        issued_at=now,
        valid_from=award.earned_at,
        valid_until=award.valid_until,
        status="active",
        status_changed_at=now,
        renewal=award.renewal,
        manual=manual_reason is not None,
        evidence=list(award.evidence),
        kid="",
        jwt="",
    )
    if previous is not None:  # first: at no instant may two live credentials exist
        previous.superseded_by = credential.id
        previous.superseded_at = now
        session.add(previous)
        session.flush()
    session.add(credential)
    session.flush()
    entries = status_lists.allocate(session, settings, credential.id)
    evidence = _evidence(session, compiled, award.evidence)
    doc = build_credential(
        issuer=IssuerProfile(
            id=settings.effective_issuer_id, name=settings.issuer_name, url=settings.base_url
        ),
        achievement=Achievement(
            id=f"{settings.base_url}/v1/tracks/{level.track}/levels/{level.slug}",
            name=level.name,
            description=level.description,
            criteria_narrative=level.criteria,
            version=str(award.version),
            tags=(level.track,),
        ),
        subject_id=subject_id(learner),
        evidence=evidence,
        valid_from=award.earned_at,
        valid_until=award.valid_until,
        awarded_date=award.earned_at,
        status=entries,
        credential_id=credential.id,
        name=level.name,
    )
    signer = issuer.keyring.active_signer(session)
    credential.jwt = sign_credential(doc, signer, now=now)
    credential.kid = signer.public_jwk["kid"]
    session.add(credential)
    session.add(
        CredentialStatusEvent(
            credential_id=credential.id, status="active", at=now, reason=manual_reason, actor=actor
        )
    )
    session.flush()
    record(
        session,
        actor=actor,
        action="credential.renewed" if award.renewal else "credential.issued",
        subject=f"credential:{credential.id}",
        data={
            "learner": learner.id,
            "level": level.id,
            "version": award.version,
            "valid_from": award.earned_at.isoformat(),
            "valid_until": award.valid_until.isoformat() if award.valid_until else None,
            "evidence": list(award.evidence),
            "supersedes": previous.id if previous else None,
            **({"manual": manual_reason} if manual_reason is not None else {}),
        },
    )
    return credential


@dataclass(frozen=True, slots=True)
class IssuedRow:
    """A credential as the bulk path stored it (the columns the API shows)."""

    id: str
    level_id: str
    valid_from: datetime
    valid_until: datetime | None
    renewal: bool


@dataclass(frozen=True)
class PendingCredential:
    """An award decided in memory (batch ingestion), to be stored, signed and slotted."""

    id: str
    learner_id: str
    subject_id: str
    award: Award
    previous_id: str | None
    evidence: list[Evidence]


def evidence_from_facts(
    compiled: CompiledCatalog, facts: dict[str, CompletionFact], ids: Sequence[str]
) -> list[Evidence]:
    return [
        Evidence(
            id=f"urn:uuid:{fact.id}",
            name=compiled.courses.get(fact.course, fact.course),
            genre="Course completion",
            description=f"Completed {fact.completed_at.date().isoformat()}"
            + (f" with score {fact.score:g}" if fact.score is not None else ""),
        )
        for cid in ids
        if (fact := facts.get(cid)) is not None
    ]


def issue_many(
    session: Session,
    issuer: Issuer,
    compiled: CompiledCatalog,
    pending: Sequence[PendingCredential],
    *,
    actor: str,
    now: datetime,
) -> list[IssuedRow]:
    """:func:`issue` for many awards at once with multi-row statements (flushes). The caller
    appends the ``credential.issued`` / ``credential.renewed`` audit events."""
    if not pending:
        return []
    settings = issuer.settings
    table = Credential.__table__  # type: ignore[attr-defined]
    rows: list[dict[str, Any]] = [
        {
            "id": p.id,
            "learner_id": p.learner_id,
            "level_id": p.award.level_id,
            "level_version": p.award.version,
            "issued_at": now,
            "valid_from": p.award.earned_at,
            "valid_until": p.award.valid_until,
            "status": "active",
            "status_changed_at": now,
            "status_reason": None,
            "superseded_by": None,
            "superseded_at": None,
            "renewal": p.award.renewal,
            "manual": False,
            "evidence": list(p.award.evidence),
            "kid": "",
            "jwt": "",
        }
        for p in pending
    ]
    # Supersede first: the live-credential index admits one per learner and level at a time.
    # A predecessor issued in this same batch is inserted already superseded.
    in_batch = {row["id"]: row for row in rows}
    superseding = []
    for p in pending:
        if p.previous_id in in_batch:
            in_batch[p.previous_id] |= {"superseded_by": p.id, "superseded_at": now}
        elif p.previous_id:
            superseding.append({"b_id": p.previous_id, "b_by": p.id, "b_at": now})
    if superseding:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(superseded_by=bindparam("b_by"), superseded_at=bindparam("b_at")),
            superseding,
        )
    session.execute(insert(table), rows)
    entries = status_lists.allocate_many(session, settings, [p.id for p in pending])
    signer = issuer.keyring.active_signer(session)
    profile = IssuerProfile(
        id=settings.effective_issuer_id, name=settings.issuer_name, url=settings.base_url
    )
    achievements: dict[tuple[str, int], Achievement] = {}
    for p, row in zip(pending, rows, strict=True):
        award = p.award
        level = compiled.levels[award.level_id]
        achievement = achievements.get((level.id, award.version))
        if achievement is None:
            achievement = achievements[(level.id, award.version)] = Achievement(
                id=f"{settings.base_url}/v1/tracks/{level.track}/levels/{level.slug}",
                name=level.name,
                description=level.description,
                criteria_narrative=level.criteria,
                version=str(award.version),
                tags=(level.track,),
            )
        doc = build_credential(
            issuer=profile,
            achievement=achievement,
            subject_id=p.subject_id,
            evidence=p.evidence,
            valid_from=award.earned_at,
            valid_until=award.valid_until,
            awarded_date=award.earned_at,
            status=entries[p.id],
            credential_id=p.id,
            name=level.name,
        )
        row["jwt"] = sign_credential(doc, signer, now=now)
        row["kid"] = signer.public_jwk["kid"]
    session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(jwt=bindparam("b_jwt"), kid=bindparam("b_kid")),
        [{"b_id": r["id"], "b_jwt": r["jwt"], "b_kid": r["kid"]} for r in rows],
    )
    session.execute(
        insert(CredentialStatusEvent.__table__),  # type: ignore[attr-defined]
        [
            {"credential_id": p.id, "status": "active", "at": now, "reason": None, "actor": actor}
            for p in pending
        ],
    )
    return [
        IssuedRow(r["id"], r["level_id"], r["valid_from"], r["valid_until"], r["renewal"])
        for r in rows
    ]


def _evidence(session: Session, compiled: CompiledCatalog, ids: Sequence[str]) -> list[Evidence]:
    if not ids:
        return []
    rows = session.exec(select(Completion).where(col(Completion.id).in_(list(ids))))
    return [
        Evidence(
            id=f"urn:uuid:{row.id}",
            name=compiled.courses.get(row.course_id, row.course_id),
            genre="Course completion",
            description=f"Completed {row.completed_at.date().isoformat()}"
            + (f" with score {row.score:g}" if row.score is not None else ""),
        )
        for row in rows
    ]


def get_credential(session: Session, credential_id: str, *, for_change: bool = False) -> Credential:
    """One credential; ``for_change`` reads it under the chain's append lock, as it stands after
    the last committed writer (a status change decides on what it reads)."""
    if for_change:
        lock_chain(session)
    credential = session.get(Credential, credential_id, populate_existing=for_change)
    if credential is None:
        raise NotFound(f"No credential {credential_id!r}.")
    return credential


_TRANSITIONS = {
    "revoke": ({"active", "suspended"}, "revoked"),
    "suspend": ({"active"}, "suspended"),
    "reinstate": ({"suspended"}, "active"),
}


def change_status(
    session: Session, credential_id: str, action: str, *, reason: str | None, actor: str
) -> Credential:
    """Revoke (permanent), suspend, or reinstate a suspended credential: one transition, one
    status event, one audit event, however many ask at once (the losers get a 409)."""
    credential = get_credential(session, credential_id, for_change=True)
    allowed_from, new_status = _TRANSITIONS[action]
    if credential.status not in allowed_from:
        raise Conflict(
            f"Cannot {action} a credential that is {credential.status}.",
            current_status=credential.status,
        )
    now = utcnow()
    credential.status = new_status
    credential.status_changed_at = now
    credential.status_reason = reason
    session.add(credential)
    session.add(
        CredentialStatusEvent(
            credential_id=credential.id, status=new_status, at=now, reason=reason, actor=actor
        )
    )
    if action == "revoke":
        status_lists.set_bit(session, credential.id, "revocation", True)
    else:
        status_lists.set_bit(session, credential.id, "suspension", action == "suspend")
    session.flush()
    record(
        session,
        actor=actor,
        action={"revoke": "credential.revoked", "suspend": "credential.suspended"}.get(
            action, "credential.reinstated"
        ),
        subject=f"credential:{credential.id}",
        data={"learner": credential.learner_id, "level": credential.level_id, "reason": reason},
    )
    return credential


def award_manually(
    session: Session,
    issuer: Issuer,
    learner: Learner,
    level_id: str,
    *,
    reason: str,
    override: bool,
    actor: str,
) -> Credential:
    """Award a level by hand; prerequisites must be *held* (:mod:`service.issuance.held`: with
    their own prerequisites) unless ``override`` (audit-logged).

    Refused (409) while the learner's credential for the level is in force
    (:meth:`~service.issuance.engine_facts.CredentialFact.in_force_at`: awarding it again would
    duplicate it, even when a lapsed prerequisite keeps it from counting) or suspended; an
    expired credential is superseded by the award. Decided under the chain's append lock, so of
    many identical awards at once exactly one succeeds."""
    lock_chain(session)
    compiled = issuer.catalog.get(session)
    rule = compiled.rules.get(level_id)
    if rule is None:
        raise InvalidInput(f"Unknown or archived level {level_id!r}.", level=level_id)
    now = utcnow()
    rows = credential_rows(session, learner.id)
    live = next(
        (
            r
            for r in rows
            if r.level_id == level_id and r.superseded_by is None and r.status != "revoked"
        ),
        None,
    )
    if live is not None and credential_fact(live).in_force_at(now):
        raise Conflict(f"{learner.id} already holds {level_id} ({live.id}).", credential_id=live.id)
    if live is not None and live.status == "suspended":
        raise Conflict(
            f"{learner.id}'s {level_id} credential {live.id} is suspended: reinstate or revoke "
            "it first.",
            credential_id=live.id,
        )
    timeline = held_timeline([credential_fact(r) for r in rows])
    graph = compiled.prerequisites
    missing = [p for p in rule.prerequisites if not holds((p,), timeline, graph, now)]
    if missing and not override:
        raise Conflict(
            f"Prerequisites not held: {', '.join(missing)}. Send override: true to award anyway.",
            missing_levels=missing,
        )
    valid_until = rule.valid_for.add_to(now) if rule.valid_for else None
    award = Award(level_id, rule.version, now, valid_until, evidence=())
    note = reason + (" (prerequisites overridden: " + ", ".join(missing) + ")" if missing else "")
    return issue(
        session, issuer, compiled, learner, award, previous=live, actor=actor, manual_reason=note
    )
