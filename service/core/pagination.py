"""Cursor pagination: opaque cursors, a bounded page size, one page shape for every list.

A cursor is base64url of the JSON position of the last item shown. A list decodes it with the
shape it encodes (:data:`BY_TEXT`, :data:`BY_INT32`, :data:`BY_INT64`,
:data:`BY_TIME_AND_TEXT`, or a ``TypeAdapter`` of its own built from :data:`CursorText` and
:data:`CursorTime`), so a cursor this API never returned - another list's, a hand-made
``["x", 1]``, a huge number, a naive time, a NUL in an id - is a 400 on every list, before it
reaches a query.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    Field,
    StrictInt,
    StrictStr,
    TypeAdapter,
)

from service.core.ids import INT32_MAX, INT64_MAX
from service.core.text import is_storable
from service.core.times import checked
from service.errors import BadRequest

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of a list; pass ``next_cursor`` back as ``cursor`` for the next one."""

    items: list[T]
    next_cursor: str | None = None


def _storable(text: str) -> str:
    if not is_storable(text):
        raise ValueError("not storable text")
    return text


def _text_only(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("a time in a cursor is a string")
    return value


CursorText = Annotated[StrictStr, Field(max_length=500), AfterValidator(_storable)]
CursorTime = Annotated[AwareDatetime, BeforeValidator(_text_only), AfterValidator(checked)]


BY_TEXT: TypeAdapter[str] = TypeAdapter(CursorText)
BY_INT32: TypeAdapter[int] = TypeAdapter(Annotated[StrictInt, Field(ge=0, le=INT32_MAX)])
BY_INT64: TypeAdapter[int] = TypeAdapter(Annotated[StrictInt, Field(ge=0, le=INT64_MAX)])
BY_TIME_AND_TEXT: TypeAdapter[tuple[datetime, str]] = TypeAdapter(tuple[CursorTime, CursorText])


def encode_cursor(position: Any) -> str:
    raw = json.dumps(position, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, shape: TypeAdapter[T]) -> T | None:
    """The position a cursor stands for (None for the first page), checked against the
    ``shape`` the list encodes; a cursor this API did not return is a 400."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return shape.validate_python(json.loads(base64.urlsafe_b64decode(padded.encode())))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError) as exc:
        # ValidationError is a ValueError: the JSON is fine but not this list's position
        raise BadRequest("The cursor is not one this API returned.") from exc


CursorParam = Annotated[
    str | None, Query(max_length=500, description="Cursor from the previous page's next_cursor")
]
LimitParam = Annotated[
    int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"Page size (max {MAX_PAGE_SIZE})")
]
