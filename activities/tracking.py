"""What the pipeline records about every stored activity: profiles' first/last seen times, and the
tracked-activities registry: names seen per workspace with counts, first/last seen and the
property keys seen with their JSON types. Updated once per batch by the pipeline, with the rows locked
in name order, so it costs one read and one write per distinct name, never a scan."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection

from activities.models import Activity, Profile, TrackedActivity
from activities.names import counts_as_any
from config.sql import update_columns

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
    names = set(seen)
    known = _known_names.setdefault(workspace_id, set())
    if not names <= known:
        _tracked_insert(workspace_id, names - known, seen)
    rows = _tracked_locked(workspace_id, names)
    if len(rows) < len(names):  # a row this worker knew of was deleted since
        _tracked_insert(workspace_id, names - {row.name for row in rows}, seen)
        rows = _tracked_locked(workspace_id, names)
    known |= names
    for row in rows:
        entry = seen[row.name]
        row.count += entry.count
        row.first_seen = min(row.first_seen, entry.first)
        row.last_seen = max(row.last_seen, entry.last)
        for key, types in entry.properties.items():
            if key in row.properties or len(row.properties) < MAX_PROPERTY_KEYS:
                row.properties[key] = sorted(set(row.properties.get(key, [])) | types)
    update_columns(
        TrackedActivity._meta.db_table,
        "id",
        {"count": "bigint", "first_seen": "timestamptz", "last_seen": "timestamptz", "properties": "jsonb"},
        [(row.pk, row.count, row.first_seen, row.last_seen, row.properties) for row in rows],
    )


# Names each worker has seen stored, per workspace: new rows are inserted before any row is locked (in
# name order), so two batches never wait on each other's inserts while holding locks.
_known_names: dict[int, set[str]] = {}


def _tracked_insert(workspace_id: int, names: set[str], seen: dict[str, _Seen]) -> None:
    TrackedActivity.objects.bulk_create(
        [
            TrackedActivity(
                workspace_id=workspace_id, name=name, first_seen=seen[name].first, last_seen=seen[name].last
            )
            for name in sorted(names)
        ],
        ignore_conflicts=True,
    )


def _tracked_locked(workspace_id: int, names: set[str]) -> list[TrackedActivity]:
    rows = TrackedActivity.objects.filter(workspace_id=workspace_id, name__in=names).order_by("name")
    if connection.features.has_select_for_update:
        rows = rows.select_for_update()
    return list(rows)


def profiles_seen_record(workspace_id: int, activities: list[Activity]) -> None:
    """Widen first/last seen of the batch's profiles; rows locked in id order, one UPDATE."""
    seen: dict[int, tuple[datetime, datetime]] = {}
    for activity in activities:
        if not counts_as_any(activity.name):
            continue  # what Nudge records about a profile is not the profile being seen
        first, last = seen.get(activity.profile_id, (activity.timestamp, activity.timestamp))
        seen[activity.profile_id] = (min(first, activity.timestamp), max(last, activity.timestamp))
    if not seen:
        return
    ids = sorted(seen)
    locked = Profile.objects.filter(pk__in=ids).order_by("pk")
    if connection.features.has_select_for_update:
        locked = locked.select_for_update(no_key=True)
    list(locked.values_list("pk", flat=True))
    table = Profile._meta.db_table
    cast = ("::bigint", "::timestamptz") if connection.vendor == "postgresql" else ("", "")
    least, greatest = ("LEAST", "GREATEST") if connection.vendor == "postgresql" else ("MIN", "MAX")
    values = ", ".join([f"(%s{cast[0]}, %s{cast[1]}, %s{cast[1]})"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH v(id, f, l) AS (VALUES {values}) "
            f"UPDATE {table} SET first_seen = {least}(COALESCE({table}.first_seen, v.f), v.f), "
            f"last_seen = {greatest}(COALESCE({table}.last_seen, v.l), v.l) "
            f"FROM v WHERE {table}.id = v.id",
            [value for pk in ids for value in (pk, *seen[pk])],
        )
