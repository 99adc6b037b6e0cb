"""The webhooks' queries: subscriptions, deliveries and their attempts, the relay's reads of the
audit chain and its cursor, and the scanner's searches for time-based events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, exists, func, insert, or_, text
from sqlalchemy import select as sa_select
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
_delivery = WebhookDelivery.__table__  # type: ignore[attr-defined]
_event = WebhookEvent.__table__  # type: ignore[attr-defined]
_subscription = WebhookSubscription.__table__  # type: ignore[attr-defined]
_attempt = WebhookAttempt.__table__  # type: ignore[attr-defined]
_credential = Credential.__table__  # type: ignore[attr-defined]

# subscriptions and deliveries


def subscription(session: Session, webhook_id: str, *, fresh: bool) -> WebhookSubscription | None:
    """One subscription (deleted ones too); ``fresh`` reads it as committed now."""
    return session.get(WebhookSubscription, webhook_id, populate_existing=fresh)


def save(session: Session, row: WebhookSubscription | WebhookDelivery) -> None:
    """Write a new or changed subscription or delivery now (flushed, not committed)."""
    session.add(row)
    session.flush()


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


# the delivery worker's leases and outcomes


def lease_due(
    session: Session, *, token: str, now: datetime, lease_until: datetime, limit: int
) -> list[int]:
    """Lease up to ``limit`` due deliveries to ``token`` until ``lease_until``: each the oldest
    pending one of its (subscription, ordering key) queue, of a live subscription, not leased by
    another worker now (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so claimers pass over each
    other's rows). Their ids, oldest first."""
    # The head of each queue as a grouped minimum: linear in the pending rows whatever the
    # planner believes (an anti-join on "an earlier pending delivery exists" went quadratic
    # on fresh tables without statistics).
    heads = (
        sa_select(func.min(_delivery.c.id))
        .where(_delivery.c.status == "pending")
        .group_by(_delivery.c.subscription_id, _delivery.c.ordering_key)
    )
    query = (
        sa_select(_delivery.c.id)
        .select_from(
            _delivery.join(_subscription, _subscription.c.id == _delivery.c.subscription_id)
        )
        .where(
            _delivery.c.id.in_(heads.scalar_subquery()),
            _delivery.c.status == "pending",
            _delivery.c.next_attempt_at <= now,
            or_(_delivery.c.lease_until.is_(None), _delivery.c.lease_until < now),
            _subscription.c.enabled.is_(True),
            _subscription.c.deleted_at.is_(None),
        )
        .order_by(_delivery.c.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=_delivery)
    ids = list(session.execute(query).scalars())
    if ids:
        session.execute(
            update(_delivery)
            .where(_delivery.c.id.in_(ids))
            .values(lease_until=lease_until, lease_token=token)
        )
    return ids


def leased(session: Session, ids: Sequence[int]) -> list[Any]:
    """What sending each leased delivery needs, oldest first: ``(delivery id, attempts,
    deadline, event id, event type, subject, body, subscription id, url, secret ciphertext,
    include_jwt, include_data_integrity)``."""
    if not ids:
        return []
    query = (
        sa_select(
            _delivery.c.id,
            _delivery.c.attempts,
            _delivery.c.deadline_at,
            _event.c.id,
            _event.c.type,
            _event.c.subject,
            _event.c.body,
            _subscription.c.id,
            _subscription.c.url,
            _subscription.c.secret_ciphertext,
            _subscription.c.include_jwt,
            _subscription.c.include_data_integrity,
        )
        .select_from(
            _delivery.join(_event, _event.c.id == _delivery.c.event_id).join(
                _subscription, _subscription.c.id == _delivery.c.subscription_id
            )
        )
        .where(_delivery.c.id.in_(ids))
        .order_by(_delivery.c.id)
    )
    return list(session.execute(query).all())


def credential_jwts(session: Session, credential_ids: Sequence[str]) -> dict[str, str]:
    if not credential_ids:
        return {}
    query = sa_select(_credential.c.id, _credential.c.jwt)
    rows = session.execute(query.where(_credential.c.id.in_(credential_ids)))
    return {credential_id: jwt for credential_id, jwt in rows}


def insert_attempts(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    session.execute(insert(_attempt), list(rows))


_OURS = (_delivery.c.id == bindparam("b_id"), _delivery.c.lease_token == bindparam("b_token"))


def mark_succeeded(
    session: Session, done: Sequence[tuple[int, str, int | None]], *, now: datetime
) -> None:
    """Each ``(delivery id, lease token, status code)`` succeeded, where the lease is still
    that token's (one statement)."""
    if not done:
        return
    session.execute(
        update(_delivery)
        .where(*_OURS)
        .values(
            status="succeeded",
            attempts=_delivery.c.attempts + 1,
            last_status_code=bindparam("b_code"),
            last_error=None,
            completed_at=now,
            lease_until=None,
            lease_token=None,
        ),
        [{"b_id": i, "b_token": token, "b_code": code} for i, token, code in done],
    )


class Retry(NamedTuple):
    """A failed attempt's consequence: pending again from ``next_attempt_at``, or failed."""

    delivery_id: int
    token: str
    status_code: int | None
    error: str | None
    status: str
    next_attempt_at: datetime
    completed_at: datetime | None


def mark_failed(session: Session, retries: Sequence[Retry]) -> None:
    """Record each failed attempt where the lease is still its token's (one statement)."""
    if not retries:
        return
    session.execute(
        update(_delivery)
        .where(*_OURS)
        .values(
            status=bindparam("b_status"),
            attempts=_delivery.c.attempts + 1,
            last_status_code=bindparam("b_code"),
            last_error=bindparam("b_error"),
            next_attempt_at=bindparam("b_next"),
            completed_at=bindparam("b_completed"),
            lease_until=None,
            lease_token=None,
        ),
        [
            {
                "b_id": r.delivery_id,
                "b_token": r.token,
                "b_code": r.status_code,
                "b_error": r.error,
                "b_status": r.status,
                "b_next": r.next_attempt_at,
                "b_completed": r.completed_at,
            }
            for r in retries
        ],
    )


def save_cursor(session: Session, cursor: WebhookRelayCursor) -> None:
    session.add(cursor)
    session.flush()
