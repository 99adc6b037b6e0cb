"""Earners' email test kit: a real SMTP server (aiosmtpd) on loopback that keeps what it
accepts, an app with mail settings pointing at it, and helpers to give a learner an email, earn
a level and run the worker (with its mail job) in-process on a movable clock."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI

from service.app import create_app, mail_jobs
from service.earners.settings import MailSettings
from service.settings import Settings
from service.webhooks.settings import WebhookSettings
from service.webhooks.worker import Round, Worker
from tests.conftest import Database
from tests.robustness.live import free_port
from tests.webhooks.conftest import Clock, api, earn_foundations, loopback_config

__all__ = ["Clock", "api", "earn_foundations"]  # api: the client with the demo catalog


@dataclass
class Mailbox:
    """What the SMTP server accepted; ``refuse`` makes it answer RCPT with that reply."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    refuse: str | None = None
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_RCPT(  # aiosmtpd's handler hook
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.arrived:
            self.messages.append(message)
            self.arrived.notify_all()
        return "250 Message accepted"

    def wait_for(self, count: int, timeout: float = 60.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)


def smtp_server(mailbox: Mailbox) -> Controller:
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    return controller


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())
    controller = smtp_server(box)
    yield box
    controller.stop()


@pytest.fixture
def config() -> WebhookSettings:
    return loopback_config()


@pytest.fixture
def mail(mailbox: Mailbox) -> MailSettings:
    return MailSettings(
        url=f"smtp://127.0.0.1:{mailbox.port}",
        CREDENCE_SMTP_FROM="Credence Test <badges@credence.test>",
        reply_to="programs@credence.test",
        timeout=5.0,
    )


@pytest.fixture
def app(
    settings: Settings, database: Database, config: WebhookSettings, mail: MailSettings
) -> FastAPI:
    return create_app(settings, engine=database.engine, webhooks=config, mail=mail)


def learner(client, headers, learner_id: str, **body: Any) -> None:  # type: ignore[no-untyped-def]
    response = client.put(f"/v1/learners/{learner_id}", json=body, headers=headers)
    assert response.status_code in (200, 201), response.text


def drain(
    database: Database,
    settings: Settings,
    config: WebhookSettings,
    mail: MailSettings,
    clock: Clock | None = None,
) -> Round:
    """Run an in-process worker with its mail job until nothing is left to do now."""

    async def go() -> Round:
        jobs = mail_jobs(database.engine, settings, config, mail)
        kwargs: dict[str, Any] = {"jobs": jobs}
        if clock is not None:
            kwargs["clock"] = clock
        async with Worker(database.engine, settings, config, **kwargs) as worker:
            return await worker.run_until_idle()

    return asyncio.run(go())


def parts(message: EmailMessage) -> tuple[str, str]:
    """The plain-text and HTML parts of a message."""
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return (
        text.get_content().replace("\r\n", "\n"),
        html.get_content().replace("\r\n", "\n"),
    )


def later(clock: Clock, **delta: float) -> datetime:
    clock.now += timedelta(**delta)
    return clock.now
