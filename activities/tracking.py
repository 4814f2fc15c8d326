"""The tracked-activities registry: names seen per workspace with counts, first/last seen and the
property keys seen with their JSON types. Updated once per batch by the pipeline, with the rows locked
in name order, so it costs one read and one write per distinct name, never a scan."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from activities.models import Activity, TrackedActivity

MAX_PROPERTY_KEYS = 200


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@dataclass
class _Seen:
    count: int
    first: datetime
    last: datetime
    properties: dict[str, set[str]] = field(default_factory=dict)


def tracked_activities_record(workspace_id: int, activities: list[Activity]) -> None:
    seen: dict[str, _Seen] = {}
    for activity in activities:
        entry = seen.get(activity.name)
        if entry is None:
            entry = seen[activity.name] = _Seen(0, activity.timestamp, activity.timestamp)
        entry.count += 1
        entry.first = min(entry.first, activity.timestamp)
        entry.last = max(entry.last, activity.timestamp)
        for key, value in activity.properties.items():
            if key in entry.properties or len(entry.properties) < MAX_PROPERTY_KEYS:
                entry.properties.setdefault(key, set()).add(json_type(value))
    if not seen:
        return
    TrackedActivity.objects.bulk_create(
        [
            TrackedActivity(workspace_id=workspace_id, name=name, first_seen=s.first, last_seen=s.last)
            for name, s in sorted(seen.items())
        ],
        ignore_conflicts=True,
    )
    rows = list(
        TrackedActivity.objects.select_for_update().filter(workspace_id=workspace_id, name__in=seen).order_by("name")
    )
    for row in rows:
        entry = seen[row.name]
        row.count += entry.count
        row.first_seen = min(row.first_seen, entry.first)
        row.last_seen = max(row.last_seen, entry.last)
        for key, types in entry.properties.items():
            if key in row.properties or len(row.properties) < MAX_PROPERTY_KEYS:
                row.properties[key] = sorted(set(row.properties.get(key, [])) | types)
    TrackedActivity.objects.bulk_update(rows, ["count", "first_seen", "last_seen", "properties"])
