"""Benchmark: webhook delivery throughput (events/s) with 1 and 2 `credence worker` processes,
against a floor measured in the same run: a bare httpx client posting the same signed bodies, at
the same concurrency, to the same local receiver (no database, no relay, no bookkeeping).

Run: ``.venv/bin/python bench/webhooks.py [--events 2000] [--database-url URL]``

The receiver is a separate uvicorn process (httptools) answering 204. For each run, N audited
changes are written (as `completion.recorded` audit events: the outbox rows every change
writes), then the workers start and the clock runs until every delivery has succeeded. The
time therefore includes relaying the audit events into deliveries, claiming, signing, sending
and recording each attempt. Default database: a temporary SQLite file.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import func, text
from sqlmodel import Session, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from service.audit.service import record  # noqa: E402
from service.db import make_engine  # noqa: E402
from service.migrations import upgrade  # noqa: E402
from service.models import WebhookDelivery, metadata  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.webhooks import signing  # noqa: E402
from service.webhooks.safety import OutboundGuard  # noqa: E402
from service.webhooks.schemas import WebhookCreate  # noqa: E402
from service.webhooks.service import create  # noqa: E402

RECEIVER = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_receiver(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    (directory / "bench_receiver.py").write_text(RECEIVER)
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench_receiver:app",
            "--port",
            str(port),
            "--http",
            "httptools",
            "--loop",
            "uvloop",
            "--log-level",
            "warning",
            "--no-access-log",
            "--backlog",
            "4096",
        ],
        cwd=directory,
    )
    url = f"http://127.0.0.1:{port}/hook"
    for _ in range(100):
        try:
            httpx.post(url, content=b"{}")
            return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("receiver did not start")


async def floor(url: str, count: int, concurrency: int) -> float:
    """Events/s for bare signed POSTs at the worker's concurrency."""
    key = signing.secret_key(signing.new_secret())
    body = b'{"id":"evt_x","type":"completion.received","time":"2026-11-25T10:00:00Z","data":{}}'
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, trust_env=False) as client:
        started = time.perf_counter()
        for start in range(0, count, concurrency):
            batch = range(start, min(start + concurrency, count))
            await asyncio.gather(
                *(
                    client.post(
                        url, content=body, headers=signing.headers(key, f"evt_{n}", 0, body)
                    )
                    for n in batch
                )
            )
        return count / (time.perf_counter() - started)


def write_events(engine, count: int) -> None:  # type: ignore[no-untyped-def]
    at = datetime.now(UTC).isoformat()
    with Session(engine) as session:
        for n in range(count):
            record(
                session,
                actor="bench",
                action="completion.recorded",
                subject=f"completion:{uuid.uuid4()}",
                data={
                    "learner": f"bench-{n}",
                    "course": "c",
                    "completed_at": at,
                    "score": None,
                    "passed": True,
                    "external_id": None,
                },
            )
        session.commit()


def run_workers(engine, database_url: str, workers: int, count: int, batch: int) -> float:  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "CREDENCE_DATABASE_URL": database_url,
        "CREDENCE_LOG_LEVEL": "WARNING",
        "CREDENCE_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        "CREDENCE_WEBHOOK_POLL_INTERVAL": "0.02",
        "CREDENCE_WEBHOOK_BATCH_SIZE": str(batch),
    }
    processes = [
        subprocess.Popen(
            [str(REPO / ".venv/bin/credence"), "worker"], env=env, stderr=subprocess.PIPE
        )
        for _ in range(workers)
    ]
    for process in processes:  # wait until each has imported and connected
        assert process.stderr is not None
        process.stderr.readline()
    write_events(engine, count)
    started = time.perf_counter()
    done = 0
    while done < count:
        time.sleep(0.02)
        with Session(engine) as session:
            done = session.exec(
                select(func.count()).where(WebhookDelivery.status == "succeeded")
            ).one()
    elapsed = time.perf_counter() - started
    for process in processes:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    return count / elapsed


def reset(engine) -> None:  # type: ignore[no-untyped-def]
    names = ["webhook_attempt", "webhook_delivery", "webhook_event"]
    with engine.begin() as connection:
        for name in names:
            connection.execute(text(f"DELETE FROM {name}"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=16, help="worker batch (concurrency)")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        url = args.database_url or f"sqlite:///{directory / 'bench.db'}"
        if url.startswith("postgresql"):
            engine = make_engine(url)
            with engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            engine.dispose()
        upgrade(url)
        engine = make_engine(url)
        receiver, hook_url = start_receiver(directory)
        try:
            with Session(engine) as session:
                create(
                    session,
                    WebhookCreate(url=hook_url, events=["completion.received"]),
                    kek=Settings().kek_bytes,
                    guard=OutboundGuard(["127.0.0.1"], require_https=False),
                    actor="bench",
                )
                session.commit()
            base = asyncio.run(floor(hook_url, args.events, args.batch))
            print(f"database: {url.split('://')[0]}, {args.events} events, batch {args.batch}")
            print(f"floor (bare httpx, signed, no DB): {base:8.0f} events/s")
            for workers in (1, 2):
                reset(engine)
                rate = run_workers(engine, url, workers, args.events, args.batch)
                print(
                    f"{workers} worker(s):                     {rate:8.0f} events/s"
                    f"  ({rate / base:.2f} x floor)"
                )
        finally:
            receiver.send_signal(signal.SIGTERM)
            receiver.wait(10)
            engine.dispose()
            _ = metadata


if __name__ == "__main__":
    main()
