"""Reading a statements request body (``application/json`` or ``multipart/mixed``) and matching
attachment parts to the statements' ``attachments[].sha2`` (xAPI 1.0.3 Communication 1.5.2).

A part is matched to an attachment only by the SHA-2 of its raw data, computed here and
compared with both its ``X-Experience-API-Hash`` and the statements' ``sha2`` values. A part
that matches no attachment, or an attachment with neither a ``fileUrl`` nor a part, is a 400.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from service.core.text import text_errors, unstorable_locations
from service.errors import InvalidText, ServiceError
from service.xapi import multipart
from service.xapi.multipart import HASH_HEADER, MultipartError, Part
from service.xapi.validation import Statement


class MalformedBody(ServiceError):
    status = 400
    type = "malformed-body"
    title = "The request body is not valid JSON"


class UnsupportedContentType(ServiceError):
    status = 400
    type = "xapi-content-type"
    title = "Statements are sent as application/json or multipart/mixed"


class AttachmentMismatch(ServiceError):
    status = 400
    type = "xapi-attachments"
    title = "The attachment parts do not match the statements' attachments"


@dataclass(frozen=True, slots=True)
class Received:
    """Attachment data whose SHA-2 was checked against a statement's ``sha2``."""

    sha2: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class StatementsBody:
    statements: Any  # the decoded JSON: a statement or an array of them
    parts: list[Part] | None  # attachment parts of a multipart request, else None


def read_body(content_type: str | None, body: bytes) -> StatementsBody:
    """Decode a POST/PUT body; a missing Content-Type is read as JSON."""
    media = multipart.media_type(content_type or "application/json")
    if media == "application/json" or media.endswith("+json"):
        return StatementsBody(_json(body, "The body"), None)
    if media != "multipart/mixed":
        raise UnsupportedContentType(
            f"Send statements as application/json, or as multipart/mixed with attachments; "
            f"got {media[:100]!r}."
        )
    marker = multipart.boundary(content_type or "")
    if marker is None:
        raise MalformedBody("A multipart/mixed body needs a boundary parameter.")
    try:
        parts = multipart.split(body, marker)
    except MultipartError as exc:
        raise MalformedBody(f"The multipart/mixed body is malformed: {exc}.") from None
    if not parts:
        raise MalformedBody("The multipart/mixed body has no parts.")
    if parts[0].media_type != "application/json":
        raise UnsupportedContentType(
            "The first part of a multipart/mixed statement request holds the statements and "
            f"must be application/json; got {parts[0].media_type[:100]!r}."
        )
    statements = _json(parts[0].body, "The first part")
    # the text guard reads JSON bodies only: the statements of a multipart body are checked here
    unstorable = unstorable_locations(statements, "part 1")
    if unstorable:
        raise InvalidText(text_errors(unstorable))
    return StatementsBody(statements, parts[1:])


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # RecursionError: deeply nested arrays
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:200]
        raise MalformedBody(f"{what} is not valid JSON: {reason}.") from None


def match(
    statements: Sequence[Statement], parts: list[Part] | None, *, location: str
) -> list[Received]:
    """The verified attachment data of ``statements`` (empty for a JSON request), or a 400.

    ``location`` names the statements in errors (``statements`` or ``statement``).
    """
    wanted = {ref.sha2 for s in statements for ref in s.attachments}
    received: dict[str, Received] = {}
    for number, part in enumerate(parts or [], start=2):
        where = f"part {number}"
        declared = part.headers.get(HASH_HEADER, "").strip().lower()
        if not declared:
            raise AttachmentMismatch(
                f"The {where} has no X-Experience-API-Hash header.", field=where
            )
        encoding = part.headers.get("content-transfer-encoding", "binary").strip().lower()
        if encoding != "binary":
            raise AttachmentMismatch(
                f"The {where} has Content-Transfer-Encoding {encoding!r}; attachment parts are "
                "sent as binary.",
                field=where,
            )
        actual = multipart.sha2_hex(part.body, declared)
        if actual != declared:
            raise AttachmentMismatch(
                f"The data of the {where} does not hash to its X-Experience-API-Hash "
                f"{declared[:128]} (SHA-224, -256, -384 or -512 in hex).",
                field=where,
            )
        if declared not in wanted:
            raise AttachmentMismatch(
                f"The {where} (sha2 {declared}) matches no attachment of the statements.",
                field=where,
            )
        content_type = part.headers.get("content-type", "")
        received.setdefault(declared, Received(declared, content_type, part.body))
    for index, statement in enumerate(statements):
        for ref in statement.attachments:
            if ref.file_url or ref.sha2 in received:
                continue
            field = (
                f"{location}[{index}].{ref.where}"
                if location == "statements"
                else f"{location}.{ref.where}"
            )
            how = (
                ": send its data as a part of a multipart/mixed request"
                if parts is None
                else " and no part carries data with its sha2"
            )
            raise AttachmentMismatch(f"{field} has no fileUrl{how}.", field=field, sha2=ref.sha2)
    by_sha = {ref.sha2: ref for s in statements for ref in s.attachments}
    return [
        Received(r.sha2, _clean(r.content_type or by_sha[r.sha2].content_type), r.data)
        for r in received.values()
    ]


def _clean(content_type: str) -> str:
    """A media type safe to repeat in a header (no line breaks), at most 255 characters."""
    return " ".join(content_type.split())[:255] or "application/octet-stream"
