"""The condition vocabulary of PRODUCT.md §5 as typed objects: parsing with errors that name the bad
field, and the Python evaluator (one profile, one event). Pure code: what a condition may ask about a
profile goes through the small `Subject` protocol, so the live runtime, the simulator and the tests
each answer it their own way. `segments/compiler.py` compiles the same objects to SQL, and a property
test holds the two to the same answers.

Semantics (the SQL compiler matches them exactly):
- A dotted path reaches nested keys of objects (never into lists); a missing key or null is "absent".
- Strings compare ignoring case, as Python's `str.lower` folds them (the Unicode lower-case mapping).
- `eq`, `neq`, `in`, `not_in`: two strings compare as text; a number and a number, or a number and a
  numeric string, compare as numbers (`"100"` equals `100`, but `"01"` is not `"1"`); `true`/`false`
  equal only booleans, or the strings "true"/"false"; lists and objects equal nothing. `neq`, `not_in`
  and `not_contains` are true for an absent value.
- `gt`, `gte`, `lt`, `lte`, `between` compare numbers, and numeric strings as numbers; anything else
  (text, booleans, absent) never matches. A numeric string is a plain decimal (`"12"`, `" -1.5e3 "`),
  and a number counts only while its magnitude is below 1e300.
- `contains` / `not_contains` test a substring of a string or an element of a list (by `eq`).
- `before`, `after` compare ISO 8601 date-times (`2025-01-31`, `2025-01-31T10:00:00Z`, with an
  offset or without one, which means UTC); `within_last` is true within the duration before now.
- `is_true` / `is_false` match booleans (and the strings "true" / "false").
- Leading and trailing spaces, tabs and line breaks around numbers, dates and "true"/"false" are ignored.
- `performed: "*"` counts any activity the profile did (see `activities.names.counts_as_any`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Protocol

from activities.names import counts_as_any
from segments.durations import Duration, DurationError

NUMERIC_OPS = frozenset({"gt", "gte", "lt", "lte", "between"})
STRING_OPS = frozenset({"contains", "not_contains", "starts_with", "ends_with"})
DATE_OPS = frozenset({"before", "after", "within_last"})
UNARY_OPS = frozenset({"exists", "not_exists", "is_true", "is_false"})
OPS = NUMERIC_OPS | STRING_OPS | DATE_OPS | UNARY_OPS | {"eq", "neq", "in", "not_in"}
CHANNELS = frozenset({"email", "sms", "push", "web_push", "in_app", "webhook"})
# The profile's own fields a condition may test (`{"attribute": "first_seen", …}`), by kind: times take
# exists / not_exists and the date operators; text takes every operator, the empty string being absent.
ATTRIBUTES = {"first_seen": "time", "last_seen": "time", "user_id": "text", "timezone": "text", "locale": "text"}
TIME_OPS = DATE_OPS | {"exists", "not_exists"}
MAX_DEPTH = 10
ANY_ACTIVITY = "*"
# What is trimmed around numbers, dates and booleans written as text (the same set in SQL).
BLANKS = " \t\n\r"
NUMBER_LIMIT = 1e300
_NUMERIC = re.compile(r"[+-]?(?:[0-9]{1,100}(?:\.[0-9]{0,100})?|\.[0-9]{1,100})(?:[eE][+-]?[0-9]{1,3})?")
_DATETIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?([Zz]|[+-][0-9]{2}:[0-9]{2})?)?"
)


class ConditionError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Test:
    """An operator with its validated operand."""

    op: str
    value: Any = None

    def to_json(self) -> dict[str, Any]:
        """The operator and operand as a condition writes them (parsed back by `test_parse`)."""
        value = self.value
        if isinstance(value, Duration):
            value = value.text
        elif isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        return {"op": self.op, "value": value}


def test_parse(data: dict[str, Any]) -> Test:
    return _test(data, "test")


@dataclass(frozen=True)
class PropertyIs:
    path: tuple[str, ...]
    test: Test


@dataclass(frozen=True)
class TraitIs:
    path: tuple[str, ...]
    test: Test


@dataclass(frozen=True)
class AttributeIs:
    """A field Nudge keeps on the profile (first/last seen, user id, time zone, locale)."""

    name: str
    test: Test


@dataclass(frozen=True)
class HasTag:
    tag: str


@dataclass(frozen=True)
class InSegment:
    segment: str


@dataclass(frozen=True)
class Reachable:
    channel: str


@dataclass(frozen=True)
class History:
    """`performed` (at least `count`, default ≥ 1) or `not_performed` an activity, within a window."""

    performed: bool
    name: str
    where: Condition | None
    count: Test
    within: Duration | None


@dataclass(frozen=True)
class AllOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class NotOf:
    item: Condition


Condition = PropertyIs | TraitIs | AttributeIs | HasTag | InSegment | Reachable | History | AllOf | AnyOf | NotOf
MATCH_ALL = AllOf(())


# --- Parsing --------------------------------------------------------------------------------------


def parse_condition(data: Any, where: str = "where", *, depth: int = 0) -> Condition:
    """Parse a condition (object, or a list meaning `all`); raise ConditionError naming the field."""
    if depth > MAX_DEPTH:
        raise ConditionError(where, f"nests deeper than {MAX_DEPTH} levels")
    if data is None:
        return MATCH_ALL
    if isinstance(data, list):
        return AllOf(tuple(parse_condition(item, f"{where}[{i}]", depth=depth + 1) for i, item in enumerate(data)))
    if not isinstance(data, dict):
        raise ConditionError(where, "must be a condition object or a list of conditions")
    for group, kind in (("all", AllOf), ("any", AnyOf)):
        if group in data:
            _only(data, {group}, where)
            items = data[group]
            if not isinstance(items, list):
                raise ConditionError(f"{where}.{group}", "must be a list of conditions")
            parsed = tuple(
                parse_condition(item, f"{where}.{group}[{i}]", depth=depth + 1) for i, item in enumerate(items)
            )
            return kind(parsed)
    if "not" in data:
        _only(data, {"not"}, where)
        return NotOf(parse_condition(data["not"], f"{where}.not", depth=depth + 1))
    if "property" in data:
        _only(data, {"property", "op", "value"}, where)
        return PropertyIs(_path(data["property"], f"{where}.property"), _test(data, where))
    if "trait" in data:
        _only(data, {"trait", "op", "value"}, where)
        return TraitIs(_path(data["trait"], f"{where}.trait"), _test(data, where))
    if "attribute" in data:
        _only(data, {"attribute", "op", "value"}, where)
        name = data["attribute"]
        if not isinstance(name, str) or name not in ATTRIBUTES:
            raise ConditionError(f"{where}.attribute", f"must be one of {', '.join(sorted(ATTRIBUTES))}")
        test = _test(data, where)
        if ATTRIBUTES[name] == "time" and test.op not in TIME_OPS:
            raise ConditionError(f"{where}.op", f"must be one of {', '.join(sorted(TIME_OPS))} for {name}")
        return AttributeIs(name, test)
    if "tag" in data:
        _only(data, {"tag"}, where)
        return HasTag(_text(data["tag"], f"{where}.tag"))
    if "in_segment" in data:
        _only(data, {"in_segment"}, where)
        return InSegment(
            _text(
                str(data["in_segment"]) if isinstance(data["in_segment"], int) else data["in_segment"],
                f"{where}.in_segment",
            )
        )
    if "reachable" in data:
        _only(data, {"reachable"}, where)
        channel = data["reachable"]
        if not isinstance(channel, str) or channel not in CHANNELS:
            raise ConditionError(f"{where}.reachable", f"must be one of {', '.join(sorted(CHANNELS))}")
        return Reachable(channel)
    for key, performed in (("performed", True), ("not_performed", False)):
        if key in data:
            _only(data, {key, "where", "count", "within"}, where)
            count = Test("gte", 1)
            if data.get("count") is not None:  # null: no count, at least once
                if not performed:
                    raise ConditionError(f"{where}.count", "is only allowed with performed")
                count = _count(data["count"], f"{where}.count")
            return History(
                performed=performed,
                name=_text(data[key], f"{where}.{key}"),
                where=parse_condition(data["where"], f"{where}.where", depth=depth + 1) if data.get("where") else None,
                count=count,
                within=_duration(data["within"], f"{where}.within") if data.get("within") is not None else None,
            )
    raise ConditionError(
        where,
        "must have one of: property, trait, attribute, tag, in_segment, reachable, performed, not_performed, "
        "all, any, not",
    )


def _only(data: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConditionError(f"{where}.{unknown[0]}", "is not allowed here")


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConditionError(where, "must be a non-empty string")
    if len(value) > 200:
        raise ConditionError(where, "is longer than 200 characters")
    if "\x00" in value:
        raise ConditionError(where, "must not contain a NUL character")
    return value


def _path(value: Any, where: str) -> tuple[str, ...]:
    parts = tuple(_text(value, where).split("."))
    if any(not part for part in parts):
        raise ConditionError(where, f"{value!r} is not a valid dotted path")
    return parts


def _duration(value: Any, where: str) -> Duration:
    try:
        return Duration.parse(value)
    except DurationError as error:
        raise ConditionError(where, str(error)) from None


def fold(text: str) -> str:
    """Strings compare ignoring case, folded this way (PostgreSQL's ICU `lower` folds the same)."""
    return text.lower()


def as_number(value: Any) -> float | None:
    """A number, or a numeric string read as one; None for anything else (booleans included) and for
    magnitudes of NUMBER_LIMIT or more."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip(BLANKS)
        if _NUMERIC.fullmatch(text) is None:
            return None
        number = float(text)
    elif isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float
            return None
    else:
        return None
    if not math.isfinite(number) or abs(number) >= NUMBER_LIMIT:
        return None
    return number if abs(number) >= 1 / NUMBER_LIMIT else 0.0  # (SQL cannot hold what is smaller)


def as_datetime(value: Any) -> datetime | None:
    """An ISO 8601 date (midnight UTC) or date-time (UTC unless it has an offset); None otherwise."""
    if not isinstance(value, str):
        return None
    match = _DATETIME.fullmatch(value.strip(BLANKS))
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    zone: timezone = UTC
    if offset is not None and offset not in "Zz":
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if hours > 23 or minutes > 59:
            return None
        shift = timedelta(hours=hours, minutes=minutes)
        zone = timezone(-shift if offset[0] == "-" else shift)
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
            tzinfo=zone,
        )
        moment.astimezone(UTC)  # in UTC, too, it must be a date of years 1–9999
    except (ValueError, OverflowError):  # a day the month does not have, hour 24, …
        return None
    return moment


def _count(data: Any, where: str) -> Test:
    if not isinstance(data, dict):
        raise ConditionError(where, 'must be an object like {"op": "gte", "value": 2}')
    _only(data, {"op", "value"}, where)
    if not isinstance(data.get("op"), str) or data["op"] not in {"eq", "neq", "gt", "gte", "lt", "lte", "between"}:
        raise ConditionError(f"{where}.op", "must be one of eq, neq, gt, gte, lt, lte, between")
    raw = data.get("value")
    values = raw if data["op"] == "between" and isinstance(raw, list) else [raw]
    test = _test(data, where)
    if any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in values):
        raise ConditionError(f"{where}.value", "must be a whole number of times, 0 or more")
    return test


def _test(data: dict, where: str) -> Test:
    op = data.get("op")
    if not isinstance(op, str) or op not in OPS:
        raise ConditionError(f"{where}.op", f"must be one of {', '.join(sorted(OPS))}")
    if op in UNARY_OPS:
        if data.get("value") is not None:
            raise ConditionError(f"{where}.value", f"is not used by {op}")
        return Test(op)
    if "value" not in data or data["value"] is None:
        raise ConditionError(f"{where}.value", f"is required for {op}")
    value = data["value"]
    field = f"{where}.value"
    if any(isinstance(v, str) and "\x00" in v for v in (value if isinstance(value, list) else [value])):
        raise ConditionError(field, "must not contain a NUL character")
    if op in {"gt", "gte", "lt", "lte"}:
        if as_number(value) is None:
            raise ConditionError(field, f"must be a number for {op}")
        return Test(op, as_number(value))
    if op == "between":
        if not (isinstance(value, list) and len(value) == 2 and all(as_number(v) is not None for v in value)):
            raise ConditionError(field, "must be a list of two numbers [low, high] for between")
        low, high = (as_number(v) for v in value)
        assert low is not None and high is not None
        if low > high:
            raise ConditionError(field, "must have low ≤ high")
        return Test(op, (low, high))
    if op in {"in", "not_in"}:
        if not isinstance(value, list) or not value:
            raise ConditionError(field, f"must be a non-empty list for {op}")
        if any(isinstance(v, (dict, list)) for v in value):
            raise ConditionError(field, f"must list strings, numbers or booleans for {op}")
        return Test(op, tuple(value))
    if op in STRING_OPS:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConditionError(field, f"must be a string for {op}")
        return Test(op, str(value))
    if op in {"before", "after"}:
        moment = as_datetime(value)
        if moment is None:
            raise ConditionError(field, f"must be an ISO 8601 date-time for {op}")
        return Test(op, moment)
    if op == "within_last":
        return Test(op, _duration(value, field))
    if isinstance(value, (dict, list)):
        raise ConditionError(field, f"must be a string, number or boolean for {op}")
    return Test(op, value)


# --- Evaluation -----------------------------------------------------------------------------------


class Subject(Protocol):
    """What a condition may ask about one profile. `attribute` answers the fields of ATTRIBUTES as a
    string (times in ISO 8601), or None when absent."""

    @property
    def traits(self) -> Mapping[str, Any]: ...

    def attribute(self, name: str) -> str | None: ...

    @property
    def tags(self) -> frozenset[str]: ...

    def reachable(self, channel: str) -> bool: ...

    def in_segment(self, segment: str) -> bool: ...

    def count(self, name: str, where: Condition | None, since: datetime | None, until: datetime) -> int:
        """Activities answering `name` (see `name_matches`) stamped in [since, until] and matching `where`."""
        ...


def name_matches(wanted: str, name: str) -> bool:
    """Does an activity of `name` count for a history condition on `wanted` (`*`: anything the profile did)?"""
    return counts_as_any(name) if wanted == ANY_ACTIVITY else wanted == name


def lookup(data: Mapping[str, Any] | None, path: tuple[str, ...]) -> Any:
    value: Any = data
    for part in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool):
        return actual is expected
    if isinstance(expected, bool):
        return isinstance(actual, str) and fold(actual) == ("true" if expected else "false")
    if isinstance(actual, str) and isinstance(expected, str):
        return fold(actual) == fold(expected)
    left, right = as_number(actual), as_number(expected)
    return left is not None and right is not None and left == right


def compare(actual: Any, test: Test, now: datetime) -> bool:
    """Apply one operator to one value (None means absent)."""
    op, value = test.op, test.value
    if op == "exists":
        return actual is not None
    if op == "not_exists":
        return actual is None
    if op in {"neq", "not_in", "not_contains"}:
        positive = {"neq": "eq", "not_in": "in", "not_contains": "contains"}[op]
        return actual is None or not compare(actual, Test(positive, value), now)
    if actual is None:
        return False
    if op == "eq":
        return _equal(actual, value)
    if op == "in":
        return any(_equal(actual, option) for option in value)
    if op in NUMERIC_OPS:
        number = as_number(actual)
        if number is None:
            return False
        if op == "between":
            return bool(value[0] <= number <= value[1])
        return bool({"gt": number > value, "gte": number >= value, "lt": number < value, "lte": number <= value}[op])
    if op == "contains":
        if isinstance(actual, list):
            return any(_equal(item, value) for item in actual)
        return isinstance(actual, str) and fold(value) in fold(actual)
    if op in {"starts_with", "ends_with"}:
        if not isinstance(actual, str):
            return False
        text, part = fold(actual), fold(value)
        return text.startswith(part) if op == "starts_with" else text.endswith(part)
    if op in DATE_OPS:
        moment = as_datetime(actual)
        if moment is None:
            return False
        if op == "before":
            return moment < value
        if op == "after":
            return moment > value
        return bool(value.before(now) <= moment <= now)
    if op == "is_true":
        return actual is True or (isinstance(actual, str) and fold(actual.strip(BLANKS)) == "true")
    if op == "is_false":
        return actual is False or (isinstance(actual, str) and fold(actual.strip(BLANKS)) == "false")
    raise AssertionError(f"unhandled operator {op}")


def evaluate(
    condition: Condition, *, now: datetime, event: Mapping[str, Any] | None = None, subject: Subject | None = None
) -> bool:
    """Does the condition hold for this event's properties and this profile, at `now`?"""
    match condition:
        case AllOf(items):
            return all(evaluate(item, now=now, event=event, subject=subject) for item in items)
        case AnyOf(items):
            return any(evaluate(item, now=now, event=event, subject=subject) for item in items)
        case NotOf(item):
            return not evaluate(item, now=now, event=event, subject=subject)
        case PropertyIs(path, test):
            return compare(lookup(event, path), test, now)
        case TraitIs(path, test):
            return subject is not None and compare(lookup(subject.traits, path), test, now)
        case AttributeIs(name, test):
            return subject is not None and compare(subject.attribute(name), test, now)
        case HasTag(tag):
            return subject is not None and tag in subject.tags
        case InSegment(segment):
            return subject is not None and subject.in_segment(segment)
        case Reachable(channel):
            return subject is not None and subject.reachable(channel)
        case History(performed, name, where, count, within):
            if subject is None:
                return False
            since = within.before(now) if within is not None else None
            times = subject.count(name, where, since, now)
            return compare(times, count, now) if performed else times == 0
    raise AssertionError(f"unknown condition {condition!r}")


def event_matches(condition: Condition, properties: Mapping[str, Any], now: datetime) -> bool:
    """For `where` filters on an activity: only its properties are in scope. Answered by the
    condition's event matcher, built on first use and kept on the (immutable) condition object: the
    hot paths ask the same few filters of every activity."""
    matcher = condition.__dict__.get("_event_matcher")
    if matcher is None:
        matcher = condition.__dict__["_event_matcher"] = event_matcher(condition)
    return matcher(properties, now)


EventMatcher = Callable[[Mapping[str, Any] | None, datetime], bool]


def event_matcher(condition: Condition) -> EventMatcher:
    """`evaluate(condition, now=now, event=event)` as a closure, the tree walked once: with no profile in
    scope every profile leaf is false, so what is left is the event's property tests and their logic."""
    match condition:
        case AllOf(()):
            return lambda event, now: True
        case AllOf((item,)) | AnyOf((item,)):
            return event_matcher(item)
        case AllOf(items):
            alls = tuple(event_matcher(item) for item in items)
            return lambda event, now: all(m(event, now) for m in alls)
        case AnyOf(items):
            anys = tuple(event_matcher(item) for item in items)
            return lambda event, now: any(m(event, now) for m in anys)
        case NotOf(item):
            inner = event_matcher(item)
            return lambda event, now: not inner(event, now)
        case PropertyIs(path, test):
            return _property_matcher(path, test)
    return lambda event, now: False  # a profile leaf, with no profile


def _property_matcher(path: tuple[str, ...], test: Test) -> EventMatcher:
    if len(path) == 1:
        (key,) = path

        def value(event: Mapping[str, Any] | None) -> Any:
            return event.get(key) if isinstance(event, Mapping) else None
    else:

        def value(event: Mapping[str, Any] | None) -> Any:
            return lookup(event, path)

    op, bound = test.op, test.value
    if op in ("gt", "gte", "lt", "lte"):  # the commonest filter: a number against a bound
        against = {"gt": float.__gt__, "gte": float.__ge__, "lt": float.__lt__, "lte": float.__le__}[op]

        def numeric(event: Mapping[str, Any] | None, now: datetime) -> bool:
            number = as_number(value(event))
            return number is not None and against(number, float(bound))

        return numeric
    return lambda event, now: compare(value(event), test, now)


def segments_in(condition: Condition) -> set[str]:
    """Every segment id a condition names (to check they exist before a journey goes live)."""
    match condition:
        case AllOf(items) | AnyOf(items):
            return set().union(*(segments_in(item) for item in items)) if items else set()
        case NotOf(item):
            return segments_in(item)
        case InSegment(segment):
            return {segment}
        case History(where=where) if where is not None:
            return segments_in(where)
    return set()


def histories_in(condition: Condition) -> list[History]:
    """Every history leaf of a condition (a `where` inside one filters activities: no history there)."""
    match condition:
        case AllOf(items) | AnyOf(items):
            return [leaf for item in items for leaf in histories_in(item)]
        case NotOf(item):
            return histories_in(item)
        case History():
            return [condition]
    return []


def profile_leaves(data: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    """Every leaf of a parsed-valid condition that is about the profile (not inside a history `where`),
    with its field, as the condition was written: to point at a leaf in an error."""
    if data is None:
        return []
    if isinstance(data, list):
        return [leaf for i, item in enumerate(data) for leaf in profile_leaves(item, f"{where}[{i}]")]
    if not isinstance(data, dict):
        return []
    for group in ("all", "any"):
        if group in data:
            return profile_leaves(data[group], f"{where}.{group}")
    if "not" in data:
        return profile_leaves(data["not"], f"{where}.not")
    return [(where, data)]


def event_leaves_refused(data: Any, where: str) -> list[tuple[str, str]]:
    """For conditions with no event in scope (a segment's rule, a scheduled journey's entry filter),
    leaves that could never hold, as (field, message): a `property` leaf (there is no event), and
    anything but `property` leaves inside a history condition's `where` (it filters activities)."""
    refused = []
    for field, leaf in profile_leaves(data, where):
        if "property" in leaf:
            refused.append(
                (
                    f"{field}.property",
                    "there is no event here: filter on a trait, an attribute, tags, segments or history",
                )
            )
        elif ("performed" in leaf or "not_performed" in leaf) and leaf.get("where"):
            for inner, test in profile_leaves(leaf["where"], f"{field}.where"):
                if "property" not in test:
                    key = next(iter(test), "")
                    refused.append(
                        (f"{inner}.{key}" if key else inner, "an activity filter tests the activity's properties only")
                    )
    return refused
