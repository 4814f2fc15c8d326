"""What every PostgreSQL connection Django opens is given:

- Aware date-times travel in UTC. PostgreSQL refuses an offset beyond ±15:59 that ISO 8601 (and Python)
  allow — `?since=…T00:00-22:00` was a 500 — and UTC is what is stored anyway. A moment whose UTC falls
  outside Python's years is clamped to the first or last representable one (as a bound of a filter it
  selects the same rows).
- Date-times are written and `timestamptz` values read by psycopg's C adapters. Django's own loader
  subclasses the pure-Python one (to attach its time zone), which parses every value in Python: ~6x
  slower, and the largest single cost of reading enrollments and timers on the hot paths. The session's
  TimeZone is UTC (Django sets it), so the C loader's values are what Django's would be: aware, in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import psycopg
from psycopg.adapt import Dumper, Loader, PyFormat
from psycopg.pq import Format
from psycopg.types.datetime import DatetimeDumper

_C_DATETIME = cast(type[Dumper], psycopg.adapters.get_dumper(datetime, PyFormat.TEXT))
_C_TIMESTAMPTZ = cast(type[Loader], psycopg.adapters.get_loader(psycopg.postgres.types["timestamptz"].oid, Format.TEXT))


class UtcDatetimeDumper(DatetimeDumper):
    """Aware date-times in UTC, written by psycopg's C dumper (the pure-Python one it subclasses costs
    ~30 µs a value; the subclass keeps its choice of type for naive and aware values)."""

    def __init__(self, cls: type, context: Any = None) -> None:
        super().__init__(cls, context)
        self._dumper = _C_DATETIME(cls, context)

    def dump(self, obj: datetime) -> Any:
        if obj.tzinfo is not None and obj.utcoffset():
            try:
                obj = obj.astimezone(UTC)
            except OverflowError:
                obj = datetime.min.replace(tzinfo=UTC) if obj.year < 5000 else datetime.max.replace(tzinfo=UTC)
        return self._dumper.dump(obj)


class UtcTimestamptzLoader(Loader):
    """psycopg's C loader behind the `timezone` attribute Django's cursors check (a C class cannot be
    subclassed, so it is held)."""

    timezone = UTC

    def __init__(self, oid: int, context: Any = None) -> None:
        super().__init__(oid, context)
        self._loader = _C_TIMESTAMPTZ(oid, context)

    def load(self, data: Any) -> datetime:
        return self._loader.load(data)


def on_connection(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Django's `connection_created`: the one hook for every new database connection."""
    if connection.vendor == "postgresql":
        adapters = connection.connection.adapters
        adapters.register_dumper(datetime, UtcDatetimeDumper)
        if connection.timezone == UTC and connection.connection.info.parameter_status("TimeZone") == "UTC":
            adapters.register_loader("timestamptz", UtcTimestamptzLoader)
