"""Issuing credentials: the one write path. Awards decided by the engine (or by hand) become
:class:`PendingCredential`\\ s; :func:`issue_many` stores, slots, builds, lints, signs and
stores them as signed with multi-row statements, inside the caller's transaction (flushes).
The caller appends their audit events (:func:`issued_event`), in its own order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from credentials import (
    Achievement,
    Evidence,
    IdentityObject,
    build_credential,
    new_urn_uuid,
    sign_credential,
)
from service.audit.service import EventSpec
from service.issuance import repository
from service.issuance.compiled import CompiledCatalog, LevelInfo
from service.issuance.context import Issuer
from service.issuance.engine_facts import Award, CompletionFact
from service.keys.service import issuer_profile
from service.settings import Settings
from service.status import service as status_lists


@dataclass(frozen=True, slots=True)
class IssuedRow:
    """A credential as :func:`issue_many` stored it (the columns the API shows)."""

    id: str
    level_id: str
    valid_from: datetime
    valid_until: datetime | None
    renewal: bool


@dataclass(frozen=True)
class PendingCredential:
    """An award decided in memory, to be stored, signed and slotted. ``previous_id`` is the
    credential it supersedes (stored, or pending in the same call); ``manual_reason`` marks an
    award by hand."""

    id: str
    learner_id: str
    subject_id: str
    award: Award
    previous_id: str | None
    evidence: list[Evidence]
    manual_reason: str | None = None
    recipient_email: str | None = None  # hashed into credentialSubject.identifier


def achievement_url(settings: Settings, level: LevelInfo) -> str:
    return f"{settings.base_url}/achievements/{level.track}/{level.slug}"


def achievement(settings: Settings, level: LevelInfo, version: int) -> Achievement:
    """The level as an Open Badges Achievement; its id is the level's public URL (which serves
    this Achievement), with the level's badge image beside it."""
    url = achievement_url(settings, level)
    return Achievement(
        id=url,
        image_id=level.image or f"{url}/image.svg",
        name=level.name,
        description=level.description,
        criteria_narrative=level.criteria,
        version=str(version),
        tags=(level.track,),
    )


def recipient_identifiers(email: str | None) -> list[IdentityObject]:
    """The learner's email as an OB ``IdentityObject``: SHA-256 of the lower-cased address and
    a random salt, so a verifier told the address can confirm it and nobody else learns it."""
    if not email:
        return []
    return [IdentityObject.hashed_value(email.strip().lower())]


def evidence_from_facts(
    compiled: CompiledCatalog, facts: Mapping[str, CompletionFact], ids: Sequence[str]
) -> list[Evidence]:
    """The completions ``ids`` (in that order) as the credential's evidence."""
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


def pending_from_awards(
    compiled: CompiledCatalog,
    awards: Sequence[Award],
    *,
    learner_id: str,
    subject_id: str,
    email: str | None,
    facts: Mapping[str, CompletionFact],
) -> list[PendingCredential]:
    """One evaluation's awards as credentials to issue, in order: each gets its id, and a
    ``supersedes`` naming an award of the same evaluation (the engine's ``pending:<n>``) is
    resolved to that award's id."""
    pending: list[PendingCredential] = []
    real_ids: dict[str, str] = {}
    for n, award in enumerate(awards):
        previous = award.supersedes
        if previous is not None:
            previous = real_ids.get(previous, previous)
        credential_id = real_ids[f"pending:{n}"] = new_urn_uuid()
        pending.append(
            PendingCredential(
                id=credential_id,
                learner_id=learner_id,
                subject_id=subject_id,
                award=award,
                previous_id=previous,
                evidence=evidence_from_facts(compiled, facts, award.evidence),
                recipient_email=email,
            )
        )
    return pending


def issue_many(
    session: Session,
    issuer: Issuer,
    compiled: CompiledCatalog,
    pending: Sequence[PendingCredential],
    *,
    actor: str,
    now: datetime,
) -> list[IssuedRow]:
    """Slot, build, lint, sign and store every pending credential (flushes).

    A superseded credential is marked first (the live-credential index admits one per learner
    and level at a time; one superseded within the same call is inserted already marked). Each
    credential gets its status-list slots before it is built, its first status event
    (``active``) after it is signed. The caller appends the ``credential.issued`` /
    ``credential.renewed`` audit events (:func:`issued_event`)."""
    if not pending:
        return []
    settings = issuer.settings
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
            "manual": p.manual_reason is not None,
            "evidence": list(p.award.evidence),
        }
        for p in pending
    ]
    in_call = {row["id"]: row for row in rows}
    superseded: dict[str, str] = {}
    for p in pending:
        if p.previous_id in in_call:
            in_call[p.previous_id] |= {"superseded_by": p.id, "superseded_at": now}
        elif p.previous_id:
            superseded[p.previous_id] = p.id
    repository.supersede(session, superseded, at=now)
    # The slots first (their reference to the credential is checked at commit), so that each
    # credential is inserted once, signed.
    claimed = status_lists.claim_many(session, settings, [p.id for p in pending])
    entries = claimed.entries
    signer = issuer.keyring.active_signer(session)
    profile = issuer_profile(settings)
    achievements: dict[tuple[str, int], Achievement] = {}
    for p, row in zip(pending, rows, strict=True):
        award = p.award
        level = compiled.levels[award.level_id]
        key = (level.id, award.version)
        if key not in achievements:
            achievements[key] = achievement(settings, level, award.version)
        doc = build_credential(
            issuer=profile,
            achievement=achievements[key],
            subject_id=p.subject_id,
            identifiers=recipient_identifiers(p.recipient_email),
            evidence=p.evidence,
            valid_from=award.earned_at,
            valid_until=award.valid_until,
            awarded_date=award.earned_at,
            status=[
                e
                for e in entries[p.id]
                if e.purpose == "revocation" or settings.suspension_status_entry
            ],
            credential_id=p.id,
            name=level.name,
        )
        row["jwt"] = sign_credential(doc, signer, now=now)
        row["kid"] = signer.public_jwk["kid"]
    repository.insert_credentials(session, rows)
    repository.insert_status_events(
        session,
        [
            {
                "credential_id": p.id,
                "status": "active",
                "at": now,
                "reason": p.manual_reason,
                "actor": actor,
            }
            for p in pending
        ],
    )
    claimed.count(session)  # last: it locks the lists' rows, shared by every issuer, to commit
    return [
        IssuedRow(r["id"], r["level_id"], r["valid_from"], r["valid_until"], r["renewal"])
        for r in rows
    ]


def issued_event(credential: PendingCredential, actor: str) -> EventSpec:
    """The ``credential.issued`` (or ``.renewed``) audit event of a pending credential."""
    award = credential.award
    manual = credential.manual_reason
    return EventSpec(
        actor=actor,
        action="credential.renewed" if award.renewal else "credential.issued",
        subject=f"credential:{credential.id}",
        data={
            "learner": credential.learner_id,
            "level": award.level_id,
            "version": award.version,
            "valid_from": award.earned_at.isoformat(),
            "valid_until": award.valid_until.isoformat() if award.valid_until else None,
            "evidence": list(award.evidence),
            "supersedes": credential.previous_id,
            **({"manual": manual} if manual is not None else {}),
        },
    )
