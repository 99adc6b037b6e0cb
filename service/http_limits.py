"""A cap on the size of a request's head (request line and header fields) for ``credence serve``.

uvicorn's h11 protocol caps the head (``h11_max_incomplete_event_size``) but its httptools
protocol, the faster one ``uvicorn[standard]`` picks, caps nothing: a client could send
megabytes of header that the server keeps in memory. `HeadLimitedHttpToolsProtocol` is the
httptools protocol with the same cap, read from the same uvicorn setting, answering a head over
it with ``431 Request Header Fields Too Large`` (a problem document) and closing the connection
before the application sees the request.

Two counts, each never more than the head's real size (so a head within the cap is never
refused): the request line and header fields once the parser has them all (a head over the cap
is refused before its request is dispatched), and the bytes received while a head is still
incomplete, after the chunk it started in (this one bounds what the parser buffers for a head
that never ends to the cap plus one read).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState

from service.errors import PROBLEM_BASE, PROBLEM_MEDIA_TYPE

try:
    from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
except ImportError:  # pragma: no cover - uvicorn without httptools: h11 enforces the cap itself
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

DEFAULT_MAX_HEAD_BYTES = 16 * 1024  # h11's and Node's default


def http_protocol() -> str:
    """The ``http`` setting for uvicorn: the capped httptools protocol, or h11 (also capped)."""
    if HttpToolsProtocol is None:  # pragma: no cover
        return "h11"
    return f"{__name__}:HeadLimitedHttpToolsProtocol"


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing a head over the cap."""


if HttpToolsProtocol is not None:

    class HeadLimitedHttpToolsProtocol(HttpToolsProtocol):
        """uvicorn's httptools protocol with a cap on the request head (see the module)."""

        def __init__(
            self,
            config: Config,
            server_state: ServerState,
            app_state: dict[str, Any],
            _loop: asyncio.AbstractEventLoop | None = None,
        ) -> None:
            super().__init__(config, server_state, app_state, _loop)
            self.max_head_bytes = config.h11_max_incomplete_event_size or DEFAULT_MAX_HEAD_BYTES
            self._streamed_head_bytes = 0
            self._refused = False

        # Counting stays out of the per-header callbacks (this is every request's hot path): a
        # head in progress is one whose scope has no "method" yet (set when it completes).

        def data_received(self, data: bytes) -> None:
            before = self.scope
            super().data_received(data)
            scope = self.scope
            if scope is None or "method" in scope or self._refused:
                return  # no head in progress
            if scope is not before:  # it began in this chunk: counted when it completes
                self._streamed_head_bytes = 0
                return
            self._streamed_head_bytes += len(data)
            if self._streamed_head_bytes > self.max_head_bytes:
                self._refused = True
                if not self.transport.is_closing():
                    self._send_431()

        def on_headers_complete(self) -> None:
            size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
            if size > self.max_head_bytes:
                self._refused = True
                raise _HeadTooLarge  # the parser stops; uvicorn calls send_400_response
            super().on_headers_complete()

        def send_400_response(self, msg: str) -> None:
            if self._refused:
                self._send_431()
            else:
                super().send_400_response(msg)

        def _send_431(self) -> None:
            self.logger.warning("Request head over %d bytes refused.", self.max_head_bytes)
            body = json.dumps(
                {
                    "type": PROBLEM_BASE + "request-header-too-large",
                    "title": "Request header fields too large",
                    "status": 431,
                    "detail": f"The request line and headers are limited to "
                    f"{self.max_head_bytes} bytes.",
                }
            ).encode()
            head = [STATUS_LINE[431]]
            for name, value in self.server_state.default_headers:
                head.extend([name, b": ", value, b"\r\n"])
            head.extend(
                [
                    b"content-type: " + PROBLEM_MEDIA_TYPE.encode() + b"\r\n",
                    b"content-length: " + str(len(body)).encode() + b"\r\n",
                    b"x-content-type-options: nosniff\r\n",
                    b"connection: close\r\n\r\n",
                    body,
                ]
            )
            self.transport.write(b"".join(head))
            self.transport.close()
