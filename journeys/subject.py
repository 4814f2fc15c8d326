"""A stored profile seen through the condition `Subject` protocol, for the live runtime."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from activities.models import Activity, Profile
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
        rows = Activity.objects.filter(profile=self.profile, name=name, timestamp__lte=until)
        if since is not None:
            rows = rows.filter(timestamp__gte=since)
        if where is None:
            return rows.count()
        return sum(
            1
            for properties in rows.values_list("properties", flat=True)[:HISTORY_SCAN_LIMIT]
            if event_matches(where, properties, until)
        )
