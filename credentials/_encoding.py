"""Strict encodings shared by the package: base64url, JSON and RFC 3339 dates (internal)."""

from __future__ import annotations

import binascii
import functools
import json
import re
from datetime import UTC, datetime
from typing import Any

# base64url alphabet -> standard alphabet; '+', '/' and '=' become '!' so that the strict
# decoder rejects them (a base64url segment must not contain them).
_B64URL_TO_STD = bytes.maketrans(b"-_+/=", b"+/!!!")
_STD_TO_B64URL = bytes.maketrans(b"+/", b"-_")


class EncodingError(ValueError):
    """Raised by the strict decoders in this module."""


def b64url_encode(data: bytes) -> str:
    """Encode bytes as base64url without padding."""
    return binascii.b2a_base64(data, newline=False).translate(_STD_TO_B64URL).rstrip(b"=").decode()


def b64url_decode(text: str | bytes, *, canonical: bool = False) -> bytes:
    """Decode unpadded base64url strictly.

    Refuses padding, whitespace and any character outside ``[A-Za-z0-9_-]``; with
    ``canonical=True`` also refuses encodings whose unused trailing bits are not zero.
    """
    raw = text.encode("ascii", "strict") if isinstance(text, str) else text
    rem = len(raw) % 4
    if rem == 1:
        raise EncodingError("invalid base64url length")
    padded = raw.translate(_B64URL_TO_STD) + b"=" * ((4 - rem) % 4)
    try:
        out = binascii.a2b_base64(padded, strict_mode=True)
    except binascii.Error as exc:
        raise EncodingError("invalid base64url") from exc
    if canonical and rem and b64url_encode(out).encode() != raw:
        raise EncodingError("non-canonical base64url")
    return out


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise EncodingError(f"duplicate JSON member {key!r}")
            seen.add(key)
    return out


def _reject_constant(name: str) -> Any:
    raise EncodingError(f"non-standard JSON constant {name}")


_DECODER = json.JSONDecoder(object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)


def json_loads_strict(data: bytes | str) -> Any:
    """Parse JSON refusing duplicate member names, NaN/Infinity and trailing data."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return _DECODER.decode(text)
    except EncodingError:
        raise
    except (ValueError, RecursionError) as exc:
        # ValueError also covers integers over Python's digit limit; RecursionError, nesting.
        raise EncodingError(f"invalid JSON: {exc}") from exc


def json_dumps_compact(value: Any) -> bytes:
    """Serialise JSON compactly (no whitespace, UTF-8, key order preserved)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def format_datetime(value: datetime) -> str:
    """Format a tz-aware datetime as RFC 3339 UTC with a ``Z``, truncated to whole seconds."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_datetime(text: object) -> datetime:
    """Parse an RFC 3339 date-time that carries a time zone; raise `EncodingError` otherwise."""
    if not isinstance(text, str):
        raise EncodingError("not an RFC 3339 date-time with a time zone")
    return _parse_datetime_str(text)


@functools.lru_cache(maxsize=4096)  # pure function; a verify parses the same dates repeatedly
def _parse_datetime_str(text: str) -> datetime:
    if not _RFC3339.fullmatch(text):
        raise EncodingError("not an RFC 3339 date-time with a time zone")
    norm = text.upper()
    frac = norm.find(".")
    if frac != -1:  # fromisoformat takes at most 6 fractional digits
        end = frac + 1
        while end < len(norm) and norm[end].isdigit():
            end += 1
        norm = norm[: frac + 7 if end - frac > 7 else end] + norm[end:]
    try:
        return datetime.fromisoformat(norm)
    except ValueError as exc:
        raise EncodingError(f"invalid date-time: {exc}") from exc


_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_INDEX = {c: i for i, c in enumerate(_BASE58)}


def base58btc_encode(data: bytes) -> str:
    """Bitcoin base58 (the alphabet multibase ``z`` names)."""
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, digit = divmod(number, 58)
        out.append(_BASE58[digit])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(out))


def base58btc_decode(text: str) -> bytes:
    number = 0
    for char in text:
        digit = _BASE58_INDEX.get(char)
        if digit is None:
            raise ValueError(f"not base58btc: {char!r}")
        number = number * 58 + digit
    zeros = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * zeros + body
