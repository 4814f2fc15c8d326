"""Conditions (PRODUCT.md §5) compiled to one SQL query over profiles and their activities, for
PostgreSQL (production) and SQLite (the embedded default), with exactly the semantics of the Python
evaluator in `segments/conditions.py`. Pure code: it builds SQL text and parameters; the callers
(`segments/selectors.py`) run it.

The query selects profile ids. Every leaf is a boolean that is never NULL (so `not` and the groups keep
two-valued logic, as Python does). What a leaf needs from other rows is joined once, as a derived
table keyed by profile: a history condition's counts (`GROUP BY profile_id` over the activity indexes),
push devices, a static list's members. Joins, not correlated subqueries: under `any` and `not` a
correlated subquery runs once per profile, a hash join once per query.

Two shapes: `audience` (every live profile of a workspace; history read through the (workspace, name,
timestamp) index) and `profiles` (a few given profiles: history read through (profile, timestamp)),
which is how one profile's membership is answered without scanning the audience.

On PostgreSQL the leaves are SQL (typed JSON reads that never raise: casts are guarded by the same
rules the evaluator applies, strings folded with ICU's `lower`, which folds as Python's `str.lower`).
On SQLite a leaf calls the evaluator itself, registered as a SQL function (`segments/sqlite.py`), so
the embedded default cannot drift from it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from string import Formatter
from typing import Any

import orjson

from activities.names import BEHAVIOR_PREFIX, DERIVED
from segments.conditions import (
    ANY_ACTIVITY,
    ATTRIBUTES,
    BLANKS,
    AllOf,
    AnyOf,
    AttributeIs,
    Condition,
    HasTag,
    History,
    InSegment,
    NotOf,
    PropertyIs,
    Reachable,
    Test,
    TraitIs,
    as_number,
    compare,
    fold,
)

PROFILES = "activities_profile"
ACTIVITIES = "activities_activity"
DEVICES = "activities_pushdevice"
MEMBERS = "segments_membership"
MAX_SEGMENT_NESTING = 5
NUMERIC_PATTERN = r"^[+-]?(?:[0-9]{1,100}(?:\.[0-9]{0,100})?|\.[0-9]{1,100})(?:[eE][+-]?[0-9]{1,3})?$"
DATETIME_PATTERN = (
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?([Zz]|[+-][0-9]{2}:[0-9]{2})?)?$"
)


class CompileError(ValueError):
    """A rule that cannot become a query (a segment that includes itself, nesting too deep)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Sql:
    text: str
    params: tuple[Any, ...] = ()


def sql(template: str, *parts: Sql | Any) -> Sql:
    """`template` with each `{}` replaced by a fragment (its text and parameters) or a parameter
    (`%s`); `{{` and `}}` are literal braces."""
    fields = [name for _, name, _, _ in Formatter().parse(template) if name is not None]
    assert fields == [""] * len(parts), f"{len(fields)} fields for {len(parts)} parts in {template!r}"
    texts: list[str] = []
    params: list[Any] = []
    for part in parts:
        if isinstance(part, Sql):
            texts.append(part.text)
            params.extend(part.params)
        else:
            texts.append("%s")
            params.append(part)
    return Sql(template.format(*texts), tuple(params))


def join(separator: str, parts: Sequence[Sql]) -> Sql:
    return Sql(separator.join(p.text for p in parts), tuple(v for p in parts for v in p.params))


TRUE, FALSE = Sql("TRUE"), Sql("FALSE")


@dataclass(frozen=True)
class SegmentDef:
    """What `in_segment` needs of a segment: rule segments are compiled in place (their rule as it is
    now), static lists read their members."""

    id: int
    kind: str  # "rule" or "list"
    condition: Condition | None = None


Resolve = Callable[[str], SegmentDef | None]


@dataclass(frozen=True)
class Scope:
    """Whose profiles: a workspace's live ones (`profile_ids` None), or some of them by id."""

    workspace_id: int
    profile_ids: tuple[int, ...] | None = None


@dataclass
class _Build:
    dialect: Dialect
    scope: Scope
    now: datetime
    resolve: Resolve
    joins: list[Sql] = field(default_factory=list)
    _keys: dict[tuple, str] = field(default_factory=dict)

    def joined(self, key: tuple, derived: Sql) -> str:
        """The alias of a derived table keyed by `profile_id`, LEFT JOINed once per distinct key."""
        key = (*key, derived.text, repr(derived.params))
        alias = self._keys.get(key)
        if alias is None:
            alias = self._keys[key] = f"j{len(self._keys)}"
            self.joins.append(sql(f"LEFT JOIN ({{}}) {alias} ON {alias}.profile_id = p.id", derived))
        return alias


def compile_condition(
    condition: Condition, *, dialect: Dialect, scope: Scope, now: datetime, resolve: Resolve = lambda ref: None
) -> Sql:
    """SELECT the ids of the profiles in scope for which the condition holds at `now`."""
    build = _Build(dialect, scope, now, resolve)
    where = _profile(condition, build, stack=())
    scoped = sql("p.workspace_id = {} AND p.merged_into_id IS NULL", scope.workspace_id)
    if scope.profile_ids is not None:
        scoped = sql("{} AND p.id IN ({})", scoped, dialect.id_list(scope.profile_ids))
    return sql(f"SELECT p.id FROM {PROFILES} p {{}} WHERE {{}} AND {{}}", join(" ", build.joins), scoped, where)


def _profile(condition: Condition, build: _Build, *, stack: tuple[int, ...], negated: bool = False) -> Sql:
    """A condition about a profile (no event in scope: event properties are absent). `negated`: under
    a `not`, where leaves must never be NULL."""
    d = build.dialect
    match condition:
        case AllOf(items):
            return _group(" AND ", [_profile(c, build, stack=stack, negated=negated) for c in items], TRUE)
        case AnyOf(items):
            return _group(" OR ", [_profile(c, build, stack=stack, negated=negated) for c in items], FALSE)
        case NotOf(item):
            return sql("NOT ({})", _profile(item, build, stack=stack, negated=True))
        case PropertyIs(_, test):
            return TRUE if compare(None, test, build.now) else FALSE
        case TraitIs(path, test):
            return d.json_test("p.traits", path, test, build.now, guard=negated)
        case AttributeIs(name, test):
            return d.attribute_test(f"p.{name}", ATTRIBUTES[name], test, build.now, guard=negated)
        case HasTag(tag):
            return d.has_tag("p.tags", tag)
        case Reachable(channel):
            return _reachable(channel, build)
        case InSegment(ref):
            return _in_segment(ref, build, stack, negated)
        case History():
            return _history(condition, build)
    raise AssertionError(f"unknown condition {condition!r}")


def _event(condition: Condition, build: _Build, column: str, negated: bool = False) -> Sql:
    """A `where` filter on one activity: only its properties are in scope (profile leaves are false)."""
    match condition:
        case AllOf(items):
            return _group(" AND ", [_event(c, build, column, negated) for c in items], TRUE)
        case AnyOf(items):
            return _group(" OR ", [_event(c, build, column, negated) for c in items], FALSE)
        case NotOf(item):
            return sql("NOT ({})", _event(item, build, column, True))
        case PropertyIs(path, test):
            return build.dialect.json_test(column, path, test, build.now, guard=negated)
    return FALSE


def _group(separator: str, parts: list[Sql], empty: Sql) -> Sql:
    if not parts:
        return empty
    return sql("({})", join(separator, parts)) if len(parts) > 1 else parts[0]


def _history(condition: History, build: _Build) -> Sql:
    d, scope = build.dialect, build.scope
    since = condition.within.before(build.now) if condition.within is not None else None
    filters = _activity_filters(condition.name, condition.where, since, build.now, build)
    if scope.profile_ids is None:
        owner = sql("a.workspace_id = {}", scope.workspace_id)
    else:
        owner = sql("a.profile_id IN ({})", d.id_list(scope.profile_ids))
    counted = sql(
        f"SELECT a.profile_id, count(*) AS n FROM {ACTIVITIES} a WHERE {{}} AND {{}} GROUP BY a.profile_id",
        owner,
        filters,
    )
    alias = build.joined(("history",), counted)
    times = Sql(f"COALESCE({alias}.n, 0)")
    if not condition.performed:
        return sql("{} = 0", times)
    return _count_test(times, condition.count)


def _activity_filters(
    name: str, where: Condition | None, since: datetime | None, until: datetime, build: _Build
) -> Sql:
    """Activities answering `name`, stamped in [since, until], matching `where` (alias `a`)."""
    d = build.dialect
    filters = [sql("a.timestamp <= {}", d.moment(until))]
    if since is not None:
        filters.append(sql("a.timestamp >= {}", d.moment(since)))
    if name == ANY_ACTIVITY:
        derived = join(", ", [sql("{}", each) for each in sorted(DERIVED)])
        prefix = len(BEHAVIOR_PREFIX)
        filters.append(sql("substr(a.name, 1, {}) <> {} AND a.name NOT IN ({})", prefix, BEHAVIOR_PREFIX, derived))
    else:
        filters.append(sql("a.name = {}", name))
    if where is not None:
        filters.append(_event(where, build, "a.properties"))
    return join(" AND ", filters)


def compile_count(
    name: str, where: Condition | None, *, dialect: Dialect, profile_id: int, since: datetime | None, until: datetime
) -> Sql:
    """How many of one profile's activities a history condition counts (the live runtime's `count`)."""
    build = _Build(dialect, Scope(0, (profile_id,)), until, lambda ref: None)
    return sql(
        f"SELECT count(*) FROM {ACTIVITIES} a WHERE a.profile_id = {{}} AND {{}}",
        profile_id,
        _activity_filters(name, where, since, until, build),
    )


def _count_test(times: Sql, test: Test) -> Sql:
    op, value = test.op, test.value
    if op == "between":
        return sql("{} BETWEEN {} AND {}", times, int(value[0]), int(value[1]))
    operator = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
    return sql(f"{{}} {operator} {{}}", times, value)


def _reachable(channel: str, build: _Build) -> Sql:
    d = build.dialect
    consent = d.not_opted_out("p.consent", channel)
    if channel == "email":
        return sql("({} AND p.email <> '')", consent)
    if channel == "sms":
        return sql("({} AND p.phone <> '')", consent)
    if channel in ("push", "web_push"):
        web = "=" if channel == "web_push" else "<>"
        devices = sql(
            f"SELECT DISTINCT profile_id FROM {DEVICES} WHERE workspace_id = {{}} AND platform {web} 'web'",
            build.scope.workspace_id,
        )
        if build.scope.profile_ids is not None:
            devices = sql("{} AND profile_id IN ({})", devices, d.id_list(build.scope.profile_ids))
        alias = build.joined(("devices", channel), devices)
        return sql(f"({{}} AND {alias}.profile_id IS NOT NULL)", consent)
    return consent  # in-app and webhooks need no address


def _in_segment(ref: str, build: _Build, stack: tuple[int, ...], negated: bool) -> Sql:
    segment = build.resolve(ref)
    if segment is None:
        return FALSE  # a segment that no longer exists holds nobody
    if segment.id in stack:
        raise CompileError("in_segment", f"segment {ref!r} includes itself")
    if len(stack) >= MAX_SEGMENT_NESTING:
        raise CompileError("in_segment", f"segments nest deeper than {MAX_SEGMENT_NESTING} levels")
    if segment.kind == "rule" and segment.condition is not None:
        return sql("({})", _profile(segment.condition, build, stack=(*stack, segment.id), negated=negated))
    members = sql(f"SELECT profile_id FROM {MEMBERS} WHERE segment_id = {{}}", segment.id)
    alias = build.joined(("members", segment.id), members)
    return Sql(f"({alias}.profile_id IS NOT NULL)")


# --- Dialects ------------------------------------------------------------------------------------


class Dialect:
    name = ""

    def id_list(self, ids: Sequence[int]) -> Sql:
        raise NotImplementedError

    def moment(self, at: datetime) -> Sql:
        raise NotImplementedError

    def json_test(self, column: str, path: tuple[str, ...], test: Test, now: datetime, *, guard: bool) -> Sql:
        """`guard`: the leaf sits under a `not`, so it must be false rather than NULL."""
        raise NotImplementedError

    def attribute_test(self, column: str, kind: str, test: Test, now: datetime, *, guard: bool) -> Sql:
        raise NotImplementedError

    def has_tag(self, column: str, tag: str) -> Sql:
        raise NotImplementedError

    def not_opted_out(self, column: str, channel: str) -> Sql:
        raise NotImplementedError


class Sqlite(Dialect):
    """Leaves call the Python evaluator (registered by `segments/sqlite.py`); the rest is plain SQL."""

    name = "sqlite"

    def id_list(self, ids: Sequence[int]) -> Sql:
        return sql("SELECT value FROM json_each({})", orjson.dumps(list(ids)).decode())

    def moment(self, at: datetime) -> Sql:
        return sql("{}", str(at.astimezone(UTC).replace(tzinfo=None)))  # as Django stores it

    def json_test(self, column: str, path: tuple[str, ...], test: Test, now: datetime, *, guard: bool) -> Sql:
        return sql(
            f"nudge_json_test({column}, {{}}, {{}}, {{}})", _json(list(path)), _json(test.to_json()), now.isoformat()
        )

    def attribute_test(self, column: str, kind: str, test: Test, now: datetime, *, guard: bool) -> Sql:
        return sql(f"nudge_attribute_test({column}, {{}}, {{}}, {{}})", kind, _json(test.to_json()), now.isoformat())

    def has_tag(self, column: str, tag: str) -> Sql:
        return sql(f"EXISTS (SELECT 1 FROM json_each({column}) t WHERE t.type = 'text' AND t.value = {{}})", tag)

    def not_opted_out(self, column: str, channel: str) -> Sql:
        return sql(f"(json_type({column}, {{}}) IS NOT 'false')", f'$."{channel}"')


class Postgres(Dialect):
    """Typed reads of jsonb that never raise; `icu` folds strings as Python does (see the module doc)."""

    name = "postgresql"

    def __init__(self, *, icu: bool = True) -> None:
        self.collate = ' COLLATE "und-x-icu"' if icu else ""

    def id_list(self, ids: Sequence[int]) -> Sql:
        return sql("SELECT unnest({}::bigint[])", list(ids))

    def moment(self, at: datetime) -> Sql:
        return sql("{}::timestamptz", _utc(at))

    def fold(self, text: Sql) -> Sql:
        return sql(f"lower(({{}})::text{self.collate})", text)

    def folded_equal(self, text: Sql, expected: str) -> Sql:
        """fold(text) = fold(expected). When the operand folds to ASCII without a `k`, ASCII-only
        lowering (collation "C") is exact and several times cheaper than ICU: the only characters whose
        lower case holds ASCII are KELVIN SIGN (k) and İ (i + a combining dot, never equal to ASCII)."""
        folded = fold(expected)
        if folded.isascii() and "k" not in folded:
            return sql('lower(({})::text COLLATE "C") = {}::text', text, folded)
        return sql("{} = {}", self.fold(text), self.fold(sql("{}::text", expected)))

    def folded_pattern(self, text: Sql, part: str) -> tuple[Sql, Sql]:
        """fold(text) and fold(part) for substring tests: ASCII-only lowering when the part folds to
        ASCII without `i` or `k` (the only ASCII a non-ASCII character lowers to)."""
        folded = fold(part)
        if folded.isascii() and not set(folded) & {"i", "k"}:
            return sql('lower(({})::text COLLATE "C")', text), sql("{}::text", folded)
        return self.fold(text), self.fold(sql("{}::text", part))

    def json_test(self, column: str, path: tuple[str, ...], test: Test, now: datetime, *, guard: bool) -> Sql:
        return _guarded(self.test(_Json(column, path), test, now), guard)

    def attribute_test(self, column: str, kind: str, test: Test, now: datetime, *, guard: bool) -> Sql:
        if kind == "time":
            return _guarded(self._time_test(Sql(column), test, now), guard)
        return _guarded(self.test(_Text(Sql(column)), test, now), guard)

    def has_tag(self, column: str, tag: str) -> Sql:
        return sql(f"COALESCE(jsonb_exists({column}, {{}}::text), FALSE)", tag)

    def not_opted_out(self, column: str, channel: str) -> Sql:
        return sql(f"(COALESCE({column} -> {{}}::text, 'null'::jsonb) <> 'false'::jsonb)", channel)

    # One operator on one value (a jsonb value or a text column); NULL may stand for false here.

    def test(self, value: _Value, test: Test, now: datetime) -> Sql:
        op, operand = test.op, test.value
        if op == "exists":
            return sql("NOT {}", value.absent())
        if op == "not_exists":
            return value.absent()
        if op in ("neq", "not_in", "not_contains"):
            positive = Test({"neq": "eq", "not_in": "in", "not_contains": "contains"}[op], operand)
            return sql("({} OR NOT COALESCE({}, FALSE))", value.absent(), self.test(value, positive, now))
        if op == "eq":
            return self._equal(value, operand)
        if op == "in":
            return _group(" OR ", [self._equal(value, option) for option in operand], FALSE)
        if op in ("gt", "gte", "lt", "lte"):
            operator = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
            return sql(f"{{}} {operator} {{}}::float8", self._number(value), operand)
        if op == "between":
            return sql("{} BETWEEN {}::float8 AND {}::float8", self._number(value), operand[0], operand[1])
        text, pattern = self.folded_pattern(value.text(), str(operand))
        if op == "contains":
            found = sql("({} AND strpos({}, {}) > 0)", value.is_string(), text, pattern)
            if isinstance(value, _Json):
                return sql("({} OR {})", found, self._element_equal(value, operand))
            return found
        if op == "starts_with":
            return sql("({} AND starts_with({}, {}))", value.is_string(), text, pattern)
        if op == "ends_with":
            return sql("({} AND right({}, length({})) = {})", value.is_string(), text, pattern, pattern)
        if op in ("before", "after", "within_last"):
            return sql("({} AND {})", value.is_string(), self._time_test(self._moment(value.text()), test, now))
        if op in ("is_true", "is_false"):
            word = "true" if op == "is_true" else "false"
            trimmed = self.folded_equal(sql("btrim({}, {}::text)", value.text(), BLANKS), word)
            return sql("({} OR ({} AND {}))", value.is_bool(op == "is_true"), trimmed, value.is_string())
        raise AssertionError(f"unhandled operator {op}")

    def _equal(self, value: _Value, expected: Any) -> Sql:
        """`eq` of the evaluator (`conditions._equal`) with a constant operand."""
        if isinstance(expected, bool):
            word = "true" if expected else "false"
            as_text = sql("({} AND {})", self.folded_equal(value.text(), word), value.is_string())
            return sql("({} OR {})", value.is_bool(expected), as_text)
        number = as_number(expected)
        if isinstance(expected, str):
            same = sql("({} AND {})", self.folded_equal(value.text(), expected), value.is_string())
            if number is None:
                return same
            return sql("({} OR ({} AND {} = {}::float8))", same, value.is_number(), self._number(value), number)
        if number is None:
            return FALSE
        return sql("{} = {}::float8", self._number(value), number)

    def _element_equal(self, value: _Json, expected: str) -> Sql:
        """A list element equal to `expected` (jsonb_array_elements of a non-list would raise: guarded)."""
        element = _Json("e.value")
        return sql(
            "EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof({}) = 'array' THEN {} END) AS e(value)"
            " WHERE {})",
            value.value,
            value.value,
            sql("COALESCE({}, FALSE)", self._equal(element, expected)),
        )

    def _number(self, value: _Value) -> Sql:
        """The value as the evaluator's `as_number` reads it, as float8, or NULL."""
        text = sql("btrim({}, {}::text)", value.text(), BLANKS)
        from_text = sql(
            "CASE WHEN {} ~ {}::text THEN {} END", text, NUMERIC_PATTERN, _float(sql("({})::numeric", text))
        )
        if not isinstance(value, _Json):
            return from_text
        return sql(
            "CASE jsonb_typeof({}) WHEN 'number' THEN {} WHEN 'string' THEN {} END",
            value.value,
            _float(sql("({})::numeric", value.value)),
            from_text,
        )

    def _moment(self, text: Sql) -> Sql:
        """ISO 8601 text as the evaluator's `as_datetime` reads it, as timestamptz, or NULL. Every part
        is range-checked (in CASE order) before make_timestamptz could raise."""
        m = "m"
        year, month, day = f"{m}[1]::int", f"{m}[2]::int", f"{m}[3]::int"
        hour, minute, second = (f"COALESCE({m}[{i}], '0')::int" for i in (4, 5, 6))
        offset_h, offset_m = f"substr({m}[8], 2, 2)::int", f"substr({m}[8], 5, 2)::int"
        signed = f"CASE WHEN left({m}[8], 1) = '-' THEN -1 ELSE 1 END"
        last_day = f"extract(day FROM make_date({year}, {month}, 1) + interval '1 month' - interval '1 day')"
        built = (
            f"make_timestamptz({year}, {month}, {day}, {hour}, {minute}, 0, 'UTC')"
            f" + make_interval(secs => {second})"
            f" + rpad(COALESCE({m}[7], '0'), 6, '0')::int * interval '1 microsecond'"
            f" - CASE WHEN {m}[8] IS NULL OR {m}[8] IN ('Z', 'z') THEN interval '0'"
            f" ELSE {signed} * make_interval(hours => {offset_h}, mins => {offset_m}) END"
        )
        checks = (
            f"CASE WHEN {m} IS NULL THEN NULL WHEN {year} < 1 OR {month} NOT BETWEEN 1 AND 12 THEN NULL"
            f" WHEN {day} NOT BETWEEN 1 AND {last_day} THEN NULL"
            f" WHEN {hour} > 23 OR {minute} > 59 OR {second} > 59 THEN NULL"
            f" WHEN CASE WHEN {m}[8] ~ '^[+-]' THEN {offset_h} > 23 OR {offset_m} > 59 ELSE FALSE END THEN NULL"
            f" ELSE {built} END"
        )
        years = "t >= '0001-01-01 00:00:00+00'::timestamptz AND t < '10000-01-01 00:00:00+00'::timestamptz"
        parsed = f"SELECT {checks} AS t FROM regexp_match(btrim({{}}, {{}}::text), {{}}::text) AS r({m})"
        return sql(
            f"(SELECT CASE WHEN {years} THEN t END FROM ({parsed}) parsed)",
            text,
            BLANKS,
            DATETIME_PATTERN,
        )

    def _time_test(self, moment: Sql, test: Test, now: datetime) -> Sql:
        op, operand = test.op, test.value
        if op == "exists":
            return sql("{} IS NOT NULL", moment)
        if op == "not_exists":
            return sql("{} IS NULL", moment)
        if op == "before":
            return sql("{} < {}::timestamptz", moment, _utc(operand))
        if op == "after":
            return sql("{} > {}::timestamptz", moment, _utc(operand))
        if op == "within_last":
            return sql("{} BETWEEN {}::timestamptz AND {}::timestamptz", moment, _utc(operand.before(now)), _utc(now))
        raise AssertionError(f"{op} does not apply to a time")


def _guarded(test: Sql, guard: bool) -> Sql:
    """Under `not` a leaf must be false, not NULL (NOT NULL is NULL); elsewhere NULL filters as false
    does, and a bare comparison lets the planner estimate it (COALESCE would read as a coin toss)."""
    return sql("COALESCE({}, FALSE)", test) if guard else test


def _utc(moment: datetime) -> datetime:
    """Times travel in UTC: PostgreSQL refuses an offset beyond ±15:59 that ISO 8601 allows."""
    return moment.astimezone(UTC)


def _float(number: Sql) -> Sql:
    """numeric → float8 as `as_number` bounds it (|x| < 1e300; below 1e-300 is 0), never raising."""
    return sql(
        "CASE WHEN abs({n}) >= 1e301 THEN NULL WHEN abs({n}) < 1e-301 THEN 0::float8"
        " WHEN abs(({n})::float8) >= 1e300 THEN NULL WHEN abs(({n})::float8) < 1e-300 THEN 0::float8"
        " ELSE ({n})::float8 END".replace("{n}", "{}"),
        *([number] * 5),
    )


class _Value:
    """A value a leaf tests, in PostgreSQL."""

    def absent(self) -> Sql:
        raise NotImplementedError

    def is_string(self) -> Sql:
        raise NotImplementedError

    def is_number(self) -> Sql:
        raise NotImplementedError

    def is_bool(self, truth: bool) -> Sql:
        raise NotImplementedError

    def text(self) -> Sql:
        raise NotImplementedError


@dataclass(frozen=True)
class _Json(_Value):
    base: str  # a jsonb column or expression
    path: tuple[str, ...] = ()

    @property
    def value(self) -> Sql:
        """The jsonb value at the path; SQL NULL when a key is missing (`->` on a list gives NULL too)."""
        return sql(self.base + "".join(" -> {}::text" for _ in self.path), *self.path)

    def absent(self) -> Sql:
        return sql("(COALESCE(jsonb_typeof({}), 'null') = 'null')", self.value)

    def is_string(self) -> Sql:
        return sql("(jsonb_typeof({}) = 'string')", self.value)

    def is_number(self) -> Sql:
        return sql("(jsonb_typeof({}) = 'number')", self.value)

    def is_bool(self, truth: bool) -> Sql:
        return sql(f"({{}} = '{'true' if truth else 'false'}'::jsonb)", self.value)

    def text(self) -> Sql:
        """The value as text (a string's own characters); read with `->>` at the last key."""
        if not self.path:
            return sql(f"({self.base} #>> '{{{{}}}}')")
        *head, last = self.path
        return sql("(" + self.base + "".join(" -> {}::text" for _ in head) + " ->> {}::text)", *head, last)


@dataclass(frozen=True)
class _Text(_Value):
    """A text column of the profile, the empty string being absent."""

    column: Sql

    def absent(self) -> Sql:
        return sql("(COALESCE({}, '') = '')", self.column)

    def is_string(self) -> Sql:
        return sql("(COALESCE({}, '') <> '')", self.column)

    def is_number(self) -> Sql:
        return FALSE

    def is_bool(self, truth: bool) -> Sql:
        return FALSE

    def text(self) -> Sql:
        return self.column


def _json(value: Any) -> str:
    return json.dumps(value)  # not orjson: an operand may be an integer beyond 64 bits
