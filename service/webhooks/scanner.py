"""Time-based events: credentials crossing an expiry threshold or expiring, and role mandates
falling overdue. Each is emitted exactly once per subject and threshold: one scanner at a time
holds the scan lock (PostgreSQL advisory lock; SQLite's write lock), already-emitted events are
filtered out, and a unique constraint backs both. Time is passed in (``now``), never read.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlmodel import Session

from service.core.durations import Duration, DurationError
from service.core.held import requisites
from service.models import (
    Credential,
    WebhookSubscription,
)
from service.webhooks import events, repository
from service.webhooks.outbox import NewEvent, add_events
from service.webhooks.settings import WebhookSettings

ROLE_ATTRIBUTE = "role"


def scan(session: Session, config: WebhookSettings, *, now: datetime) -> int:
    """Emit the time-based events due at ``now``; returns how many (0 if another scanner
    holds the lock)."""
    if not repository.try_scan_lock(session):
        return 0
    subscriptions = repository.active_subscriptions(session)

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
        found = repository.live_expiring(
            session,
            after=now + timedelta(days=smaller),
            until=now + timedelta(days=days),
            event_type=events.EXPIRING,
            threshold=str(days),
        )
        for row in found:
            assert row.valid_until is not None
            left = (row.valid_until - now).days
            data = _credential_data(row) | {"threshold_days": days, "days_left": left}
            yield events.EXPIRING, row.id, str(days), data


def _expired(session: Session, config: WebhookSettings, now: datetime) -> Iterator[_Found]:
    found = repository.lately_expired(
        session,
        after=now - config.expired_lookback,
        until=now,
        event_type=events.EXPIRED,
        threshold="expired",
    )
    for row in found:
        yield events.EXPIRED, row.id, "expired", _credential_data(row)


def _overdue(session: Session, now: datetime) -> Iterator[_Found]:
    """Learners holding a role past its mandate's deadline without the level. The threshold is
    the deadline, so a later reassignment of the role can be overdue again."""
    roles = {role.id: role for role in repository.current_roles(session) if role.mandatory}
    if not roles:
        return
    changes = repository.attribute_changes(session, ROLE_ATTRIBUTE, list(roles))
    since: dict[tuple[str, str], datetime] = {}
    for change in changes:
        assert change.value is not None
        since[(change.learner_id, change.value)] = change.changed_at  # the latest wins
    learner_ids = sorted({learner for learner, _ in since})
    current = {
        row.id: row.attributes.get(ROLE_ATTRIBUTE)
        for row in repository.learners(session, learner_ids)
    }
    active = repository.active_levels(session, learner_ids, now)
    graph = repository.prerequisite_graph(session)
    emitted = repository.emitted(session, events.MANDATE_OVERDUE)
    for (learner_id, role_id), role_since in sorted(since.items()):
        if current.get(learner_id) != role_id:
            continue
        for mandate in roles[role_id].mandatory:
            level, within = mandate.get("level"), mandate.get("within")
            try:
                due = Duration.parse(str(within)).add_to(role_since)
            except DurationError:
                continue
            if due > now or all(  # held, as everywhere: prerequisites included
                (learner_id, needed) in active for needed in requisites((str(level),), graph)
            ):
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
