"""Every response under ``/xapi`` carries ``X-Experience-API-Version``, errors included."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SUPPORTED_VERSIONS = ("1.0.0", "1.0.1", "1.0.2", "1.0.3", "2.0.0")
DEFAULT_VERSION = "1.0.3"
HEADER = b"x-experience-api-version"


def negotiated(requested: str | None) -> str:
    """The version a response speaks: the request's when supported, else 1.0.3."""
    return requested if requested in SUPPORTED_VERSIONS else DEFAULT_VERSION


class XapiVersionMiddleware:
    """Pure ASGI (it sits on the hot path); touches only paths under ``/xapi``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path == "/xapi" or path.startswith("/xapi/")):
            await self.app(scope, receive, send)
            return
        requested = None
        for name, value in scope.get("headers", ()):
            if name == HEADER:
                requested = value.decode("latin-1").strip()
                break
        version = negotiated(requested).encode()

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                headers.append((HEADER, version))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_version)
