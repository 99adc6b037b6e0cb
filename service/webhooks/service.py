"""Subscriptions and their deliveries (the caller's transaction: flush only)."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from sqlmodel import Session

from service.audit.service import lock_chain, record
from service.db import utcnow
from service.errors import Conflict, InvalidInput, NotFound
from service.models import (
    WebhookDelivery,
    WebhookSubscription,
)
from service.webhooks import repository, signing
from service.webhooks.safety import BlockedDestination, OutboundGuard
from service.webhooks.schemas import (
    AttemptPublic,
    DeliveryPublic,
    WebhookCreate,
    WebhookUpdate,
)
from service.webhooks.settings import WebhookSettings


class UnsafeWebhookUrl(InvalidInput):
    type = "unsafe-webhook-url"
    title = "Webhooks may not be sent to this URL"


def check_url(guard: OutboundGuard, url: str) -> None:
    try:
        host, port = guard.check_url(url)
        guard.resolve(host, port)
    except BlockedDestination as exc:
        raise UnsafeWebhookUrl(f"{url}: {exc}", field="url") from exc


def _audit_url(url: str) -> str:
    """The URL without query or fragment (receivers put tokens there; the log is exported)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def get(session: Session, webhook_id: str, *, for_change: bool = False) -> WebhookSubscription:
    """A live subscription; ``for_change`` reads it under the chain's append lock as the last
    committed writer left it (of two deletes at once, one deletes and the other gets a 404)."""
    if for_change:
        lock_chain(session)
    row = repository.subscription(session, webhook_id, fresh=for_change)
    if row is None or row.deleted_at is not None:
        raise NotFound(f"No webhook {webhook_id!r}.")
    return row


def create(
    session: Session, body: WebhookCreate, *, kek: bytes, guard: OutboundGuard, actor: str
) -> tuple[WebhookSubscription, str]:
    """A new subscription and its signing secret (returned once, stored encrypted)."""
    check_url(guard, body.url)
    now = utcnow()
    webhook_id = "wh_" + secrets.token_hex(12)
    secret = signing.new_secret()
    events: list[str] = list(dict.fromkeys(body.events))
    start_seq = record(
        session,
        actor=actor,
        action="webhook.created",
        subject=f"webhook:{webhook_id}",
        data={
            "url": _audit_url(body.url),
            "events": events,
            "include_jwt": body.include_jwt,
            "include_data_integrity": body.include_data_integrity,
        },
    )
    row = WebhookSubscription(
        id=webhook_id,
        url=body.url,
        events=events,
        description=body.description,
        include_jwt=body.include_jwt,
        include_data_integrity=body.include_data_integrity,
        enabled=True,
        secret_ciphertext=signing.encrypt_secret(secret, kek, webhook_id),
        start_seq=start_seq,
        created_at=now,
        updated_at=now,
    )
    repository.save(session, row)
    return row, secret


def list_subscriptions(
    session: Session, *, after: str | None, limit: int
) -> list[WebhookSubscription]:
    return repository.live_subscriptions(session, after=after, limit=limit)


def update_subscription(
    session: Session, webhook_id: str, body: WebhookUpdate, *, guard: OutboundGuard, actor: str
) -> WebhookSubscription:
    row = get(session, webhook_id, for_change=True)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("url") is not None:
        check_url(guard, changes["url"])
    for field in ("url", "events", "include_jwt", "include_data_integrity", "enabled"):
        if changes.get(field) is None:
            changes.pop(field, None)
    if "events" in changes:
        changes["events"] = list(dict.fromkeys(changes["events"]))
    changed = {k: v for k, v in changes.items() if getattr(row, k) != v}
    if not changed:
        return row
    for field, value in changed.items():
        setattr(row, field, value)
    row.updated_at = utcnow()
    repository.save(session, row)
    audited = {k: (_audit_url(v) if k == "url" else v) for k, v in changed.items()}
    record(
        session,
        actor=actor,
        action="webhook.updated",
        subject=f"webhook:{webhook_id}",
        data={"changes": audited},
    )
    return row


def delete(session: Session, webhook_id: str, *, actor: str) -> None:
    """Delete a subscription (its delivery history stays; pending deliveries are cancelled)."""
    row = get(session, webhook_id, for_change=True)
    now = utcnow()
    row.deleted_at = now
    row.enabled = False
    row.updated_at = now
    repository.save(session, row)
    repository.cancel_pending(session, webhook_id, now=now)
    record(session, actor=actor, action="webhook.deleted", subject=f"webhook:{webhook_id}")


def list_deliveries(
    session: Session,
    webhook_id: str,
    *,
    status: str | None,
    before: int | None,
    limit: int,
) -> list[DeliveryPublic]:
    """Newest first, each with its attempts."""
    get(session, webhook_id)
    rows = repository.deliveries(session, webhook_id, status=status, before=before, limit=limit)
    attempts: dict[int, list[AttemptPublic]] = {}
    ids = [delivery.id for delivery, _ in rows if delivery.id is not None]
    for attempt in repository.attempts(session, ids):
        attempts.setdefault(attempt.delivery_id, []).append(
            AttemptPublic.model_validate(attempt, from_attributes=True)
        )
    return [
        _public(delivery, event_type, attempts.get(delivery.id or 0, []))
        for delivery, event_type in rows
    ]


def _public(delivery: WebhookDelivery, event_type: str, log: list[AttemptPublic]) -> DeliveryPublic:
    assert delivery.id is not None
    return DeliveryPublic(
        id=delivery.id,
        event_id=delivery.event_id,
        event_type=event_type,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at if delivery.status == "pending" else None,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        completed_at=delivery.completed_at,
        attempt_log=log,
    )


def retry(
    session: Session, webhook_id: str, delivery_id: int, config: WebhookSettings, *, actor: str
) -> DeliveryPublic:
    """Queue a delivery to be sent again now, with a fresh retry horizon (same webhook-id)."""
    get(session, webhook_id)
    delivery = repository.delivery_for_update(session, delivery_id)
    if delivery is None or delivery.subscription_id != webhook_id:
        raise NotFound(f"No delivery {delivery_id} for webhook {webhook_id!r}.")
    now = utcnow()
    if (
        delivery.status == "pending"
        and delivery.lease_until is not None
        and delivery.lease_until > now
    ):
        raise Conflict("The delivery is being sent right now.", delivery_id=delivery_id)
    delivery.status = "pending"
    delivery.next_attempt_at = now
    delivery.deadline_at = now + config.horizon
    delivery.completed_at = None
    repository.save(session, delivery)
    record(
        session,
        actor=actor,
        action="webhook.delivery_retried",
        subject=f"webhook:{webhook_id}",
        data={"delivery": delivery_id, "event": delivery.event_id},
    )
    (public,) = [
        d
        for d in list_deliveries(session, webhook_id, status=None, before=delivery_id + 1, limit=1)
        if d.id == delivery_id
    ]
    return public
