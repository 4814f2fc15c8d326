"""The journey counters (§8.7): added to, never recounted. Every writer — the runtime's flush, message
delivery and tracking — adds its increments with one upsert."""

from __future__ import annotations

from datetime import date

from config.sql import insert_columns
from journeys.models import JourneyStat

# (journey id, version id, day, metric, node, outcome) → how many to add
StatKey = tuple[int, int, date | str, str, str, str]


def stats_add(counts: dict[StatKey, int]) -> None:
    """One statement for any number of increments, rows in key order (concurrent adders lock alike)."""
    if not counts:
        return
    table = JourneyStat._meta.db_table
    insert_columns(
        table,
        {
            "journey_id": "bigint",
            "version_id": "bigint",
            "day": "date",
            "metric": "text",
            "node": "text",
            "outcome": "text",
            "count": "bigint",
        },
        [(*key, count) for key, count in sorted(counts.items(), key=lambda item: tuple(map(str, item[0])))],
        conflict=(
            "ON CONFLICT (journey_id, version_id, day, metric, node, outcome) "
            f"DO UPDATE SET count = {table}.count + excluded.count"
        ),
    )
