"""The mail job: relay mailed events into messages, queue "expires soon" messages, and send a
batch. It runs inside the webhook worker (``credence worker``, or the worker in each served
process), one short transaction per step, nothing held open while the SMTP session runs."""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from service.earners import repository
from service.earners.mailer import Attempt, compose, send_batch
from service.earners.outbox import relay, scan_expiring
from service.earners.settings import MailSettings
from service.earners.templates import Templates
from service.settings import Settings

log = logging.getLogger("credence.mail")
Clock = Callable[[], datetime]


def backoff(config: MailSettings, failures: int) -> timedelta:
    """Exponential backoff with jitter: base * 2^(n-1), capped, then drawn from [half, all]."""
    ceiling = min(
        config.backoff_base.total_seconds() * 2 ** min(failures - 1, 40),
        config.backoff_max.total_seconds(),
    )
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


class MailJob:
    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        config: MailSettings,
        *,
        expiring_thresholds_days: Sequence[int],
        scan_interval: float,
        templates: Templates | None = None,
    ) -> None:
        assert config.enabled, "MailJob needs CREDENCE_SMTP_URL"
        self.engine = engine
        self.settings = settings
        self.config = config
        self.thresholds = list(expiring_thresholds_days)
        self.scan_interval = scan_interval
        self.templates = templates or Templates(config.templates)
        self._last_scan: datetime | None = None

    def relay_once(self, now: datetime) -> int:
        with Session(self.engine) as session:
            count = relay(session, self.config, now=now)
            session.commit()
        return count

    def scan_once(self, now: datetime) -> int:
        with Session(self.engine) as session:
            count = scan_expiring(session, self.config, self.thresholds, now=now)
            session.commit()
        self._last_scan = now
        return count

    async def deliver_once(self, clock: Clock) -> tuple[int, int]:
        """Claim a batch, send it over one SMTP session, record what happened: (sent, not)."""
        token = secrets.token_hex(16)
        now = clock()
        with Session(self.engine) as session:
            ids = repository.lease_due(
                session,
                token=token,
                now=now,
                lease_until=now + self.config.lease,
                limit=self.config.batch_size,
            )
            rows = repository.leased(session, ids)
            session.commit()
        if not rows:
            return 0, 0
        messages = [compose(self.settings, self.config, self.templates, r, now) for r in rows]
        attempts: list[Attempt] = await asyncio.to_thread(send_batch, self.config, messages)
        now = clock()
        outcomes = []
        for row, attempt in zip(rows, attempts, strict=True):
            retry_at = now + backoff(self.config, row.attempts + 1)
            verdict = attempt.verdict
            if verdict == "retry" and retry_at > row.deadline_at:
                verdict = "failed"  # past the horizon: given up, and visible as such
            if verdict != "sent":
                log.warning(
                    "mail not sent",
                    extra={"mail_message": row.id, "error": attempt.error, "outcome": verdict},
                )
            outcomes.append(
                repository.Outcome(
                    message_id=row.id,
                    token=token,
                    status={"sent": "sent", "retry": "pending", "failed": "failed"}[verdict],
                    error=attempt.error,
                    next_attempt_at=retry_at if verdict == "retry" else None,
                    sent_at=now if verdict == "sent" else None,
                )
            )
        with Session(self.engine) as session:
            repository.record(session, outcomes)
            session.commit()
        sent = sum(1 for a in attempts if a.verdict == "sent")
        return sent, len(attempts) - sent

    async def run_once(self, clock: Clock) -> int:
        """Relay everything pending, scan when due, send one batch: the work done (0: idle)."""
        done = 0
        while count := self.relay_once(clock()):
            done += count
        now = clock()
        if self._last_scan is None or (now - self._last_scan).total_seconds() >= self.scan_interval:
            done += self.scan_once(now)
        sent, unsent = await self.deliver_once(clock)
        return done + sent + unsent
