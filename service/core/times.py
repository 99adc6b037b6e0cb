"""Points in time as the API takes them: RFC 3339 times that every computation here can hold.

Python's datetimes (and so the databases' drivers) stop at years 1 and 9999, and a time zone
moves an instant across that edge: ``0001-01-01T00:00:00+14:00`` is in year 0 in UTC,
``9999-12-31T23:59:59-14:00`` in year 10000, and converting either raises ``OverflowError``.
Every time a request carries (body fields, query parameters, cursors, AuthZEN
``context.time``, xAPI timestamps) is held to :data:`EARLIEST`..:data:`LATEST`, a day inside
those years, so that converting it to any zone, or stepping a moment past it, cannot overflow;
an instant outside is a 422 like any other invalid value, and so is a number (which pydantic
would otherwise read as Unix seconds or milliseconds, guessing by size). Date arithmetic on
stored times (:mod:`service.core.durations`) saturates at the same bounds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)
RANGE_TEXT = "between 0001-01-02T00:00:00Z and 9999-12-30T23:59:59Z"


def in_range(moment: datetime) -> bool:
    """True when ``moment`` (a naive one read as UTC) lies within EARLIEST..LATEST."""
    offset = moment.utcoffset()
    try:
        utc = moment.replace(tzinfo=None) - offset if offset else moment.replace(tzinfo=None)
    except OverflowError:
        return False
    return EARLIEST.replace(tzinfo=None) <= utc <= LATEST.replace(tzinfo=None)


def checked(moment: datetime) -> datetime:
    """``moment`` itself when in range; ``ValueError`` (a 422 from pydantic) otherwise."""
    if not in_range(moment):
        raise ValueError(f"the time must be {RANGE_TEXT} (in UTC)")
    return moment


def _not_a_number(value: object) -> object:
    # pydantic would read a number as Unix time, in seconds or, past 2e10, in milliseconds:
    # 253402300800 (year 10000 in seconds) became a completion in 1978
    if isinstance(value, int | float):
        raise ValueError("a time is an RFC 3339 string, not a number")
    return value


Instant = Annotated[datetime, BeforeValidator(_not_a_number), AfterValidator(checked)]
"""A datetime within range, given as text; naive ones pass through to the endpoint that
refuses them."""

AwareInstant = Annotated[AwareDatetime, BeforeValidator(_not_a_number), AfterValidator(checked)]
"""A datetime with a time zone, within range, given as text."""


def parse_instant(text: str) -> datetime:
    """``text`` (ISO 8601 / RFC 3339) as a datetime within range; ``ValueError`` otherwise.
    A naive result stays naive (callers decide what that means)."""
    return checked(datetime.fromisoformat(text))


def clamp(moment: datetime) -> datetime:
    """``moment`` held to EARLIEST..LATEST (a result of arithmetic that went past them)."""
    if moment > LATEST:
        return LATEST
    if moment < EARLIEST:
        return EARLIEST
    return moment
