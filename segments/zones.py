"""Time zone names as SDKs, the API and the panel send them, checked before `ZoneInfo` sees them. Pure
code, shared by ingestion, the engine, the simulator and delivery.

`ZoneInfo(name)` reads a file named after the zone: a name too long for the file system raised OSError
(a 500 from `/v1/track` with a 300-character `context.timezone`, sent with the public write key), and
one naming no zone a KeyError or ValueError. Here a name is a zone only if it is one of the IANA names
this machine knows (`zoneinfo.available_timezones`, read once)."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache
from zoneinfo import ZoneInfo

UTC_ZONE = ZoneInfo("UTC")


@lru_cache(maxsize=1)
def _names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def zone_named(name: object) -> ZoneInfo | None:
    """The IANA zone of that name; None for anything else (not a string, unknown, over-long)."""
    if not isinstance(name, str) or name not in _names():
        return None
    return ZoneInfo(name)
