"""Claiming due deliveries, sending them, and recording what happened.

A claim is a lease: in one short transaction a worker picks due deliveries (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so concurrent claimers pass over each other's rows; SQLite's write lock
serialises claimers) and stamps them with its token and ``lease_until``. It sends without holding
a transaction, then records the outcome only where its token still stands. A worker killed
mid-delivery leaves a lease that runs out, and the delivery is sent again with the same
``webhook-id`` (at least once). An attempt is bounded by ``timeout`` < ``lease``, so a live
worker's delivery is never taken over while it is in flight.

Per subscription, deliveries with the same ordering key (the event's subject, e.g. one
credential) go out one at a time, oldest first: a receiver sees a credential's events in order.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlmodel import Session

from service.keys.service import KeyRing, NoSigningKey
from service.webhooks import events, repository, signing
from service.webhooks.safety import BlockedDestination
from service.webhooks.settings import WebhookSettings

USER_AGENT = "Credence-Webhooks/1"
log = logging.getLogger("credence.webhooks")


@dataclass(frozen=True, slots=True)
class Claimed:
    delivery_id: int
    token: str
    event_id: str
    url: str
    body: bytes
    key: bytes
    attempts: int
    deadline_at: datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    claimed: Claimed
    attempted_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    response_body: str | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def claim(
    session: Session,
    config: WebhookSettings,
    kek: bytes,
    *,
    token: str,
    now: datetime,
    limit: int,
    keyring: KeyRing | None = None,
) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries to ``token`` (flushes; the caller commits). With
    ``keyring``, subscriptions that ask for it get the credential's Data Integrity form."""
    ids = repository.lease_due(
        session, token=token, now=now, lease_until=now + config.lease, limit=limit
    )
    rows = repository.leased(session, ids)
    carrying = [r for r in rows if (r[10] or r[11]) and r[4] in events.CARRIES_JWT]
    jwts = repository.credential_jwts(session, [r[5].partition(":")[2] for r in carrying])
    forms: dict[str, dict[str, Any] | None] = {}
    keys: dict[str, bytes] = {}
    claimed = []
    for (
        delivery_id,
        attempts,
        deadline,
        event_id,
        event_type,
        subject,
        body,
        sub_id,
        url,
        secret,
        with_jwt,
        with_data_integrity,
    ) in rows:
        if sub_id not in keys:
            keys[sub_id] = signing.secret_key(signing.decrypt_secret(secret, kek, sub_id))
        jwt = jwts.get(subject.partition(":")[2]) if event_type in events.CARRIES_JWT else None
        document = None
        if jwt is not None and with_data_integrity and keyring is not None:
            if jwt not in forms:
                forms[jwt] = _data_integrity(session, keyring, jwt)
            document = forms[jwt]
        body = events.with_credential(body, jwt=jwt if with_jwt else None, data_integrity=document)
        claimed.append(
            Claimed(
                delivery_id=delivery_id,
                token=token,
                event_id=event_id,
                url=url,
                body=body.encode(),
                key=keys[sub_id],
                attempts=attempts,
                deadline_at=deadline,
            )
        )
    return claimed


def _data_integrity(session: Session, keyring: KeyRing, jwt: str) -> dict[str, Any] | None:
    try:
        return keyring.data_integrity(session, jwt)
    except NoSigningKey:  # no Ed25519 key yet: the event goes out without that form
        log.warning("no active Ed25519 key: webhook sent without the Data Integrity form")
        return None


async def send(
    client: httpx.AsyncClient, target: Claimed, config: WebhookSettings, now: datetime
) -> Outcome:
    """One signed POST: no redirects, the whole attempt within ``timeout``, at most
    ``response_body_cap`` bytes of the answer read."""
    timestamp = int(time.time())
    headers = signing.headers(target.key, target.event_id, timestamp, target.body)
    headers |= {"content-type": "application/json", "user-agent": USER_AGENT}
    started = time.perf_counter()
    status_code: int | None = None
    error: str | None = None
    snippet: bytes = b""
    try:
        async with asyncio.timeout(config.timeout):
            async with client.stream(
                "POST", target.url, content=target.body, headers=headers
            ) as response:
                status_code = response.status_code
                async for chunk in response.aiter_raw():
                    snippet += chunk
                    if len(snippet) >= config.response_body_cap:
                        break
        if 300 <= status_code < 400:
            error = (
                f"HTTP {status_code}: redirect to {response.headers.get('location')!r} not followed"
            )
        elif not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except TimeoutError:
        error = f"timed out after {config.timeout:g}s"
    except BlockedDestination as exc:
        error = f"refused: {exc}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    duration_ms = round((time.perf_counter() - started) * 1000)
    text = snippet[: config.response_body_cap].decode("utf-8", "replace") if snippet else None
    return Outcome(target, now, duration_ms, status_code, error and error[:500], text)


def backoff(config: WebhookSettings, failures: int) -> timedelta:
    """Exponential backoff with jitter: base * 2^(n-1), capped, then drawn from [half, all]."""
    ceiling = min(
        config.backoff_base.total_seconds() * 2 ** min(failures - 1, 40),
        config.backoff_max.total_seconds(),
    )
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def record_outcomes(
    session: Session,
    config: WebhookSettings,
    outcomes: list[Outcome],
    *,
    worker: str,
    now: datetime,
) -> None:
    """Store the attempts and move each delivery on, where the lease is still ours."""
    if not outcomes:
        return
    repository.insert_attempts(
        session,
        [
            {
                "delivery_id": o.claimed.delivery_id,
                "attempted_at": o.attempted_at,
                "duration_ms": o.duration_ms,
                "status_code": o.status_code,
                "error": o.error,
                "response_body": o.response_body,
                "worker": worker,
            }
            for o in outcomes
        ],
    )
    done = [o for o in outcomes if o.succeeded]
    repository.mark_succeeded(
        session,
        [(o.claimed.delivery_id, o.claimed.token, o.status_code) for o in done],
        now=now,
    )
    moved_on = []
    for o in outcomes:
        if o.succeeded:
            continue
        retry_at = now + backoff(config, o.claimed.attempts + 1)
        gave_up = retry_at > o.claimed.deadline_at
        moved_on.append(
            repository.Retry(
                delivery_id=o.claimed.delivery_id,
                token=o.claimed.token,
                status_code=o.status_code,
                error=o.error,
                status="failed" if gave_up else "pending",
                next_attempt_at=retry_at,
                completed_at=now if gave_up else None,
            )
        )
    repository.mark_failed(session, moved_on)
    session.flush()
