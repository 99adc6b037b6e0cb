"""ISO 8601 durations (``P1Y``, ``P60D``, ``PT12H``) parsed, validated and added to datetimes.

Years and months are calendar units: ``2024-02-29 + P1Y`` is ``2025-02-28`` (clamped to the
last day of the month), never "365 days later".
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from service.core.times import EARLIEST, LATEST, clamp

_PATTERN = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)
_MAX_COMPONENT = 10_000


class DurationError(ValueError):
    """The text is not an ISO 8601 duration this service accepts."""


@dataclass(frozen=True, slots=True)
class Duration:
    """A calendar-aware duration; ``text`` is the canonical ISO 8601 form it came from."""

    years: int = 0
    months: int = 0
    days: int = 0
    seconds: int = 0
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Parse ``text`` (e.g. ``P2Y``, ``P90D``, ``P1Y6M``, ``PT36H``); raise DurationError."""
        if not isinstance(text, str):
            raise DurationError("a duration must be an ISO 8601 string such as P1Y or P90D")
        match = _PATTERN.match(text.strip().upper())
        if match is None:
            raise DurationError(
                f"{text!r} is not an ISO 8601 duration (examples: P1Y, P6M, P90D, PT12H)"
            )
        parts = {name: int(value) for name, value in match.groupdict(default="0").items()}
        if any(value > _MAX_COMPONENT for value in parts.values()):
            raise DurationError(f"{text!r} is out of range")
        duration = cls(
            years=parts["years"],
            months=parts["months"],
            days=parts["days"] + 7 * parts["weeks"],
            seconds=parts["hours"] * 3600 + parts["minutes"] * 60 + parts["seconds"],
            text=text.strip().upper(),
        )
        if duration.is_zero:
            raise DurationError(f"{text!r} is a zero duration")
        return duration

    @property
    def is_zero(self) -> bool:
        return not (self.years or self.months or self.days or self.seconds)

    def add_to(self, moment: datetime) -> datetime:
        """``moment + self``, calendar units first (clamped to month end), then days and time;
        a result past :data:`~service.core.times.LATEST` is LATEST (``P10000Y`` from now is
        as good as never)."""
        try:
            return clamp(self._shift(moment, 1))
        except (OverflowError, ValueError):  # left Python's years 1..9999
            return LATEST

    def subtract_from(self, moment: datetime) -> datetime:
        """``moment - self``, the mirror of :meth:`add_to` (saturating at EARLIEST)."""
        try:
            return clamp(self._shift(moment, -1))
        except (OverflowError, ValueError):
            return EARLIEST

    def _shift(self, moment: datetime, sign: int) -> datetime:
        if self.months or self.years:  # (days alone need no calendar: every renewal window)
            total_months = moment.month - 1 + sign * (self.months + 12 * self.years)
            year = moment.year + total_months // 12
            month = total_months % 12 + 1
            day = min(moment.day, calendar.monthrange(year, month)[1])
            moment = moment.replace(year=year, month=month, day=day)
        return moment + sign * timedelta(days=self.days, seconds=self.seconds)

    def __str__(self) -> str:
        return self.text
