"""The webhooks' queries: subscriptions, deliveries and their attempts, the relay's reads of the
audit chain and its cursor, and the scanner's searches for time-based events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, insert, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select, update

from service.models import (
    AuditEvent,
    Credential,
    Learner,
    LearnerAttributeChange,
    Level,
    LevelVersion,
    Role,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookRelayCursor,
    WebhookSubscription,
)

_PG_SCAN_LOCK = 0x43524544_5343414E

# subscriptions and deliveries


def subscription(session: Session, webhook_id: str, *, fresh: bool) -> WebhookSubscription | None:
    """One subscription (deleted ones too); ``fresh`` reads it as committed now."""
    return session.get(WebhookSubscription, webhook_id, populate_existing=fresh)


def live_subscriptions(
    session: Session, *, after: str | None, limit: int
) -> list[WebhookSubscription]:
    """Subscriptions not deleted, by id, after ``after``."""
    query = select(WebhookSubscription).where(col(WebhookSubscription.deleted_at).is_(None))
    if after is not None:
        query = query.where(col(WebhookSubscription.id) > after)
    return list(session.exec(query.order_by(col(WebhookSubscription.id)).limit(limit)))


def active_subscriptions(session: Session) -> list[WebhookSubscription]:
    """Subscriptions enabled and not deleted: those that receive new events."""
    query = select(WebhookSubscription).where(
        col(WebhookSubscription.enabled).is_(True), col(WebhookSubscription.deleted_at).is_(None)
    )
    return list(session.exec(query))


def cancel_pending(session: Session, webhook_id: str, *, now: datetime) -> None:
    """Cancel the subscription's deliveries not yet made."""
    session.execute(
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.subscription_id) == webhook_id,
            col(WebhookDelivery.status) == "pending",
        )
        .values(status="cancelled", completed_at=now, lease_token=None, lease_until=None)
    )


def deliveries(
    session: Session, webhook_id: str, *, status: str | None, before: int | None, limit: int
) -> list[tuple[WebhookDelivery, str]]:
    """The subscription's deliveries with their event's type, newest first."""
    query = (
        select(WebhookDelivery, WebhookEvent.type)
        .join(WebhookEvent, col(WebhookEvent.id) == WebhookDelivery.event_id)
        .where(WebhookDelivery.subscription_id == webhook_id)
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if before is not None:
        query = query.where(col(WebhookDelivery.id) < before)
    return list(session.exec(query.order_by(col(WebhookDelivery.id).desc()).limit(limit)))


def attempts(session: Session, delivery_ids: Sequence[int]) -> list[WebhookAttempt]:
    """The attempts of these deliveries, oldest first."""
    if not delivery_ids:
        return []
    query = (
        select(WebhookAttempt)
        .where(col(WebhookAttempt.delivery_id).in_(list(delivery_ids)))
        .order_by(col(WebhookAttempt.id))
    )
    return list(session.exec(query))


def delivery_for_update(session: Session, delivery_id: int) -> WebhookDelivery | None:
    """One delivery, locked until commit (PostgreSQL)."""
    return session.get(WebhookDelivery, delivery_id, with_for_update=True)


def insert_events(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    session.execute(insert(WebhookEvent.__table__), list(rows))  # type: ignore[attr-defined]


def insert_deliveries(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    session.execute(insert(WebhookDelivery.__table__), list(rows))  # type: ignore[attr-defined]


# the relay


def audit_events_after(session: Session, seq: int, *, limit: int) -> list[AuditEvent]:
    query = select(AuditEvent).where(col(AuditEvent.seq) > seq).order_by(col(AuditEvent.seq))
    return list(session.exec(query.limit(limit)))


def locked_cursor(session: Session) -> WebhookRelayCursor:
    """The relay cursor, locked until commit (one relay at a time). Recreated at 0 if missing
    (harmless: subscriptions only receive events after their own creation)."""
    query = select(WebhookRelayCursor).where(WebhookRelayCursor.id == 1).with_for_update()
    cursor = session.exec(query).first()
    if cursor is None:
        table = WebhookRelayCursor.__table__  # type: ignore[attr-defined]
        dialect = session.get_bind().dialect.name
        make = pg_insert if dialect == "postgresql" else sqlite_insert
        session.execute(make(table).values(id=1, last_seq=0).on_conflict_do_nothing())
        cursor = session.exec(query).one()
    return cursor


def valid_until(session: Session, credential_ids: Sequence[str]) -> dict[str, datetime | None]:
    """Each credential's ``valid_until``, by id."""
    if not credential_ids:
        return {}
    query = select(Credential.id, Credential.valid_until).where(
        col(Credential.id).in_(list(credential_ids))
    )
    return dict(session.exec(query).all())


# the scanner


def try_scan_lock(session: Session) -> bool:
    """Take the scanner's lock until commit, if no other scanner holds it (PostgreSQL; on
    SQLite the transaction's write lock serialises scanners)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    locked = session.execute(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _PG_SCAN_LOCK}
    ).scalar()
    return bool(locked)


def _not_emitted(event_type: str, threshold: str):  # type: ignore[no-untyped-def]
    event = WebhookEvent.__table__  # type: ignore[attr-defined]
    credential = Credential.__table__  # type: ignore[attr-defined]
    condition = and_(
        event.c.type == event_type,
        event.c.subject == credential.c.id,
        event.c.threshold == threshold,
    )
    return ~exists().where(condition)


def live_expiring(
    session: Session, *, after: datetime, until: datetime, event_type: str, threshold: str
) -> list[Credential]:
    """Active, not superseded credentials with ``after < valid_until <= until`` and no
    ``event_type`` event yet at ``threshold``."""
    query = select(Credential).where(
        Credential.status == "active",
        col(Credential.superseded_by).is_(None),
        col(Credential.valid_until) > after,
        col(Credential.valid_until) <= until,
        _not_emitted(event_type, threshold),
    )
    return list(session.exec(query))


def lately_expired(
    session: Session, *, after: datetime, until: datetime, event_type: str, threshold: str
) -> list[Credential]:
    """Active or suspended, not superseded credentials with ``after < valid_until <= until``
    and no ``event_type`` event yet at ``threshold``."""
    query = select(Credential).where(
        col(Credential.status).in_(("active", "suspended")),
        col(Credential.superseded_by).is_(None),
        col(Credential.valid_until) <= until,
        col(Credential.valid_until) > after,
        _not_emitted(event_type, threshold),
    )
    return list(session.exec(query))


def current_roles(session: Session) -> list[Role]:
    return list(session.exec(select(Role).where(col(Role.archived_at).is_(None))))


def attribute_changes(
    session: Session, name: str, values: Sequence[str]
) -> list[LearnerAttributeChange]:
    """Every change of attribute ``name`` to one of ``values``, oldest first."""
    query = (
        select(LearnerAttributeChange)
        .where(
            LearnerAttributeChange.name == name,
            col(LearnerAttributeChange.value).in_(list(values)),
        )
        .order_by(col(LearnerAttributeChange.changed_at))
    )
    return list(session.exec(query))


def learners(session: Session, learner_ids: Sequence[str]) -> list[Learner]:
    return list(session.exec(select(Learner).where(col(Learner.id).in_(list(learner_ids)))))


def emitted(session: Session, event_type: str) -> set[tuple[str, str | None]]:
    """(subject, threshold) of every event of ``event_type`` emitted so far."""
    query = select(WebhookEvent).where(WebhookEvent.type == event_type)
    return {(row.subject, row.threshold) for row in session.exec(query)}


def prerequisite_graph(session: Session) -> dict[str, tuple[str, ...]]:
    """Each level's effective prerequisites, from its current version (as the compiled catalog
    has them)."""
    query = select(Level.id, LevelVersion.prerequisites).join(
        LevelVersion,
        (LevelVersion.level_id == Level.id) & (LevelVersion.version == Level.version),  # type: ignore[arg-type]
    )
    return {level_id: tuple(prerequisites) for level_id, prerequisites in session.exec(query)}


def active_levels(session: Session, learner_ids: list[str], now: datetime) -> set[tuple[str, str]]:
    """(learner, level) of the credentials *active* at ``now`` (:mod:`service.core.held`: not
    revoked, suspended or superseded, within their validity); whether the level is *held* also
    asks its prerequisites (:func:`service.core.held.requisites`)."""
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
