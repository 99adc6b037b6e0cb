"""``multipart/mixed`` (RFC 2046) as xAPI uses it for statements with attachments: the first
part holds the statements (``application/json``), each further part one attachment's raw
octets with its ``X-Experience-API-Hash``. Splitting and composing bodies, nothing else."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message

HASH_HEADER = "x-experience-api-hash"
#: SHA-2 digests by the length of their hex form (xAPI names no algorithm: the length tells).
_SHA2_BY_HEX_LENGTH = {56: "sha224", 64: "sha256", 96: "sha384", 128: "sha512"}


class MultipartError(ValueError):
    """The body is not a well-formed multipart/mixed document."""


@dataclass(frozen=True, slots=True)
class Part:
    headers: dict[str, str]  # names lowercased
    body: bytes

    @property
    def media_type(self) -> str:
        return media_type(self.headers.get("content-type", ""))


def media_type(content_type: str) -> str:
    """``type/subtype`` of a Content-Type value, lowercased, without parameters."""
    return content_type.split(";", 1)[0].strip().lower()


def boundary(content_type: str) -> str | None:
    """The ``boundary`` parameter of a multipart Content-Type (quoted or not)."""
    message = Message()
    message["content-type"] = content_type
    found = message.get_param("boundary")
    return found if isinstance(found, str) and found else None


def split(body: bytes, boundary_text: str) -> list[Part]:
    """The body parts between the delimiters (preamble and epilogue dropped)."""
    if not 1 <= len(boundary_text) <= 70:
        raise MultipartError("the boundary must be 1 to 70 characters")
    try:
        delimiter = b"--" + boundary_text.encode("ascii")
    except UnicodeEncodeError:
        raise MultipartError("the boundary must be ASCII") from None
    if body.startswith(delimiter):
        position = 0
    else:
        position = body.find(b"\r\n" + delimiter)
        if position < 0:
            raise MultipartError("the body does not contain the boundary")
        position += 2
    parts: list[Part] = []
    while True:
        position += len(delimiter)
        if body[position : position + 2] == b"--":
            return parts
        line_end = body.find(b"\r\n", position)
        if line_end < 0 or body[position:line_end].strip(b" \t"):
            raise MultipartError("a boundary line is malformed (or the closing one is missing)")
        start = line_end + 2
        end = body.find(b"\r\n" + delimiter, start)
        if end < 0:
            raise MultipartError("the closing boundary is missing")
        parts.append(_part(body[start:end]))
        position = end + 2


def _part(raw: bytes) -> Part:
    if raw.startswith(b"\r\n"):
        return Part({}, raw[2:])
    head_end = raw.find(b"\r\n\r\n")
    if head_end < 0:
        raise MultipartError("a part has no blank line after its headers")
    headers: dict[str, str] = {}
    for line in raw[:head_end].split(b"\r\n"):
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon or not name.strip():
            raise MultipartError(f"a part header line is malformed: {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    return Part(headers, raw[head_end + 4 :])


def sha2_hex(data: bytes, like: str) -> str | None:
    """The SHA-2 digest of ``data`` in the algorithm whose hex length ``like`` has (None when
    no SHA-2 digest is that long)."""
    algorithm = _SHA2_BY_HEX_LENGTH.get(len(like))
    return None if algorithm is None else hashlib.new(algorithm, data).hexdigest()


def compose(first: bytes, attachments: Iterable[tuple[str, str, bytes]]) -> tuple[str, bytes]:
    """A multipart/mixed body: ``first`` as the JSON part, then (content type, sha2, data)
    parts. Returns the Content-Type (with its boundary) and the body."""
    marker = "credence-" + secrets.token_hex(16)
    delimiter = b"--" + marker.encode()
    chunks = [delimiter, b"\r\nContent-Type: application/json\r\n\r\n", first]
    for content_type, sha2, data in attachments:
        head = (
            f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: binary\r\n"
            f"X-Experience-API-Hash: {sha2}\r\n\r\n"
        )
        chunks += [b"\r\n", delimiter, b"\r\n", head.encode("latin-1", "replace"), data]
    chunks += [b"\r\n", delimiter, b"--\r\n"]
    return f'multipart/mixed; boundary="{marker}"', b"".join(chunks)
