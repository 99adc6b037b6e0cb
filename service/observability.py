"""Request ids, structured request logs, Prometheus metrics and the body-size limit.

Pure ASGI middleware (no BaseHTTPMiddleware): they sit on every request, hot paths included.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Annotated, Any

from fastapi import Depends, Request
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import PROBLEM_BASE, PROBLEM_MEDIA_TYPE

log = logging.getLogger("credence.request")
# Echoed as sent (AuthZEN asks for that) when it is visible ASCII without spaces, <= 200 long.
_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,200}$")


class Metrics:
    """The app's own registry (not the global one), so several apps can live in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "credence_http_requests_total",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "credence_http_request_duration_seconds",
            "HTTP request latency by route template and method",
            ["route", "method"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.permission_decisions = Counter(
            "credence_permission_decisions_total",
            "Permission decisions by program kind and outcome (allow or deny)",
            ["program", "decision"],
            registry=self.registry,
        )
        self.permission_cache_learners = Gauge(
            "credence_permission_cache_learners",
            "Learners whose facts this process keeps for permission checks",
            registry=self.registry,
        )
        self.permission_cache_keeping = Gauge(
            "credence_permission_cache_keeping",
            "1 while the permission facts cache keeps learners; 0 while a model of it answers"
            " too few checks for keeping to pay (it keeps none then)",
            registry=self.registry,
        )
        self.xapi_statements = Counter(
            "credence_xapi_statements_total",
            "xAPI statements by outcome (completion, replayed, ignored_verb, ignored_object, "
            "unmapped_activity, unmapped_actor, voided, rejected, conflict)",
            ["outcome"],
            registry=self.registry,
        )


async def get_metrics(request: Request) -> Metrics:
    """The app's metrics (built with the app)."""
    metrics: Metrics = request.app.state.metrics
    return metrics


MetricsDep = Annotated[Metrics, Depends(get_metrics)]


class RequestContextMiddleware:
    """Assigns/echoes ``X-Request-ID``, logs one structured line, records metrics, and marks
    every response ``X-Content-Type-Options: nosniff`` (a browser must not render a JSON body,
    which can echo client input, as HTML or script)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_holder = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                if not any(name.lower() == b"x-content-type-options" for name, _ in headers):
                    headers.append((b"x-content-type-options", b"nosniff"))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            status = status_holder[0]
            self.metrics.requests.labels(template, method, str(status)).inc()
            self.metrics.latency.labels(template, method).observe(elapsed)
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "request",
                    extra={
                        "request_id": request_id,
                        "method": method,
                        "path": scope["path"],
                        "route": template,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _REQUEST_ID.match(text) else None
    return None


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the limit (rendered as a 413)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"Bodies are limited to {max_bytes} bytes.")


class BodyLimitMiddleware:
    """Refuses bodies over ``max_bytes`` with a 413 problem, by header or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_bytes or declared < 0:
                    await self._refuse(scope, send)
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, limited_receive, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        body = json.dumps(
            {
                "type": PROBLEM_BASE + "payload-too-large",
                "title": "Request body too large",
                "status": 413,
                "detail": f"Bodies are limited to {self.max_bytes} bytes.",
                "instance": scope["path"],
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line, with the request fields when present."""

    _FIELDS = ("request_id", "method", "path", "route", "status", "duration_ms")

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in self._FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging(level: str, as_json: bool) -> None:
    handler = logging.StreamHandler()
    if as_json:
        handler.setFormatter(JsonLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger("credence")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
