"""The rules every send passes before it goes out, as pure functions: consent (opt-outs per channel,
category, or both), quiet hours in the profile's timezone, and frequency caps.

Consent keys on a profile: `{"email": false}` (the channel), `{"promotional": false}` (the category),
`{"email:promotional": false}` (that category on that channel). Absent means allowed. A transactional
category skips opt-outs, caps and quiet hours: a receipt or a password reset must arrive, and now.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from segments.durations import Duration
from segments.zones import UTC_ZONE, zone_named


def opt_out(consent: Mapping[str, Any], channel: str, category: str, *, transactional: bool) -> str | None:
    """Why the profile does not want this message, or None."""
    if transactional:
        return None
    for key in (channel, category, f"{channel}:{category}"):
        if consent.get(key) is False:
            return f"opted out of {key}"
    return None


def zone_of(name: str, fallback: str = "UTC") -> ZoneInfo:
    return zone_named(name) or zone_named(fallback) or UTC_ZONE


def quiet_until(now: datetime, zone: ZoneInfo, start: time | None, end: time | None) -> datetime | None:
    """If `now` falls in the quiet window [start, end) of the profile's local day (a window may cross
    midnight, 22:00–08:00), the moment it ends; else None. Built from the local date and wall time, so
    it is right on DST days (a 08:00 end is 08:00 local whatever the offset did overnight)."""
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(zone)
    t = local.time().replace(tzinfo=None)
    if start < end:
        inside, ends_on = start <= t < end, local.date()
    else:
        inside = t >= start or t < end
        ends_on = local.date() + timedelta(days=1) if t >= start else local.date()
    if not inside:
        return None
    return datetime.combine(ends_on, end, tzinfo=zone).astimezone(now.tzinfo)


@dataclass(frozen=True)
class Cap:
    channel: str  # or "*"
    category: str  # or "*"
    max: int
    per: Duration

    def applies(self, channel: str, category: str) -> bool:
        return self.channel in ("*", channel) and self.category in ("*", category)

    def __str__(self) -> str:
        return f"at most {self.max} {self.category} {self.channel} messages per {self.per}".replace(" * ", " ")


def caps_parse(raw: Any) -> tuple[list[Cap], list[tuple[str, str]]]:
    """(caps, problems as (field, message)) from a policy's `frequency_caps` list."""
    caps: list[Cap] = []
    problems: list[tuple[str, str]] = []
    if not isinstance(raw, list):
        return [], [("frequency_caps", "must be a list")]
    for i, item in enumerate(raw):
        where = f"frequency_caps[{i}]"
        if not isinstance(item, dict):
            problems.append((where, "must be an object"))
            continue
        limit = item.get("max")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            problems.append((f"{where}.max", "must be a whole number ≥ 0"))
            continue
        try:
            per = Duration.parse(item.get("per", "P1D"))
        except (ValueError, TypeError) as error:
            problems.append((f"{where}.per", str(error)))
            continue
        channel, category = item.get("channel", "*"), item.get("category", "*")
        if not isinstance(channel, str) or not isinstance(category, str):
            problems.append((where, "channel and category must be strings"))
            continue
        caps.append(Cap(channel, category, limit, per))
    return caps, problems
