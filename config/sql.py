"""Set-based writes every hot path shares, the same on PostgreSQL and SQLite (the embedded default).

On PostgreSQL each helper is one fixed statement whatever the number of rows: the rows travel as one
array per column (`unnest`) with server-side binding, so psycopg neither splits nor quotes thousands of
placeholders and prepares the statement once per connection. The arrays travel in binary (`%b`): the text
form escapes every element with a regular expression, twenty times slower for a batch of 500 rows.
SQLite gets the portable multi-row form.
All run on Django's connection, inside the caller's transaction, with Django's error translation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import orjson
import psycopg
from django.db import connection


def json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


@contextmanager
def raw_cursor() -> Iterator[psycopg.Cursor]:
    """A server-side-binding psycopg cursor on Django's connection (same transaction), whose errors
    Django translates as it does for its own cursors (psycopg's OperationalError → Django's)."""
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor


def execute(sql: str, params: Sequence[Any]) -> list[tuple]:
    """One statement; its rows if it returns any. Server-side binding on PostgreSQL; on SQLite, times
    are written the way Django writes them (so they compare with the ORM's)."""
    if connection.vendor == "postgresql":
        with raw_cursor() as raw:
            raw.execute(sql, params)
            return raw.fetchall() if raw.description else []
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(sql, [adapt(p) if isinstance(p, datetime) else p for p in params])
        return cursor.fetchall() if cursor.description else []


def insert_returning(
    table: str,
    columns: list[str],
    rows: list[tuple],
    returning: str,
    json_columns: frozenset[str] = frozenset(),
    conflict: str = "",
) -> list[tuple]:
    """A multi-row INSERT … [ON CONFLICT …] RETURNING, the same on PostgreSQL and SQLite."""
    if not rows:
        return []
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    placeholders = "(" + ", ".join(f"%s{cast}" if c in json_columns else "%s" for c in columns) + ")"
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([placeholders] * len(rows))}"
        f" {conflict} RETURNING {returning}"
    )
    return execute(sql, [value for row in rows for value in row])


def insert_columns(
    table: str, columns: dict[str, str], rows: Sequence[Sequence[Any]], *, conflict: str = "", returning: str = ""
) -> list[tuple]:
    """INSERT rows given as tuples in `columns` order; `columns` maps each column to its PostgreSQL type
    (`jsonb` columns take JSON-ready values). One `unnest` statement on PostgreSQL."""
    if not rows:
        return []
    names = list(columns)
    jsonb = {i for i, kind in enumerate(columns.values()) if kind == "jsonb"}
    values = _columns(list(columns.values()), rows)
    tail = f" {conflict}" + (f" RETURNING {returning}" if returning else "")
    if connection.vendor != "postgresql":
        placeholders = "(" + ", ".join(["%s"] * len(names)) + ")"
        sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES {', '.join([placeholders] * len(rows))}{tail}"
        return execute(sql, [column[r] for r in range(len(rows)) for column in values])
    arrays = ", ".join(f"%b::{'text' if kind == 'jsonb' else kind}[]" for kind in columns.values())
    selected = ", ".join(f"{name}::jsonb" if i in jsonb else name for i, name in enumerate(names))
    sql = (
        f"INSERT INTO {table} ({', '.join(names)}) SELECT {selected} FROM unnest({arrays}) AS v({', '.join(names)})"
        f"{tail}"
    )
    return execute(sql, values)


def update_columns(
    table: str,
    key: str,
    columns: dict[str, str],
    rows: Sequence[Sequence[Any]],
    *,
    assign: Mapping[str, Any] | None = None,
    guard: str = "",
    returning: str = "",
) -> list[tuple]:
    """UPDATE rows by `key` (the first value of each row) to the other values, in one statement; `assign`
    sets columns to one value for every row (bound once, not an array of copies); `guard` is an extra SQL
    condition on the table's row (only rows still in the expected state change)."""
    if not rows:
        return []
    condition = f" AND {guard}" if guard else ""
    tail = f" RETURNING {table}.{returning}" if returning else ""
    names = [key, *columns]
    kinds = ["bigint", *columns.values()]
    values = _columns(kinds, rows)
    shared = dict(assign or {})
    assignments = ", ".join([f"{name} = v.{name}" for name in columns] + [f"{name} = %s" for name in shared])
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%b::{'text' if kind == 'jsonb' else kind}[]" for kind in kinds)
        selected = ", ".join(f"{n}::jsonb AS {n}" if k == "jsonb" else n for n, k in zip(names, kinds, strict=True))
        source = f"SELECT {selected} FROM unnest({arrays}) AS u({', '.join(names)})"
        return execute(
            f"UPDATE {table} SET {assignments} FROM ({source}) v WHERE {table}.{key} = v.{key}{condition}{tail}",
            [*shared.values(), *values],
        )
    placeholders = "(" + ", ".join(["%s"] * len(names)) + ")"
    return execute(
        f"WITH v({', '.join(names)}) AS (VALUES {', '.join([placeholders] * len(rows))}) "
        f"UPDATE {table} SET {assignments} FROM v WHERE {table}.{key} = v.{key}{condition}{tail}",
        [*(column[r] for r in range(len(rows)) for column in values), *shared.values()],
    )


def _columns(kinds: list[str], rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """Rows to one list per column: JSON as text, dates as ISO text (one element type per array, which
    binary arrays need)."""
    columns = []
    for i, kind in enumerate(kinds):
        if kind == "jsonb":
            columns.append([json_text(row[i]) if row[i] is not None else None for row in rows])
        elif kind == "date":
            columns.append([str(row[i]) if row[i] is not None else None for row in rows])
        else:
            columns.append([row[i] for row in rows])
    return columns
