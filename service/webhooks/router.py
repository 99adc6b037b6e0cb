"""Webhook subscriptions and their deliveries (scope ``admin``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response, status

from service.core.pagination import (
    BY_INT64,
    BY_TEXT,
    CursorParam,
    LimitParam,
    Page,
    decode_cursor,
    encode_cursor,
)
from service.deps import AdminDep, SessionDep, SettingsDep
from service.errors import InvalidInput, problem_responses
from service.models import WebhookSubscription
from service.settings import Settings
from service.webhooks import service
from service.webhooks.deps import GuardDep, WebhookSettingsDep
from service.webhooks.schemas import (
    DeliveryPublic,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
    WebhookUpdate,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=problem_responses(401, 403))
WebhookId = Annotated[str, Path(min_length=1, max_length=64)]
DeliveryId = Annotated[int, Path(ge=1, le=2**62)]


def _formats_offered(settings: Settings, data_integrity: bool) -> None:
    if data_integrity and "di" not in settings.credential_formats:
        raise InvalidInput(
            "include_data_integrity needs the Data Integrity form, which this deployment does "
            "not hand out (CREDENCE_CREDENTIAL_FORMATS).",
            errors=[
                {
                    "location": "body.include_data_integrity",
                    "message": "form not offered",
                    "type": "value_error",
                }
            ],
        )


def _public(row: WebhookSubscription) -> WebhookPublic:
    return WebhookPublic.model_validate(row, from_attributes=True)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="createWebhook",
    responses=problem_responses(400, 422),
)
def create_webhook(
    body: WebhookCreate,
    session: SessionDep,
    principal: AdminDep,
    settings: SettingsDep,
    guard: GuardDep,
) -> WebhookCreated:
    """Subscribe a URL to events; the response holds the signing secret, shown only once."""
    _formats_offered(settings, body.include_data_integrity)
    row, secret = service.create(
        session, body, kek=settings.kek_bytes, guard=guard, actor=principal.actor
    )
    return WebhookCreated(**_public(row).model_dump(), secret=secret)


@router.get("", operation_id="listWebhooks", responses=problem_responses(400, 422))
def list_webhooks(
    session: SessionDep, _: AdminDep, cursor: CursorParam = None, limit: LimitParam = 50
) -> Page[WebhookPublic]:
    """Webhook subscriptions, oldest id first."""
    after = decode_cursor(cursor, BY_TEXT)
    rows = service.list_subscriptions(session, after=after, limit=limit)
    next_cursor = encode_cursor(rows[-1].id) if len(rows) == limit else None
    return Page(items=[_public(r) for r in rows], next_cursor=next_cursor)


@router.get("/{webhook_id}", operation_id="getWebhook", responses=problem_responses(404, 422))
def get_webhook(webhook_id: WebhookId, session: SessionDep, _: AdminDep) -> WebhookPublic:
    """One webhook subscription (never its secret)."""
    return _public(service.get(session, webhook_id))


@router.patch("/{webhook_id}", operation_id="updateWebhook", responses=problem_responses(404, 422))
def update_webhook(
    webhook_id: WebhookId,
    body: WebhookUpdate,
    session: SessionDep,
    principal: AdminDep,
    settings: SettingsDep,
    guard: GuardDep,
) -> WebhookPublic:
    """Change a subscription's URL, events, description, include_jwt, include_data_integrity
    or enabled."""
    _formats_offered(settings, bool(body.include_data_integrity))
    row = service.update_subscription(session, webhook_id, body, guard=guard, actor=principal.actor)
    return _public(row)


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="deleteWebhook",
    responses=problem_responses(404, 422),
)
def delete_webhook(webhook_id: WebhookId, session: SessionDep, principal: AdminDep) -> Response:
    """Delete a subscription; its pending deliveries are cancelled, its history kept."""
    service.delete(session, webhook_id, actor=principal.actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{webhook_id}/deliveries",
    operation_id="listWebhookDeliveries",
    responses=problem_responses(400, 404, 422),
)
def list_deliveries(
    webhook_id: WebhookId,
    session: SessionDep,
    _: AdminDep,
    delivery_status: Annotated[
        Literal["pending", "succeeded", "failed", "cancelled"] | None, Query(alias="status")
    ] = None,
    cursor: CursorParam = None,
    limit: LimitParam = 50,
) -> Page[DeliveryPublic]:
    """Deliveries newest first, each with its attempts: status codes, errors, durations."""
    before = decode_cursor(cursor, BY_INT64)
    items = service.list_deliveries(
        session, webhook_id, status=delivery_status, before=before, limit=limit
    )
    next_cursor = encode_cursor(items[-1].id) if len(items) == limit else None
    return Page(items=items, next_cursor=next_cursor)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="retryWebhookDelivery",
    responses=problem_responses(404, 409, 422),
)
def retry_delivery(
    webhook_id: WebhookId,
    delivery_id: DeliveryId,
    session: SessionDep,
    principal: AdminDep,
    config: WebhookSettingsDep,
) -> DeliveryPublic:
    """Send a delivery again (same webhook-id) with a fresh retry horizon."""
    return service.retry(session, webhook_id, delivery_id, config, actor=principal.actor)
