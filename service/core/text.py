"""Text every database here can store: no NUL characters, no unpaired surrogates.

PostgreSQL refuses a NUL (U+0000) in any text value, and no database (nor a UTF-8 response)
can hold an unpaired surrogate (U+D800-U+DFFF alone, which JSON's ``\\ud800`` escapes and
CESU-8 bytes can carry into Python strings). SQLite would store a NUL; refusing both
everywhere keeps the two databases answering alike. :class:`TextGuardMiddleware` refuses them
once, at the edge, wherever a request can carry them in the clear (path, query string, JSON
body) with a 400 ``invalid-text`` problem; places that decode text from inside something else
(cursors, the YAML catalog, CSV rows) check with :func:`is_storable` themselves, and the
verifier looks keys up by base64url thumbprints only.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import InvalidText, invalid_text_response

MAX_REPORTED = 5
_BODILESS = frozenset({"GET", "HEAD", "OPTIONS"})  # no endpoint here reads a body on these
# UTF-8-style bytes of U+D800-U+DFFF (CESU-8), which Python's JSON reader lets through
_SURROGATE_BYTES = re.compile(rb"\xed[\xa0-\xbf]")


def is_storable(text: str) -> bool:
    """True when ``text`` has no NUL character and no unpaired surrogate."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class UnstorableText(ValueError):
    """Decoded text (a YAML document, a CSV row) holds a NUL or an unpaired surrogate."""

    def __init__(self, locations: list[str]) -> None:
        super().__init__(
            "text must not contain NUL characters or unpaired surrogates "
            f"(found at {', '.join(locations)})"
        )
        self.locations = locations


def unstorable_locations(value: Any, location: str = "") -> list[str]:
    """Where in a decoded JSON/YAML value (keys included) text is not storable, at most
    :data:`MAX_REPORTED` places, as dotted locations below ``location``."""
    found: list[str] = []
    stack: list[tuple[str, Any]] = [(location, value)]
    while stack and len(found) < MAX_REPORTED:
        where, item = stack.pop()
        if isinstance(item, str):
            if not is_storable(item):
                found.append(where or "(document)")
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                if isinstance(key, str) and not is_storable(key):
                    found.append(where or "(document)")
                    break
                stack.append((_join(where, key), child))
        elif isinstance(item, list):
            stack.extend((_join(where, i), child) for i, child in reversed(list(enumerate(item))))
    return found[:MAX_REPORTED]


def _join(where: str, part: object) -> str:
    return f"{where}.{part}" if where else str(part)


def require_storable(value: Any, location: str = "") -> None:
    """Raise :class:`UnstorableText` when ``value`` (decoded JSON/YAML) holds unstorable text."""
    locations = unstorable_locations(value, location)
    if locations:
        raise UnstorableText(locations)


def text_errors(locations: list[str]) -> list[dict[str, Any]]:
    """The ``errors`` entries of an ``invalid-text`` problem for these locations."""
    return [
        {
            "location": where,
            "message": "Text must not contain NUL characters or unpaired surrogates",
            "type": "string_unstorable",
        }
        for where in locations
    ]


def _request_line_errors(scope: Scope) -> list[dict[str, Any]]:
    locations = []
    if "\x00" in scope.get("path", ""):
        locations.append("path")
    query: bytes = scope.get("query_string", b"")
    if 0 in query or b"%00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                locations.append(f"query.{name.replace(chr(0), '?')}")
    return text_errors(locations[:MAX_REPORTED])


def _suspect(body: bytes) -> bool:
    """Whether a body may hold a NUL or an unpaired surrogate: a raw NUL, a \\u escape (the
    full check tells \\u0000 and a lone \\ud800 from the rest) or surrogate-like bytes. Byte
    membership (memchr) first: a regex or a bytes-in-bytes test costs far more per request."""
    return (
        0 in body or b"\\u" in body or (0xED in body and _SURROGATE_BYTES.search(body) is not None)
    )


def _nul_in_request_line(path: str, query: bytes) -> bool:
    return "\x00" in path or 0 in query or (0x25 in query and b"%00" in query)  # 0x25: %


def body_errors(body: bytes) -> list[dict[str, Any]]:
    """The problems of a JSON body holding unstorable text (none for any other body: what is
    not JSON is left to the endpoint that reads it)."""
    if not _suspect(body):
        return []
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return []
    return text_errors(unstorable_locations(value, "body"))


class TextGuardMiddleware:
    """Refuses NUL characters and unpaired surrogates in the path, the query string and a JSON
    body with one 400 ``invalid-text`` problem, before anything reads or stores them.

    Pure ASGI (it sits on every request). The path and query string are checked up front; the
    body as the endpoint reads it: the last chunk's ``receive`` raises :class:`InvalidText`,
    which FastAPI's body parsing passes through to the problem handler, so the body is never
    parsed twice unless it holds a ``\\u`` escape, a NUL byte or surrogate-like bytes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _nul_in_request_line(scope["path"], scope.get("query_string", b"")):
            errors = _request_line_errors(scope)
            await invalid_text_response(errors, scope["path"])(scope, receive, send)
            return
        if scope["method"] in _BODILESS:  # the hot GETs pay for the two checks above only
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def checked_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                if chunk:
                    chunks.append(chunk)
                if not message.get("more_body", False) and chunks:
                    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                    chunks.clear()
                    problems = body_errors(body)
                    if problems:
                        raise InvalidText(problems)
            return message

        await self.app(scope, checked_receive, send)
