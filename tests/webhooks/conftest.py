"""Webhook test kit: a real HTTP receiver on 127.0.0.1 that verifies every request with the
`standardwebhooks` library, an app whose webhook settings allow loopback, and helpers to
subscribe, earn credentials and run a worker in-process with an injected clock."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi import FastAPI
from standardwebhooks.webhooks import Webhook

from service.app import create_app
from service.settings import Settings
from service.webhooks.settings import WebhookSettings
from service.webhooks.worker import Round, Worker
from tests.conftest import REPO, Database

DEMO = REPO / "service" / "catalog" / "demo" / "social-media-program.yaml"
FOUNDATIONS = "social-media/foundations"


def loopback_config(**overrides: Any) -> WebhookSettings:
    values: dict[str, Any] = {
        "allowed_hosts": ["127.0.0.1"],
        "timeout": 5.0,
        "lease": timedelta(seconds=30),
        "scan_interval": 3600.0,
    }
    return WebhookSettings(**(values | overrides))


@dataclass
class Received:
    webhook_id: str
    payload: dict[str, Any]
    headers: dict[str, str]
    status: int


# Decides the answer to one request: (status, body bytes); may block (a hanging receiver).
Responder = Callable[["Receiver", str, dict[str, Any]], tuple[int, bytes]]


@dataclass
class Receiver:
    """Collects deliveries; every one must carry a valid Standard Webhooks signature."""

    url: str
    secrets: dict[str, str] = field(default_factory=dict)  # path -> whsec_ secret
    received: list[Received] = field(default_factory=list)
    bad_signatures: list[str] = field(default_factory=list)
    responder: Responder | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def endpoint(self, path: str = "/hook") -> str:
        return self.url + path

    def ok(self, path: str = "/hook") -> list[Received]:
        return [r for r in self.received if 200 <= r.status < 300]

    def ids(self) -> list[str]:
        return [r.webhook_id for r in self.ok()]

    def wait_for(self, count: int, timeout: float = 60.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.ok()) >= count, timeout)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            if len(body) < length:  # the sender gave up mid-request (timeout, killed)
                return
            headers = {k.lower(): v for k, v in self.headers.items()}
            secret = receiver.secrets.get(self.path.split("?")[0])
            try:
                assert secret is not None, f"no secret for {self.path}"
                payload = Webhook(secret).verify(body, headers)
            except Exception as exc:
                receiver.bad_signatures.append(f"{self.path}: {exc}")
                self._answer(401, b"bad signature")
                return
            status, answer = (
                receiver.responder(receiver, headers["webhook-id"], payload)
                if receiver.responder
                else (200, b"ok")
            )
            with receiver.lock:
                receiver.received.append(Received(headers["webhook-id"], payload, headers, status))
            if 300 <= status < 400:
                self.send_response(status)
                self.send_header("Location", receiver.url + "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._answer(status, answer)
            with receiver.arrived:
                receiver.arrived.notify_all()

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    ThreadingHTTPServer.request_queue_size = 128  # several workers connect at once
    server = ThreadingHTTPServer(("127.0.0.1", 0), None)  # type: ignore[arg-type]
    server.daemon_threads = True
    rec = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(rec)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


@pytest.fixture
def config() -> WebhookSettings:
    return loopback_config()


@pytest.fixture
def app(settings: Settings, database: Database, config: WebhookSettings) -> FastAPI:
    return create_app(settings, engine=database.engine, webhooks=config)


@pytest.fixture
def api(client, admin_headers):  # type: ignore[no-untyped-def]
    """The client with the demo catalog applied."""
    applied = client.put(
        "/v1/catalog",
        content=DEMO.read_bytes(),
        headers={**admin_headers, "Content-Type": "application/yaml"},
    )
    assert applied.status_code == 200, applied.text
    return client


def subscribe(  # type: ignore[no-untyped-def]
    client, headers, receiver: Receiver, path: str = "/hook", **body: Any
) -> dict[str, Any]:
    response = client.post(
        "/v1/webhooks", json={"url": receiver.endpoint(path), **body}, headers=headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    receiver.secrets[path] = created["secret"]
    return created


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def earn_foundations(client, headers, learner: str, at: datetime | None = None) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Post the two completions Foundations needs; returns the issued credential."""
    at = at or datetime.now(UTC) - timedelta(days=1)
    issued = []
    for course, extra in (("policy-101", {"score": 90}), ("brand-voice-101", {})):
        response = client.post(
            "/v1/completions",
            json={"learner_id": learner, "course_id": course, "completed_at": iso(at), **extra},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        issued += response.json()["issued"]
    assert [c["level"] for c in issued] == [FOUNDATIONS]
    credential: dict[str, Any] = issued[0]
    return credential


class Clock:
    """A movable clock for the worker (nothing sleeps)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def drain(
    database: Database,
    settings: Settings,
    config: WebhookSettings,
    clock: Callable[[], datetime] | None = None,
    name: str = "test-worker",
) -> Round:
    """Run an in-process worker until there is nothing left to do at the clock's time."""

    async def go() -> Round:
        kwargs: dict[str, Any] = {"name": name}
        if clock is not None:
            kwargs["clock"] = clock
        async with Worker(database.engine, settings, config, **kwargs) as worker:
            return await worker.run_until_idle()

    return asyncio.run(go())


def deliveries(client, headers, webhook_id: str, **params: Any) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    response = client.get(f"/v1/webhooks/{webhook_id}/deliveries", params=params, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def payloads(receiver: Receiver) -> list[dict[str, Any]]:
    return [json.loads(json.dumps(r.payload)) for r in receiver.ok()]
