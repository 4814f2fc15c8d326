"""What every PostgreSQL connection Django opens is given: aware date-times travel in UTC. PostgreSQL
refuses an offset beyond ±15:59 that ISO 8601 (and Python) allow — `?since=…T00:00-22:00` was a 500 —
and UTC is what is stored anyway. A moment whose UTC falls outside Python's years is clamped to the
first or last representable one (as a bound of a filter it selects the same rows)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg.types.datetime import DatetimeDumper


class UtcDatetimeDumper(DatetimeDumper):
    def dump(self, obj: datetime) -> Any:
        if obj.tzinfo is not None and obj.utcoffset():
            try:
                obj = obj.astimezone(UTC)
            except OverflowError:
                obj = datetime.min.replace(tzinfo=UTC) if obj.year < 5000 else datetime.max.replace(tzinfo=UTC)
        return super().dump(obj)


def on_connection(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Django's `connection_created`: the one hook for every new database connection."""
    if connection.vendor == "postgresql":
        connection.connection.adapters.register_dumper(datetime, UtcDatetimeDumper)
