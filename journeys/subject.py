"""A stored profile seen through the condition `Subject` protocol, for the live runtime."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from activities.models import Activity, Profile
from config.sql import execute
from segments.conditions import Condition, event_matches

HISTORY_SCAN_LIMIT = 10_000  # a `performed … where` over more rows than this needs the SQL compiler


class ProfileSubject:
    def __init__(self, profile: Profile) -> None:
        self.profile = profile

    @property
    def traits(self) -> Mapping[str, Any]:
        return self.profile.traits

    @property
    def tags(self) -> frozenset[str]:
        return frozenset(self.profile.tags)

    def reachable(self, channel: str) -> bool:
        consent = self.profile.consent
        if consent.get(channel) is False:
            return False
        if channel == "email":
            return bool(self.profile.email)
        if channel == "sms":
            return bool(self.profile.phone)
        if channel in ("push", "web_push"):
            return self.profile.push_devices.exists()
        return channel in ("in_app", "webhook")

    def in_segment(self, segment: str) -> bool:
        # Segments are not built yet; publishing refuses documents that name one (journeys/services.py).
        return False

    def count(self, name: str, where: Condition | None, since: datetime | None, until: datetime) -> int:
        """One fixed statement (prepared once per connection): history conditions are asked per entry."""
        params = [self.profile.pk, name, since or EARLIEST, until]
        if where is None:
            ((total,),) = execute(COUNT_SQL, params)
            return int(total)
        return sum(
            1
            for (properties,) in execute(PROPERTIES_SQL, [*params, HISTORY_SCAN_LIMIT])
            if event_matches(where, _json(properties), until)
        )


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_HISTORY = f"FROM {Activity._meta.db_table} WHERE profile_id = %s AND name = %s AND timestamp >= %s AND timestamp <= %s"
COUNT_SQL = f"SELECT count(*) {_HISTORY}"
PROPERTIES_SQL = f"SELECT properties {_HISTORY} LIMIT %s"
