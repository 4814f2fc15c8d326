"""A stored profile seen through the condition `Subject` protocol, for the live runtime. History and
segments are asked of the database through the SQL compiler (`segments/compiler.py`), one profile at a
time by index, unless the caller answered the segments for a whole batch already (`segments`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from activities.models import Activity, Profile
from config.sql import execute
from segments import selectors
from segments.conditions import ANY_ACTIVITY, Condition


class ProfileSubject:
    def __init__(self, profile: Profile, *, segments: Mapping[str, bool] | None = None) -> None:
        self.profile = profile
        self._segments = dict(segments or {})
        self._platforms: list[str] | None = None

    @property
    def traits(self) -> Mapping[str, Any]:
        return self.profile.traits

    @property
    def tags(self) -> frozenset[str]:
        return frozenset(self.profile.tags)

    def attribute(self, name: str) -> str | None:
        value = getattr(self.profile, name)
        if isinstance(value, datetime):
            return value.isoformat()
        return value or None

    def reachable(self, channel: str) -> bool:
        """An address on the channel and no opt-out of it (as delivery sees it: push to devices other
        than browsers, web push to browsers)."""
        if self.profile.consent.get(channel) is False:
            return False
        if channel == "email":
            return bool(self.profile.email)
        if channel == "sms":
            return bool(self.profile.phone)
        if channel in ("push", "web_push"):
            if self._platforms is None:
                self._platforms = list(self.profile.push_devices.values_list("platform", flat=True))
            web = [platform == "web" for platform in self._platforms]
            return any(web) if channel == "web_push" else not all(web)
        return channel in ("in_app", "webhook")

    def in_segment(self, segment: str) -> bool:
        if segment not in self._segments:
            self._segments[segment] = selectors.in_segment(self.profile.workspace_id, segment, self.profile.pk)
        return self._segments[segment]

    def count(self, name: str, where: Condition | None, since: datetime | None, until: datetime) -> int:
        """Every matching activity counts, however long the history (no scan limit)."""
        if where is None and name != ANY_ACTIVITY:
            # The common case is one fixed statement, prepared once per connection.
            ((total,),) = execute(COUNT_SQL, [self.profile.pk, name, since or EARLIEST, until])
            return int(total)
        return selectors.history_count(self.profile.pk, name, where, since, until)


EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_HISTORY = f"FROM {Activity._meta.db_table} WHERE profile_id = %s AND name = %s AND timestamp >= %s AND timestamp <= %s"
COUNT_SQL = f"SELECT count(*) {_HISTORY}"
