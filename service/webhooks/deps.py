"""The webhooks' request dependencies: their settings (built once, by ``install_webhooks``)
and the outbound guard that decides where a subscription may point."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.deps import SettingsDep
from service.settings import Settings
from service.webhooks.safety import OutboundGuard
from service.webhooks.settings import WebhookSettings


def build_guard(settings: Settings, config: WebhookSettings) -> OutboundGuard:
    """Where webhooks may go: the allow-list; HTTPS only in production."""
    return OutboundGuard(config.allowed_hosts, require_https=settings.env == "production")


async def get_webhook_settings(request: Request) -> WebhookSettings:
    """The webhook settings the app was built with (``install_webhooks``)."""
    config: WebhookSettings = request.app.state.webhook_settings
    return config


WebhookSettingsDep = Annotated[WebhookSettings, Depends(get_webhook_settings)]


async def get_guard(settings: SettingsDep, config: WebhookSettingsDep) -> OutboundGuard:
    """Where subscriptions may point (the allow-list; HTTPS only in production)."""
    return build_guard(settings, config)


GuardDep = Annotated[OutboundGuard, Depends(get_guard)]
