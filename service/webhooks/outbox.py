"""Turning events into deliveries: the relay from the audit chain, and event creation shared
with the scanner. Everything here runs in the caller's transaction (flush only).

The audit event *is* the transactional outbox row for every change: ``record_many`` writes it in
the transaction of the change, with a strictly increasing ``seq`` whose appends are serialised
until commit, so a relay that reads ``seq > cursor`` in order never skips an event that commits
later. The cursor advances in the same transaction that creates the deliveries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from service.models import (
    AuditEvent,
    WebhookSubscription,
)
from service.webhooks import events, repository
from service.webhooks.settings import WebhookSettings


@dataclass
class NewEvent:
    event_id: str
    event_type: str
    subject: str
    data: dict[str, Any]
    occurred_at: datetime
    subscriptions: Sequence[WebhookSubscription]
    threshold: str | None = None
    audit_seq: int | None = None


def add_events(
    session: Session, config: WebhookSettings, new: Sequence[NewEvent], *, now: datetime
) -> None:
    """Store events and a pending delivery of each for each of its subscriptions (two bulk
    inserts, events first for the foreign key)."""
    if not new:
        return
    event_rows = [
        {
            "id": e.event_id,
            "type": e.event_type,
            "subject": e.subject,
            "threshold": e.threshold,
            "audit_seq": e.audit_seq,
            "occurred_at": e.occurred_at,
            "body": events.render(e.event_id, e.event_type, e.occurred_at, e.data),
        }
        for e in new
    ]
    delivery_rows = [
        {
            "subscription_id": s.id,
            "event_id": e.event_id,
            "ordering_key": e.subject,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "deadline_at": now + config.horizon,
            "created_at": now,
        }
        for e in new
        for s in e.subscriptions
    ]
    repository.insert_events(session, event_rows)
    if delivery_rows:
        repository.insert_deliveries(session, delivery_rows)


def relay(session: Session, config: WebhookSettings, *, now: datetime, limit: int = 500) -> int:
    """Turn the next audit events into webhook events and deliveries; returns how many audit
    events were consumed (0 when caught up)."""
    cursor = repository.locked_cursor(session)
    batch = repository.audit_events_after(session, cursor.last_seq, limit=limit)
    if not batch:
        return 0
    subscriptions = repository.active_subscriptions(session)
    if subscriptions:
        _relay_batch(session, config, batch, subscriptions, now)
    cursor.last_seq = batch[-1].seq
    cursor.updated_at = now
    repository.save_cursor(session, cursor)
    return len(batch)


def _relay_batch(
    session: Session,
    config: WebhookSettings,
    batch: list[AuditEvent],
    subscriptions: list[WebhookSubscription],
    now: datetime,
) -> None:
    status_ids = [e.subject.partition(":")[2] for e in batch if e.action in events.STATUS_EVENTS]
    valid_until = {
        cid: events.iso(until) for cid, until in repository.valid_until(session, status_ids).items()
    }
    new = []
    for audit in batch:
        mapped = events.from_audit(audit, valid_until)
        if mapped is None:
            continue
        event_type, subject, data = mapped
        targets = [s for s in subscriptions if event_type in s.events and audit.seq > s.start_seq]
        if targets:
            new.append(
                NewEvent(
                    events.audit_event_id(audit.seq),
                    event_type,
                    subject,
                    data,
                    audit.at,
                    targets,
                    audit_seq=audit.seq,
                )
            )
    add_events(session, config, new, now=now)
