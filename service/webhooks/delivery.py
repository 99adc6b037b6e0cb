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
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlmodel import Session

from service.models import (
    Credential,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from service.webhooks import events, signing
from service.webhooks.safety import BlockedDestination
from service.webhooks.settings import WebhookSettings

USER_AGENT = "Credence-Webhooks/1"
_delivery = WebhookDelivery.__table__  # type: ignore[attr-defined]
_event = WebhookEvent.__table__  # type: ignore[attr-defined]
_subscription = WebhookSubscription.__table__  # type: ignore[attr-defined]
_attempt = WebhookAttempt.__table__  # type: ignore[attr-defined]


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
) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries to ``token`` (flushes; the caller commits)."""
    # The head of each (subscription, ordering key) queue: only it may be sent. A grouped
    # minimum is linear in the pending rows whatever the planner believes (an anti-join on
    # "an earlier pending delivery exists" went quadratic on fresh tables without statistics).
    heads = (
        select(func.min(_delivery.c.id))
        .where(_delivery.c.status == "pending")
        .group_by(_delivery.c.subscription_id, _delivery.c.ordering_key)
    )
    query = (
        select(_delivery.c.id)
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
    if not ids:
        return []
    session.execute(
        update(_delivery)
        .where(_delivery.c.id.in_(ids))
        .values(lease_until=now + config.lease, lease_token=token)
    )
    rows = session.execute(
        select(
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
        )
        .select_from(
            _delivery.join(_event, _event.c.id == _delivery.c.event_id).join(
                _subscription, _subscription.c.id == _delivery.c.subscription_id
            )
        )
        .where(_delivery.c.id.in_(ids))
        .order_by(_delivery.c.id)
    ).all()
    jwts = _jwts(
        session, [r[5].partition(":")[2] for r in rows if r[10] and r[4] in events.CARRIES_JWT]
    )
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
    ) in rows:
        if sub_id not in keys:
            keys[sub_id] = signing.secret_key(signing.decrypt_secret(secret, kek, sub_id))
        jwt = (
            jwts.get(subject.partition(":")[2])
            if with_jwt and event_type in events.CARRIES_JWT
            else None
        )
        claimed.append(
            Claimed(
                delivery_id=delivery_id,
                token=token,
                event_id=event_id,
                url=url,
                body=(events.with_jwt(body, jwt) if jwt else body).encode(),
                key=keys[sub_id],
                attempts=attempts,
                deadline_at=deadline,
            )
        )
    return claimed


def _jwts(session: Session, credential_ids: list[str]) -> dict[str, str]:
    if not credential_ids:
        return {}
    table = Credential.__table__  # type: ignore[attr-defined]
    rows = session.execute(select(table.c.id, table.c.jwt).where(table.c.id.in_(credential_ids)))
    return {cid: jwt for cid, jwt in rows}


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
    session.execute(
        insert(_attempt),
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
    ours = (_delivery.c.id == bindparam("b_id"), _delivery.c.lease_token == bindparam("b_token"))
    done = [o for o in outcomes if o.succeeded]
    if done:
        session.execute(
            update(_delivery)
            .where(*ours)
            .values(
                status="succeeded",
                attempts=_delivery.c.attempts + 1,
                last_status_code=bindparam("b_code"),
                last_error=None,
                completed_at=now,
                lease_until=None,
                lease_token=None,
            ),
            [
                {"b_id": o.claimed.delivery_id, "b_token": o.claimed.token, "b_code": o.status_code}
                for o in done
            ],
        )
    failed = [o for o in outcomes if not o.succeeded]
    if failed:
        rows = []
        for o in failed:
            retry_at = now + backoff(config, o.claimed.attempts + 1)
            gave_up = retry_at > o.claimed.deadline_at
            rows.append(
                {
                    "b_id": o.claimed.delivery_id,
                    "b_token": o.claimed.token,
                    "b_code": o.status_code,
                    "b_error": o.error,
                    "b_status": "failed" if gave_up else "pending",
                    "b_next": retry_at,
                    "b_completed": now if gave_up else None,
                }
            )
        session.execute(
            update(_delivery)
            .where(*ours)
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
            rows,
        )
    session.flush()
