"""The condition evaluator as SQL functions of SQLite connections (the embedded default): the SQL
compiler's SQLite leaves call these, so a segment on SQLite answers exactly as the Python evaluator."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

from segments.conditions import Test, compare, lookup, test_parse


def _load(document: str) -> Any:
    try:
        return orjson.loads(document)
    except orjson.JSONDecodeError:  # integers beyond 64 bits
        return json.loads(document)


@lru_cache(maxsize=1024)
def _test(text: str) -> Test:
    return test_parse(json.loads(text))


@lru_cache(maxsize=1024)
def _path(text: str) -> tuple[str, ...]:
    return tuple(orjson.loads(text))


@lru_cache(maxsize=64)
def _now(text: str) -> datetime:
    return datetime.fromisoformat(text)


def json_test(document: str | None, path: str, test: str, now: str) -> int:
    """Does the value at `path` of a JSON column pass the test?"""
    data: Any = _load(document) if document else None
    return int(compare(lookup(data, _path(path)), _test(test), _now(now)))


def attribute_test(value: Any, kind: str, test: str, now: str) -> int:
    """A profile field as `ProfileSubject.attribute` gives it: times in ISO 8601, '' absent."""
    if value is None or value == "":
        actual = None
    elif kind == "time":
        actual = datetime.fromisoformat(str(value)).replace(tzinfo=UTC).isoformat()
    else:
        actual = str(value)
    return int(compare(actual, _test(test), _now(now)))


def register(connection: Any) -> None:
    """Add the functions to a new SQLite connection (Django's `connection_created`)."""
    connection.create_function("nudge_json_test", 4, json_test, deterministic=True)
    connection.create_function("nudge_attribute_test", 4, attribute_test, deterministic=True)
