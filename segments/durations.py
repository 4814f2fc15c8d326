"""ISO 8601 durations (`PT30M`, `P3D`, `P2M`, `P1W`) with calendar arithmetic: a month added to
31 January is the last day of February, as a marketer means it. Pure code."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_PATTERN = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)
MAX_YEARS = 20


class DurationError(ValueError):
    pass


@dataclass(frozen=True)
class Duration:
    months: int = 0  # years fold into months
    days: int = 0  # weeks fold into days
    seconds: int = 0
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> Duration:
        if not isinstance(text, str):
            raise DurationError("must be an ISO 8601 duration string such as PT30M, P3D or P2M")
        match = _PATTERN.match(text.strip().upper())
        if match is None:
            raise DurationError(f"{text!r} is not an ISO 8601 duration such as PT30M, P3D or P2M")
        parts = {key: int(value) for key, value in match.groupdict().items() if value is not None}
        months = parts.get("years", 0) * 12 + parts.get("months", 0)
        days = parts.get("weeks", 0) * 7 + parts.get("days", 0)
        seconds = parts.get("hours", 0) * 3600 + parts.get("minutes", 0) * 60 + parts.get("seconds", 0)
        duration = cls(months=months, days=days, seconds=seconds, text=text.strip().upper())
        if duration.is_zero:
            raise DurationError(f"{text!r} is zero; a duration must be longer than that")
        if months > MAX_YEARS * 12 or days > MAX_YEARS * 366 or seconds > MAX_YEARS * 366 * 86400:
            raise DurationError(f"{text!r} is longer than {MAX_YEARS} years")
        return duration

    @property
    def is_zero(self) -> bool:
        return not (self.months or self.days or self.seconds)

    def after(self, moment: datetime) -> datetime:
        """moment + self, months first (calendar), then days and seconds; the last representable moment
        when that is past year 9999."""
        try:
            return _add_months(moment, self.months) + timedelta(days=self.days, seconds=self.seconds)
        except (OverflowError, ValueError):
            return datetime.max.replace(tzinfo=moment.tzinfo)

    def before(self, moment: datetime) -> datetime:
        """moment − self, the inverse order of `after`; the first representable moment when that is
        before year 1 (a window reaching back past it starts there)."""
        try:
            return _add_months(moment - timedelta(days=self.days, seconds=self.seconds), -self.months)
        except (OverflowError, ValueError):
            return datetime.min.replace(tzinfo=moment.tzinfo)

    def __str__(self) -> str:
        return self.text


def _add_months(moment: datetime, months: int) -> datetime:
    if not months:
        return moment
    index = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)
