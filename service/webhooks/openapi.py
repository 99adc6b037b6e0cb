"""Wiring into the app factory: webhook settings on ``app.state`` and the OpenAPI ``webhooks``
section documenting every event a subscriber can receive."""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import Body, FastAPI

from service.webhooks.events import EVENT_DOCS, EVENT_TYPES, event_model
from service.webhooks.settings import WebhookSettings

_HEADERS = [
    ("webhook-id", "The event id; the same on every retry (deduplicate on it)."),
    ("webhook-timestamp", "Unix seconds when this attempt was signed."),
    (
        "webhook-signature",
        'Standard Webhooks: `v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`'
        " keyed with the base64-decoded part of the subscription's `whsec_` secret.",
    ),
]


def install_webhooks(app: FastAPI, config: WebhookSettings | None = None) -> None:
    """Attach webhook settings (from ``CREDENCE_WEBHOOK_*`` unless given) and document events."""
    app.state.webhook_settings = config or WebhookSettings()
    for event_type in EVENT_TYPES:
        _document(app, event_type)


def _document(app: FastAPI, event_type: str) -> None:
    model = event_model(event_type)

    def receive(body: Any) -> None:  # pragma: no cover - documentation only
        return None

    receive.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "body", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=model, default=Body()
            )
        ],
        return_annotation=None,
    )
    receive.__name__ = model.__name__
    app.webhooks.add_api_route(
        event_type,
        receive,
        methods=["POST"],
        summary=event_type,
        description=EVENT_DOCS[event_type][1],
        operation_id=model.__name__[0].lower() + model.__name__[1:],
        responses={200: {"description": "Any 2xx acknowledges; anything else is retried."}},
        openapi_extra={
            "parameters": [
                {
                    "name": name,
                    "in": "header",
                    "required": True,
                    "description": text,
                    "schema": {"type": "string"},
                }
                for name, text in _HEADERS
            ]
        },
    )
