"""Learners: created on first mention, changed by the one rule in :mod:`service.learners.book`,
with every attribute change recorded with its time."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timedelta

from sqlmodel import Session

from service.audit.service import lock_learners, record_many
from service.db import utcnow
from service.errors import InvalidInput, NotFound
from service.learners import repository
from service.learners.book import LearnerBook
from service.models import Learner, LearnerAttributeChange

FUTURE_SKEW = timedelta(minutes=5)


def get(session: Session, learner_id: str) -> Learner:
    learner = repository.get(session, learner_id)
    if learner is None:
        raise NotFound(f"No learner {learner_id!r}.")
    return learner


def subject_id(learner: Learner) -> str:
    """The credentialSubject id: the learner's DID when set, else a stable urn:uuid."""
    return learner.did or f"urn:uuid:{learner.subject_uuid}"


def put(
    session: Session,
    learner_id: str,
    *,
    actor: str,
    email: str | None = None,
    name: str | None = None,
    did: str | None = None,
    public_profile: bool | None = None,
    attributes: Mapping[str, str | None] | None = None,
    effective_at: datetime | None = None,
    clear: Collection[str] = (),
) -> tuple[Learner, bool]:
    """Create or update ``learner_id`` by the one learner-write rule (:class:`LearnerBook`,
    attributes replaced as a whole); returns (learner, created). Flushes, never commits.

    Attribute changes take effect at ``effective_at`` (default now; not in the future)."""
    now = utcnow()
    at = effective_at or now
    if at.tzinfo is None:
        raise InvalidInput("attributes_effective_at needs a time zone (e.g. 2026-03-01T00:00:00Z)")
    if at > now + FUTURE_SKEW:
        raise InvalidInput("attributes_effective_at is in the future")
    lock_learners(session, [learner_id])  # decide on it as its last committed writer left it
    book = LearnerBook(session, [learner_id])
    event = book.change(
        learner_id,
        email=email,
        name=name,
        did=did,
        public_profile=public_profile,
        attributes=attributes,
        replace_attributes=True,
        clear=clear,
        now=now,
        effective_at=at,
        actor=actor,
    )
    if event is not None:
        book.write(session)
        record_many(session, [event])
    learner = repository.get(session, learner_id, fresh=True)
    assert learner is not None
    return learner, learner_id in book.created


def attribute_history(session: Session, learner_id: str) -> list[LearnerAttributeChange]:
    """The learner's attribute changes in ``(changed_at, id)`` order (see :func:`attributes_at`)."""
    return repository.attribute_history(session, learner_id)


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
    return repository.search(session, filters=filters, after=after, limit=limit)
