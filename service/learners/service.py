"""Learners: upsert on first mention, with every attribute change recorded with its time."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from service.audit.service import lock_chain, record
from service.db import utcnow
from service.errors import InvalidInput, NotFound
from service.models import Learner, LearnerAttributeChange

FUTURE_SKEW = timedelta(minutes=5)


def get(session: Session, learner_id: str) -> Learner:
    learner = session.get(Learner, learner_id)
    if learner is None:
        raise NotFound(f"No learner {learner_id!r}.")
    return learner


def subject_id(learner: Learner) -> str:
    """The credentialSubject id: the learner's DID when set, else a stable urn:uuid."""
    return learner.did or f"urn:uuid:{learner.subject_uuid}"


def merge_attributes(
    current: Mapping[str, Any], given: Mapping[str, str | None], *, replace: bool
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The attribute set after an upsert and what changed, by name (``{"from", "to"}``).

    ``replace`` (PUT) makes ``given`` the whole set; otherwise it is merged in (an inline
    mention). A ``None`` value removes the attribute; removals are changes ``to: None``.
    """
    old = dict(current)
    new = {**({} if replace else old), **given}
    new = {k: v for k, v in new.items() if v is not None}
    changed = {
        key: {"from": old.get(key), "to": new.get(key)}
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    }
    return new, changed


def upsert(
    session: Session,
    learner_id: str,
    *,
    actor: str,
    email: str | None = None,
    name: str | None = None,
    did: str | None = None,
    attributes: Mapping[str, str | None] | None = None,
    replace_attributes: bool = True,
    effective_at: datetime | None = None,
    clear: Collection[str] = (),
) -> tuple[Learner, bool]:
    """Create or update ``learner_id``; returns (learner, created). Flushes, never commits.

    Only fields given change; those named in ``clear`` (``email``, ``name``, ``did``) are
    removed. ``attributes`` replaces the whole set when ``replace_attributes`` (PUT), or is
    merged into it (a learner mentioned inline with a completion).
    """
    now = utcnow()
    at = effective_at or now
    if at.tzinfo is None:
        raise InvalidInput("attributes_effective_at needs a time zone (e.g. 2026-03-01T00:00:00Z)")
    if at > now + FUTURE_SKEW:
        raise InvalidInput("attributes_effective_at is in the future")
    # Two first mentions of one learner at once must not both insert: take the audit append
    # lock (held to commit; every change appends an event anyway) before looking.
    lock_chain(session)
    learner = session.get(Learner, learner_id)
    created = learner is None
    if learner is None:
        learner = Learner(
            id=learner_id,
            subject_uuid=str(uuid.uuid4()),
            attributes={},
            created_at=now,
            updated_at=now,
        )
    changes: dict[str, Any] = {}
    for field, value in (("email", email), ("name", name), ("did", did)):
        if value is None and field not in clear:
            continue
        if getattr(learner, field) != value:
            changes[field] = {"from": getattr(learner, field), "to": value}
            setattr(learner, field, value)
    if attributes is not None:
        new, changed = merge_attributes(learner.attributes, attributes, replace=replace_attributes)
        for key, change in changed.items():
            changes[f"attributes.{key}"] = change
            session.add(
                LearnerAttributeChange(
                    learner_id=learner_id, name=key, value=change["to"], changed_at=at
                )
            )
        learner.attributes = new
    if not created and not changes:
        return learner, False
    learner.updated_at = now
    if not created:
        learner.revision += 1
    session.add(learner)
    session.flush()
    record(
        session,
        actor=actor,
        action="learner.created" if created else "learner.updated",
        subject=f"learner:{learner_id}",
        data={"changes": changes},
    )
    return learner, created


def attribute_history(session: Session, learner_id: str) -> list[LearnerAttributeChange]:
    """The learner's attribute changes in ``(changed_at, id)`` order (see :func:`attributes_at`)."""
    query = (
        select(LearnerAttributeChange)
        .where(LearnerAttributeChange.learner_id == learner_id)
        .order_by(col(LearnerAttributeChange.changed_at), col(LearnerAttributeChange.id))
    )
    return list(session.exec(query))


#: One attribute change: ``(changed_at, id, name, value)``; ``value`` ``None`` removes it.
AttributeChangeTuple = tuple[datetime, int, str, str | None]


def attributes_at(history: Iterable[AttributeChangeTuple], at: datetime) -> dict[str, str]:
    """The learner's attributes as they stood at ``at`` (DESIGN.md §1: attribute history up to
    ``at``), from the changes in ``(changed_at, id)`` order: the latest change at or before
    ``at`` wins (of two at one instant, the later id), a removal drops it. The one definition:
    permission decisions use it; the reports' SQL (:func:`service.reports.repository.value_at`)
    picks the same change."""
    values: dict[str, str | None] = {}
    for changed_at, _, name, value in history:
        if changed_at > at:
            break
        values[name] = value
    return {name: value for name, value in values.items() if value is not None}


def search(
    session: Session, *, filters: Mapping[str, str], after: str, limit: int
) -> list[Learner]:
    query = select(Learner).where(col(Learner.id) > after)
    for name, value in filters.items():
        query = query.where(col(Learner.attributes)[name].as_string() == value)
    return list(session.exec(query.order_by(col(Learner.id)).limit(limit)))
