"""Time-based events: credentials crossing an expiry threshold or expiring, and role mandates
falling overdue. Each is emitted exactly once per subject and threshold: one scanner at a time
holds the scan lock (PostgreSQL advisory lock; SQLite's write lock), already-emitted events are
filtered out, and a unique constraint backs both. Time is passed in (``now``), never read.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, text
from sqlmodel import Session, col, select

from service.core.durations import Duration, DurationError
from service.models import (
    Credential,
    Learner,
    LearnerAttributeChange,
    Role,
    WebhookEvent,
    WebhookSubscription,
)
from service.webhooks import events
from service.webhooks.outbox import NewEvent, active_subscriptions, add_events
from service.webhooks.settings import WebhookSettings

_PG_SCAN_LOCK = 0x43524544_5343414E
ROLE_ATTRIBUTE = "role"


def scan(session: Session, config: WebhookSettings, *, now: datetime) -> int:
    """Emit the time-based events due at ``now``; returns how many (0 if another scanner
    holds the lock)."""
    if session.get_bind().dialect.name == "postgresql":
        locked = session.execute(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _PG_SCAN_LOCK}
        ).scalar()
        if not locked:
            return 0
    subscriptions = active_subscriptions(session)

    def subscribed(event_type: str) -> list[WebhookSubscription]:
        return [s for s in subscriptions if event_type in s.events]

    new: list[NewEvent] = []
    for event_type, subject, threshold, data in (
        *_expiring(session, config, now),
        *_expired(session, config, now),
        *_overdue(session, now),
    ):
        key = f"{event_type}:{subject}:{threshold}"
        new.append(
            NewEvent(
                events.event_id(key),
                event_type,
                subject,
                data,
                now,
                subscribed(event_type),
                threshold=threshold,
            )
        )
    add_events(session, config, new, now=now)
    session.flush()
    return len(new)


def _not_emitted(event_type: str, threshold: str | None = None):  # type: ignore[no-untyped-def]
    event = WebhookEvent.__table__  # type: ignore[attr-defined]
    credential = Credential.__table__  # type: ignore[attr-defined]
    condition = and_(event.c.type == event_type, event.c.subject == credential.c.id)
    if threshold is not None:
        condition = and_(condition, event.c.threshold == threshold)
    return ~exists().where(condition)


_Found = tuple[str, str, str, dict[str, object]]


def _credential_data(row: Credential) -> dict[str, object]:
    return {
        "credential": row.id,
        "learner": row.learner_id,
        "level": row.level_id,
        "valid_until": events.iso(row.valid_until),
    }


def _expiring(session: Session, config: WebhookSettings, now: datetime) -> Iterator[_Found]:
    """Credentials whose expiry is within a threshold but not within the next smaller one: a
    scanner that was down past the 30-day mark of a credential with 5 days left sends the
    7-day event only."""
    thresholds = config.expiring_thresholds_days  # descending
    for index, days in enumerate(thresholds):
        smaller = thresholds[index + 1] if index + 1 < len(thresholds) else 0
        query = select(Credential).where(
            Credential.status == "active",
            col(Credential.superseded_by).is_(None),
            col(Credential.valid_until) > now + timedelta(days=smaller),
            col(Credential.valid_until) <= now + timedelta(days=days),
            _not_emitted(events.EXPIRING, str(days)),
        )
        for row in session.exec(query):
            assert row.valid_until is not None
            left = (row.valid_until - now).days
            data = _credential_data(row) | {"threshold_days": days, "days_left": left}
            yield events.EXPIRING, row.id, str(days), data


def _expired(session: Session, config: WebhookSettings, now: datetime) -> Iterator[_Found]:
    query = select(Credential).where(
        col(Credential.status).in_(("active", "suspended")),
        col(Credential.superseded_by).is_(None),
        col(Credential.valid_until) <= now,
        col(Credential.valid_until) > now - config.expired_lookback,
        _not_emitted(events.EXPIRED, "expired"),
    )
    for row in session.exec(query):
        yield events.EXPIRED, row.id, "expired", _credential_data(row)


def _overdue(session: Session, now: datetime) -> Iterator[_Found]:
    """Learners holding a role past its mandate's deadline without the level. The threshold is
    the deadline, so a later reassignment of the role can be overdue again."""
    roles = {
        role.id: role
        for role in session.exec(select(Role).where(col(Role.archived_at).is_(None)))
        if role.mandatory
    }
    if not roles:
        return
    changes = session.exec(
        select(LearnerAttributeChange)
        .where(
            LearnerAttributeChange.name == ROLE_ATTRIBUTE,
            col(LearnerAttributeChange.value).in_(list(roles)),
        )
        .order_by(col(LearnerAttributeChange.changed_at))
    )
    since: dict[tuple[str, str], datetime] = {}
    for change in changes:
        assert change.value is not None
        since[(change.learner_id, change.value)] = change.changed_at  # the latest wins
    learner_ids = sorted({learner for learner, _ in since})
    current = {
        row.id: row.attributes.get(ROLE_ATTRIBUTE)
        for row in session.exec(select(Learner).where(col(Learner.id).in_(learner_ids)))
    }
    held = _held_levels(session, learner_ids, now)
    emitted = {
        (row.subject, row.threshold)
        for row in session.exec(
            select(WebhookEvent).where(WebhookEvent.type == events.MANDATE_OVERDUE)
        )
    }
    for (learner_id, role_id), role_since in sorted(since.items()):
        if current.get(learner_id) != role_id:
            continue
        for mandate in roles[role_id].mandatory:
            level, within = mandate.get("level"), mandate.get("within")
            try:
                due = Duration.parse(str(within)).add_to(role_since)
            except DurationError:
                continue
            if due > now or (learner_id, level) in held:
                continue
            subject = f"{learner_id}|{role_id}|{level}"
            threshold = events.iso(due) or ""
            if (subject, threshold) in emitted:
                continue
            data = {
                "learner": learner_id,
                "role": role_id,
                "level": level,
                "role_since": events.iso(role_since),
                "due_at": threshold,
            }
            yield events.MANDATE_OVERDUE, subject, threshold, data


def _held_levels(session: Session, learner_ids: list[str], now: datetime) -> set[tuple[str, str]]:
    if not learner_ids:
        return set()
    rows = session.exec(
        select(Credential.learner_id, Credential.level_id).where(
            col(Credential.learner_id).in_(learner_ids),
            Credential.status == "active",
            col(Credential.superseded_by).is_(None),
            col(Credential.valid_from) <= now,
            (col(Credential.valid_until).is_(None)) | (col(Credential.valid_until) > now),
        )
    )
    return {(learner, level) for learner, level in rows}
