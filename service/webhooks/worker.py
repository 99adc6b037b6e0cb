"""The webhook worker: relay audit events into deliveries, scan for time-based events, and
deliver; then the other outbox jobs it is given (the earners' mail). It owns its transactions
(one short one per step), as a request owns its own; nothing is held open while HTTP requests
are in flight. Time comes from ``clock`` (tests move it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service.db import utcnow
from service.keys.service import KeyRing
from service.settings import Settings
from service.webhooks.delivery import claim, record_outcomes, send
from service.webhooks.deps import build_guard
from service.webhooks.outbox import relay
from service.webhooks.safety import GuardedTransport
from service.webhooks.scanner import scan
from service.webhooks.settings import WebhookSettings

log = logging.getLogger("credence.webhooks")
Clock = Callable[[], datetime]


class Job(Protocol):
    """More outbox work the worker runs each round (the earners' mail): returns the work done."""

    async def run_once(self, clock: Clock) -> int: ...


@dataclass
class Round:
    relayed: int = 0
    scanned: int = 0
    delivered: int = 0
    failed: int = 0
    jobs: int = 0

    @property
    def busy(self) -> bool:
        return bool(self.relayed or self.delivered or self.failed or self.jobs)


class Worker:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        config: WebhookSettings,
        *,
        clock: Clock = utcnow,
        name: str | None = None,
        jobs: Sequence[Job] = (),
    ) -> None:
        self.engine = engine
        self.jobs = list(jobs)
        self.settings = settings
        self.config = config
        self.keyring = KeyRing(settings)  # signs the Data Integrity form some subscribers ask for
        self.clock = clock
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._last_scan: datetime | None = None
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Worker:
        transport = GuardedTransport(
            build_guard(self.settings, self.config), max_connections=self.config.batch_size
        )
        self._client = httpx.AsyncClient(
            transport=transport,
            follow_redirects=False,
            trust_env=False,  # a proxy from the environment would bypass the address guard
            timeout=httpx.Timeout(self.config.timeout, connect=self.config.connect_timeout),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def relay_once(self) -> int:
        with Session(self.engine) as session:
            count = relay(session, self.config, now=self.clock())
            session.commit()
        return count

    def scan_once(self) -> int:
        with Session(self.engine) as session:
            count = scan(session, self.config, now=self.clock())
            session.commit()
        self._last_scan = self.clock()
        return count

    async def deliver_once(self) -> tuple[int, int]:
        """Claim a batch, send it concurrently, record the outcomes: (succeeded, failed)."""
        assert self._client is not None, "use the worker as an async context manager"
        token = secrets.token_hex(16)
        with Session(self.engine) as session:
            claimed = claim(
                session,
                self.config,
                self.settings.kek_bytes,
                token=token,
                now=self.clock(),
                limit=self.config.batch_size,
                keyring=self.keyring,
            )
            session.commit()
        if not claimed:
            return 0, 0
        client = self._client
        now = self.clock()
        outcomes = await asyncio.gather(*(send(client, c, self.config, now) for c in claimed))
        with Session(self.engine) as session:
            record_outcomes(
                session, self.config, list(outcomes), worker=self.name, now=self.clock()
            )
            session.commit()
        ok = sum(1 for o in outcomes if o.succeeded)
        for o in outcomes:
            if not o.succeeded:
                log.info(
                    "webhook delivery failed",
                    extra={"delivery": o.claimed.delivery_id, "error": o.error},
                )
        return ok, len(outcomes) - ok

    async def run_once(self) -> Round:
        """One round: relay everything pending, scan when due, deliver one batch."""
        result = Round()
        while count := self.relay_once():
            result.relayed += count
        due = self._last_scan is None or (
            (self.clock() - self._last_scan).total_seconds() >= self.config.scan_interval
        )
        if due:
            result.scanned = self.scan_once()
            while count := self.relay_once():
                result.relayed += count
        result.delivered, result.failed = await self.deliver_once()
        for job in self.jobs:
            result.jobs += await job.run_once(self.clock)
        return result

    async def run_until_idle(self, max_rounds: int = 1000) -> Round:
        """Rounds until nothing is left to do now (tests and one-shot runs)."""
        total = Round()
        for _ in range(max_rounds):
            step = await self.run_once()
            total.relayed += step.relayed
            total.scanned += step.scanned
            total.delivered += step.delivered
            total.failed += step.failed
            total.jobs += step.jobs
            if not step.busy and not step.scanned:
                return total
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, pausing ``poll_interval`` whenever idle."""
        while not stop.is_set():
            try:
                step = await self.run_once()
            except Exception:
                log.exception("webhook worker round failed; retrying")
                step = Round()
            if not step.busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.config.poll_interval)
