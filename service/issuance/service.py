"""Credentials over their life: evaluate a learner and issue what they earned (through the one
write path, :func:`service.issuance.issuing.issue_many`), award by hand, change status (flipping
status-list bits in the same transaction), and read progress; all inside the caller's
transaction (flush only)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from credentials import new_urn_uuid
from credentials.jws import parse_compact
from credentials.lint import OB_CONTEXT, VCDM2_CONTEXT
from service.audit.service import lock_chain, lock_learners, record, record_many
from service.core.held import holds
from service.db import utcnow
from service.errors import Conflict, InvalidInput, NotFound, ServiceError
from service.issuance import repository
from service.issuance.badges import badge_png, badge_svg, bake_png, bake_svg
from service.issuance.certificate import CertificateView, render_pdf
from service.issuance.compiled import LevelInfo
from service.issuance.context import Issuer
from service.issuance.engine import evaluate_to_fixpoint, progress
from service.issuance.engine_facts import (
    Award,
    CredentialFact,
    CredentialStatus,
    LevelProgress,
)
from service.issuance.engine_rules import held_timeline
from service.issuance.history import CredentialHistory, facts_at, status_times
from service.issuance.issuing import (
    IssuedRow,
    PendingCredential,
    achievement,
    issue_many,
    issued_event,
    pending_from_awards,
)
from service.issuance.page import PageView, day, linkedin_add_url
from service.issuance.repository import (
    StatusEvent,
    completion_facts,
    credential_rows,
    status_events,
)
from service.keys.service import KeyRing
from service.learners import service as learners
from service.learners.service import subject_id
from service.models import Credential, CredentialStatusEvent, Learner
from service.settings import Settings
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
) -> list[IssuedRow]:
    """Issue every credential the learner has earned by ``at`` (cascading to a fixpoint).

    Reads the learner's facts under the learner's lock (see :func:`lock_learners`): two
    evaluations of one learner at once must not both see "not yet issued"."""
    lock_learners(session, [learner.id])
    at = at or utcnow()
    compiled = issuer.catalog.get(session)
    completions = completion_facts(session, learner.id)
    rows = credential_rows(session, learner.id)
    awards = evaluate_to_fixpoint(
        compiled.rules, completions, [credential_fact(r) for r in rows], at
    )
    if not awards:
        return []
    pending = pending_from_awards(
        compiled,
        awards,
        learner_id=learner.id,
        subject_id=subject_id(learner),
        email=learner.email,
        facts={fact.id: fact for fact in completions},
    )
    now = utcnow()
    issued = issue_many(session, issuer, compiled, pending, actor=actor, now=now)
    record_many(session, [issued_event(p, actor) for p in pending], at=now)
    return issued


def evaluate_level(
    session: Session, issuer: Issuer, level_id: str, *, actor: str
) -> tuple[int, int]:
    """Issue the level (and what it cascades to) to every learner who now qualifies, learner by
    learner (:func:`evaluate_learner`); (learners evaluated, credentials issued)."""
    compiled = issuer.catalog.get(session)
    if level_id not in compiled.rules:
        raise NotFound(f"No active level {level_id!r}.")
    learner_ids = repository.learners_concerned(session, compiled.rules[level_id])
    lock_learners(session, learner_ids)  # all at once (or everyone, if many): never in a cycle
    issued = 0
    for learner_id in learner_ids:
        learner = learners.get(session, learner_id)
        issued += len(evaluate_learner(session, issuer, learner, actor=actor))
    return len(learner_ids), issued


def list_credentials(
    session: Session,
    *,
    learner_id: str | None,
    level: str | None,
    status: str | None,
    expiring_before: datetime | None,
    after: tuple[datetime, str] | None,
    limit: int,
    now: datetime,
) -> list[Credential]:
    """A page of credentials, newest first (:func:`repository.list_credentials`)."""
    return repository.list_credentials(
        session,
        learner_id=learner_id,
        level=level,
        status=status,
        expiring_before=expiring_before,
        after=after,
        limit=limit,
        now=now,
    )


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


def get_credential(session: Session, credential_id: str, *, for_change: bool = False) -> Credential:
    """One credential; ``for_change`` reads it under the chain's append lock, as it stands after
    the last committed writer (a status change decides on what it reads)."""
    if for_change:
        lock_chain(session)
    credential = repository.credential(session, credential_id, fresh=for_change)
    if credential is None:
        raise NotFound(f"No credential {credential_id!r}.")
    return credential


def _level(session: Session, issuer: Issuer, level_id: str) -> LevelInfo:
    level = issuer.catalog.get(session).levels.get(level_id)
    if level is None:
        raise NotFound(f"No level {level_id!r}.")
    return level


def public_achievement(session: Session, issuer: Issuer, level_id: str) -> dict[str, Any]:
    """The level as a standalone OB 3.0 Achievement (what its credentials' ``achievement.id``
    serves), in its current version."""
    level = _level(session, issuer, level_id)
    built = achievement(issuer.settings, level, level.version).to_json()
    return {"@context": [VCDM2_CONTEXT, OB_CONTEXT], **built}


def badge_image(session: Session, issuer: Issuer, level_id: str) -> str:
    level = _level(session, issuer, level_id)
    return badge_svg(level.name, level.rank, level.track)


def baked_badge(
    session: Session, issuer: Issuer, keyring: KeyRing, credential: Credential, form: str
) -> str:
    """The level's badge (the drawn SVG) with the credential baked in, as its VC-JWT
    (``form`` ``jwt``) or its Data Integrity form (``di``)."""
    svg = badge_image(session, issuer, credential.level_id)
    if form == "di":
        document = json.dumps(data_integrity_form(session, keyring, credential))
        return bake_svg(svg, document=document)
    return bake_svg(svg, jwt=credential.jwt)


def baked_png(
    session: Session, issuer: Issuer, keyring: KeyRing, credential: Credential, form: str
) -> bytes:
    """The level's badge drawn as PNG with the credential baked in (an ``iTXt`` chunk), as its
    VC-JWT (``form`` ``jwt``) or its Data Integrity form (``di``)."""
    level = _level(session, issuer, credential.level_id)
    png = badge_png(level.name, level.rank, level.track)
    if form == "di":
        return bake_png(png, json.dumps(data_integrity_form(session, keyring, credential)))
    return bake_png(png, credential.jwt)


def certificate(
    session: Session, issuer: Issuer, credential: Credential, *, paper: str, public: bool
) -> bytes:
    """The credential's printable certificate (PDF); from the public page (``public``) the
    earner is named only when the deployment publishes names."""
    settings = issuer.settings
    level = _level(session, issuer, credential.level_id)
    learner = learners.get(session, credential.learner_id)
    earner = (
        "a learner"
        if public and not _name_public(settings, learner)
        else learner.name or learner.id
    )
    view = CertificateView(
        earner=earner,
        level=level.name,
        issuer=settings.issuer_name,
        awarded=credential.issued_at,
        valid_until=credential.valid_until,
        criteria=[
            line.strip().removeprefix("- ").replace("**", "")
            for line in level.criteria.splitlines()
            if line.strip()
        ],
        credential_id=credential.id,
        page_url=settings.base_url + page_path(credential.id),
    )
    return render_pdf(view, paper)


def _name_public(settings: Settings, learner: Learner) -> bool:
    """Whether public pages and certificates name the learner: their own choice, else the
    deployment's default."""
    chosen = learner.public_profile
    return bool(learner.name) and (settings.public_names if chosen is None else chosen)


class Gone(ServiceError):
    status = 410
    type = "gone"
    title = "No longer available"


def page_path(credential_id: str) -> str:
    """The public page of a credential (``urn:uuid:<u>`` → ``/credentials/<u>``)."""
    return "/credentials/" + credential_id.removeprefix("urn:uuid:")


def public_credential(session: Session, uuid: str) -> Credential:
    """A credential by the uuid of its public URL; a revoked one is gone (410)."""
    credential = get_credential(session, f"urn:uuid:{uuid}")
    if credential.status == "revoked":
        raise Gone("This credential was revoked.")
    return credential


def page_view(
    session: Session, issuer: Issuer, credential: Credential, verdict: dict[str, Any]
) -> PageView:
    """What the public page says: live status in words, the facts, the checks just run."""
    settings = issuer.settings
    level = _level(session, issuer, credential.level_id)
    now = utcnow()
    base = settings.base_url + page_path(credential.id)
    revoked = credential.status == "revoked"
    if revoked:
        status, words = (
            "bad",
            f"This credential was revoked on {day(credential.status_changed_at)}.",
        )
    elif credential.superseded_by:
        status, words = "note", "This credential was renewed: a newer one replaces it."
    elif credential.status == "suspended":
        status, words = "bad", f"Suspended since {day(credential.status_changed_at)}."
    elif credential.valid_until is not None and credential.valid_until <= now:
        status, words = "bad", f"Expired on {day(credential.valid_until)}."
    else:
        status, words = "good", "Active: genuine and in force."
    learner = learners.get(session, credential.learner_id)
    downloads = [("the VC-JWT", f"{base}/credential.jwt")]
    if "di" in settings.credential_formats:
        downloads.append(("the Data Integrity credential", f"{base}/credential.json"))
    downloads.append(("the badge with the credential baked in (SVG)", f"{base}/badge.svg"))
    downloads.append(("(PNG)", f"{base}/badge.png"))
    downloads.append(("the certificate (PDF, A4", f"{base}/certificate.pdf"))
    downloads.append(("US Letter)", f"{base}/certificate.pdf?paper=letter"))
    return PageView(
        url=base,
        level=level.name,
        track=level.track,
        issuer=settings.issuer_name,
        earner=learner.name if _name_public(settings, learner) else None,
        awarded=credential.issued_at,
        valid_until=credential.valid_until,
        criteria=level.criteria,
        status=status,
        status_words=words,
        image=f"{settings.base_url}/achievements/{level.track}/{level.slug}/image.svg",
        downloads=tuple(downloads),
        checks=tuple((c["check"], c["status"]) for c in verdict["checks"]),
        revoked=revoked,
        linkedin=linkedin_url(settings, level.name, credential) if status == "good" else None,
    )


def linkedin_url(settings: Settings, level_name: str, credential: Credential) -> str:
    return linkedin_add_url(
        name=level_name,
        organization=settings.issuer_name,
        issued=credential.issued_at,
        valid_until=credential.valid_until,
        page_url=settings.base_url + page_path(credential.id),
        credential_id=credential.id,
    )


def payload_of(jwt: str) -> dict[str, Any]:
    """The payload of a VC-JWT this service signed and stored (not verified again)."""
    return parse_compact(jwt, len(jwt)).payload


def data_integrity_form(
    session: Session, keyring: KeyRing, credential: Credential
) -> dict[str, Any]:
    """The credential as JSON-LD secured with an ``eddsa-rdfc-2022`` Data Integrity proof: the
    same credential its VC-JWT carries, signed on request (:meth:`KeyRing.data_integrity`)."""
    return keyring.data_integrity(session, credential.jwt)


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
    event = CredentialStatusEvent(
        credential_id=credential.id, status=new_status, at=now, reason=reason, actor=actor
    )
    repository.save_status_change(session, credential, event)
    if action == "revoke":
        status_lists.set_bit(session, credential.id, "revocation", True)
    else:
        status_lists.set_bit(session, credential.id, "suspension", action == "suspend")
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
    """Award a level by hand; prerequisites must be *held* (:mod:`service.core.held`: with
    their own prerequisites) unless ``override`` (audit-logged).

    Refused (409) while the learner's credential for the level is in force
    (:meth:`~service.issuance.engine_facts.CredentialFact.in_force_at`: awarding it again would
    duplicate it, even when a lapsed prerequisite keeps it from counting) or suspended; an
    expired credential is superseded by the award. Decided under the learner's lock, so of
    many identical awards at once exactly one succeeds."""
    lock_learners(session, [learner.id])
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
    pending = PendingCredential(
        id=new_urn_uuid(),
        learner_id=learner.id,
        subject_id=subject_id(learner),
        award=award,
        previous_id=live.id if live is not None else None,
        evidence=[],
        manual_reason=note,
        recipient_email=learner.email,
    )
    issued_at = utcnow()
    issue_many(session, issuer, compiled, [pending], actor=actor, now=issued_at)
    record_many(session, [issued_event(pending, actor)], at=issued_at)
    return get_credential(session, pending.id)
