"""Fault tests with real `credence worker` processes: SIGKILL mid-delivery then restart (the
event arrives, at least once, with the same webhook-id), and two workers on PostgreSQL sharing
1,000 events with none sent twice and none lost."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, func, select

from service.audit.service import record
from service.models import WebhookAttempt, WebhookDelivery, WebhookEvent
from tests.conftest import REPO
from tests.webhooks.conftest import earn_foundations, subscribe

CREDENCE = str(REPO / ".venv" / "bin" / "credence")


def start_worker(database_url: str, **extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CREDENCE_DATABASE_URL": database_url,
        "CREDENCE_LOG_LEVEL": "WARNING",
        "CREDENCE_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "CREDENCE_WEBHOOK_POLL_INTERVAL": "0.05",
        "CREDENCE_WEBHOOK_TIMEOUT": "2",
        "CREDENCE_WEBHOOK_LEASE": "PT3S",
        "CREDENCE_WEBHOOK_SCAN_INTERVAL": "3600",
        **extra,
    }
    return subprocess.Popen([CREDENCE, "worker"], env=env, stderr=subprocess.PIPE)


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def test_sigkill_mid_delivery_then_restart_delivers_with_the_same_id(  # type: ignore[no-untyped-def]
    api, admin_headers, receiver, database
) -> None:
    arrived, release = threading.Event(), threading.Event()
    calls = []

    def responder(rec, webhook_id: str, payload: dict[str, Any]) -> tuple[int, bytes]:  # type: ignore[no-untyped-def]
        calls.append(webhook_id)
        if len(calls) == 1:  # the first attempt hangs until its worker is dead
            arrived.set()
            release.wait(30)
            return 599, b""
        return 200, b"ok"

    receiver.responder = responder
    subscribe(api, admin_headers, receiver, events=["credential.issued"])
    earn_foundations(api, admin_headers, "quinn")

    first = start_worker(database.url)
    try:
        assert arrived.wait(60), first.stderr.read1() if first.stderr else "no request"
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
    finally:
        release.set()
        if first.poll() is None:
            first.kill()
    with Session(database.engine) as session:
        (stranded,) = session.exec(select(WebhookDelivery)).all()
    assert stranded.status == "pending" and stranded.lease_token is not None
    assert stranded.attempts == 0  # the killed worker recorded nothing

    second = start_worker(database.url)
    try:
        assert receiver.wait_for(1, timeout=60)
    finally:
        assert stop(second) == 0  # SIGTERM: a clean stop
    assert len(calls) == 2 and calls[0] == calls[1]  # same webhook-id, delivered again
    assert receiver.bad_signatures == []
    with Session(database.engine) as session:
        delivery = session.exec(select(WebhookDelivery)).one()
        attempts = session.exec(select(WebhookAttempt)).all()
    assert delivery.status == "succeeded" and delivery.lease_token is None
    assert [a.status_code for a in attempts] == [200]


@pytest.mark.slow
def test_two_workers_on_postgresql_deliver_1000_events_once_each(  # type: ignore[no-untyped-def]
    api, admin_headers, receiver, database
) -> None:
    if database.kind != "postgresql":
        pytest.skip("row locking (FOR UPDATE SKIP LOCKED) is the PostgreSQL case")
    in_flight: set[str] = set()
    overlaps: list[str] = []
    lock = threading.Lock()

    def responder(rec, webhook_id: str, payload: dict[str, Any]) -> tuple[int, bytes]:  # type: ignore[no-untyped-def]
        with lock:
            if webhook_id in in_flight:
                overlaps.append(webhook_id)
            in_flight.add(webhook_id)
        time.sleep(0.002)  # a receiver that takes a moment, so batches overlap
        with lock:
            in_flight.discard(webhook_id)
        return 200, b""

    receiver.responder = responder
    hook = subscribe(api, admin_headers, receiver, events=["completion.received"])
    workers = [
        start_worker(
            database.url,
            CREDENCE_WEBHOOK_BATCH_SIZE="25",
            CREDENCE_WEBHOOK_TIMEOUT="10",
            CREDENCE_WEBHOOK_LEASE="PT30S",
        )
        for _ in range(2)
    ]
    try:
        for worker in workers:  # both are up before the events arrive
            assert worker.stderr is not None
            assert b"started" in worker.stderr.readline()
        # The changes arrive while the workers run: 10 transactions of 100 audited completions
        # (the outbox rows every real change writes; the API path is covered end to end
        # elsewhere, and a 1,000-item batch through it takes a minute on this machine).
        at = datetime.now(UTC) - timedelta(days=1)
        for chunk in range(10):
            with Session(database.engine) as session:
                for n in range(chunk * 100, chunk * 100 + 100):
                    record(
                        session,
                        actor="test",
                        action="completion.recorded",
                        subject=f"completion:{uuid.uuid4()}",
                        data={
                            "learner": f"bulk-{n:04d}",
                            "course": "disclosure-101",
                            "completed_at": at.isoformat(),
                            "score": None,
                            "passed": True,
                            "external_id": None,
                        },
                    )
                session.commit()
        assert receiver.wait_for(1000, timeout=120), len(receiver.ok())
    finally:
        codes = [stop(worker) for worker in workers]
    assert codes == [0, 0]

    ids = receiver.ids()
    assert receiver.bad_signatures == [] and overlaps == []
    assert len(ids) == 1000 and len(set(ids)) == 1000  # none twice
    with Session(database.engine) as session:
        expected = set(
            session.exec(select(WebhookEvent.id).where(WebhookEvent.type == "completion.received"))
        )
        statuses = session.exec(
            select(WebhookDelivery.status, func.count())
            .where(WebhookDelivery.subscription_id == hook["id"])
            .group_by(col(WebhookDelivery.status))
        ).all()
        by_worker = session.exec(
            select(WebhookAttempt.worker, func.count()).group_by(col(WebhookAttempt.worker))
        ).all()
    assert set(ids) == expected  # none lost
    assert statuses == [("succeeded", 1000)]
    assert len(by_worker) == 2 and sum(n for _, n in by_worker) == 1000, by_worker
