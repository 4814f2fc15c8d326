"""The condition vocabulary: parsing names the bad field; the evaluator follows §5's semantics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from segments.conditions import Condition, ConditionError, evaluate, event_matches, parse_condition

NOW = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)


@dataclass
class Person:
    """A profile held in memory, answering the Subject protocol (as the simulator's profiles do)."""

    traits: Mapping[str, Any] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    segments: frozenset[str] = frozenset()
    history: list[tuple[str, dict, datetime]] = field(default_factory=list)

    def reachable(self, channel: str) -> bool:
        return channel in self.channels

    def in_segment(self, segment: str) -> bool:
        return segment in self.segments

    def count(self, name: str, where: Condition | None, since: datetime | None, until: datetime) -> int:
        return sum(
            1
            for n, props, at in self.history
            if n == name
            and (since is None or at >= since)
            and at <= until
            and (where is None or event_matches(where, props, until))
        )


def holds(condition: Any, *, event: dict | None = None, person: Person | None = None) -> bool:
    return evaluate(parse_condition(condition), now=NOW, event=event, subject=person)


@pytest.mark.parametrize(
    ("op", "value", "actual", "expected"),
    [
        ("eq", "TR", "tr", True),
        ("eq", "TR", "TRY", False),
        ("eq", 100, "100", True),
        ("eq", 100, 100.0, True),
        ("eq", True, True, True),
        ("eq", True, 1, False),
        ("eq", "x", None, False),
        ("neq", "TR", "US", True),
        ("neq", "TR", "tr", False),
        ("neq", "TR", None, True),
        ("gt", 100, 150, True),
        ("gt", 100, "150", True),
        ("gt", 100, 100, False),
        ("gt", 100, "abc", False),
        ("gt", 0, True, False),
        ("gt", 100, None, False),
        ("gte", 100, 100, True),
        ("lt", 100, 99.5, True),
        ("lte", "100", 100, True),
        ("between", [10, 20], 10, True),
        ("between", [10, 20], "20", True),
        ("between", [10, 20], 21, False),
        ("in", ["TR", "US"], "us", True),
        ("in", [1, 2], "2", True),
        ("in", ["TR"], None, False),
        ("not_in", ["TR"], "US", True),
        ("not_in", ["TR"], None, True),
        ("contains", "disc", "Spring Discounts", True),
        ("contains", "x", ["a", "X"], True),
        ("contains", "disc", 5, False),
        ("not_contains", "disc", "Home", True),
        ("not_contains", "d", None, True),
        ("starts_with", "spr", "Spring", True),
        ("ends_with", "NTS", "discounts", True),
        ("starts_with", "a", 5, False),
        ("before", "2025-01-01T00:00:00Z", "2024-12-31T23:59:59Z", True),
        ("after", "2025-01-01T00:00:00Z", "2024-12-31T23:59:59Z", False),
        ("before", "2025-01-01T00:00:00Z", 5, False),
        ("within_last", "P7D", (NOW - timedelta(days=6)).isoformat(), True),
        ("within_last", "P7D", (NOW - timedelta(days=8)).isoformat(), False),
        ("within_last", "P7D", (NOW + timedelta(days=1)).isoformat(), False),
    ],
)
def test_operators_on_event_properties(op, value, actual, expected):
    event = {} if actual is None else {"p": actual}
    assert holds({"property": "p", "op": op, "value": value}, event=event) is expected


@pytest.mark.parametrize(
    ("op", "actual", "expected"),
    [
        ("exists", 0, True),
        ("exists", None, False),
        ("not_exists", None, True),
        ("not_exists", "", False),
        ("is_true", True, True),
        ("is_true", "TRUE", True),
        ("is_true", 1, False),
        ("is_false", False, True),
        ("is_false", None, False),
    ],
)
def test_unary_operators(op, actual, expected):
    event = {} if actual is None else {"p": actual}
    assert holds({"property": "p", "op": op}, event=event) is expected


def test_dotted_paths_reach_nested_keys():
    event = {"product": {"price": {"amount": 120}}}
    assert holds({"property": "product.price.amount", "op": "gt", "value": 100}, event=event)
    assert not holds({"property": "product.name.first", "op": "exists"}, event=event)


def test_profile_leaves():
    ann = Person(
        traits={"country": "TR", "plan": "pro"},
        tags=frozenset({"vip"}),
        channels=frozenset({"email"}),
        segments=frozenset({"12"}),
    )
    assert holds({"trait": "country", "op": "eq", "value": "tr"}, person=ann)
    assert holds({"tag": "vip"}, person=ann)
    assert not holds({"tag": "beta"}, person=ann)
    assert holds({"in_segment": 12}, person=ann)
    assert holds({"reachable": "email"}, person=ann)
    assert not holds({"reachable": "sms"}, person=ann)
    assert not holds({"trait": "country", "op": "eq", "value": "TR"})  # no profile in scope


def test_history_counts_within_a_window_with_filters():
    bob = Person(
        history=[
            ("purchase", {"price": 150}, NOW - timedelta(days=40)),
            ("purchase", {"price": 20}, NOW - timedelta(days=10)),
            ("purchase", {"price": 200}, NOW - timedelta(days=2)),
        ]
    )
    assert holds({"performed": "purchase"}, person=bob)
    assert holds({"performed": "purchase", "count": {"op": "gte", "value": 2}, "within": "P30D"}, person=bob)
    assert not holds({"performed": "purchase", "count": {"op": "gte", "value": 3}, "within": "P30D"}, person=bob)
    assert holds(
        {
            "performed": "purchase",
            "where": [{"property": "price", "op": "gt", "value": 100}],
            "count": {"op": "eq", "value": 2},
        },
        person=bob,
    )
    assert holds({"not_performed": "purchase", "within": "P1D"}, person=bob)
    assert not holds({"not_performed": "purchase", "within": "P3D"}, person=bob)


def test_groups_and_plain_lists():
    event = {"a": 1, "b": 2}
    assert holds([{"property": "a", "op": "eq", "value": 1}, {"property": "b", "op": "eq", "value": 2}], event=event)
    assert holds(
        {"any": [{"property": "a", "op": "eq", "value": 9}, {"property": "b", "op": "eq", "value": 2}]}, event=event
    )
    assert holds({"not": {"property": "a", "op": "eq", "value": 9}}, event=event)
    assert holds([], event=event)
    assert not holds({"any": []}, event=event)


@pytest.mark.parametrize(
    ("condition", "field"),
    [
        ("price > 100", "where"),
        ({"property": "price", "op": "bigger", "value": 1}, "where.op"),
        ({"property": "price", "op": "gt"}, "where.value"),
        ({"property": "price", "op": "gt", "value": "lots"}, "where.value"),
        ({"property": "price", "op": "between", "value": [5]}, "where.value"),
        ({"property": "price", "op": "between", "value": [9, 1]}, "where.value"),
        ({"property": "price", "op": "in", "value": []}, "where.value"),
        ({"property": "price", "op": "in", "value": [[1]]}, "where.value"),
        ({"property": "d", "op": "before", "value": "tomorrow"}, "where.value"),
        ({"property": "d", "op": "within_last", "value": "7 days"}, "where.value"),
        ({"property": "d", "op": "exists", "value": 1}, "where.value"),
        ({"property": "", "op": "exists"}, "where.property"),
        ({"property": "a..b", "op": "exists"}, "where.property"),
        ({"property": "a", "op": "eq", "value": 1, "extra": 1}, "where.extra"),
        ({"reachable": "pigeon"}, "where.reachable"),
        ({"tag": ""}, "where.tag"),
        ({"performed": "purchase", "count": {"op": "gte", "value": -1}}, "where.count.value"),
        ({"performed": "purchase", "count": {"op": "contains", "value": 1}}, "where.count.op"),
        ({"not_performed": "purchase", "count": {"op": "gte", "value": 1}}, "where.count"),
        ({"performed": "purchase", "within": "P0D"}, "where.within"),
        ({"all": "x"}, "where.all"),
        ({"any": [{"property": "a", "op": "eq", "value": 1}, {"nope": 1}]}, "where.any[1]"),
        ([{"property": "a", "op": "eq", "value": 1}, {"property": "b", "op": "gt", "value": "x"}], "where[1].value"),
        ({"wat": 1}, "where"),
        # what should be a word sent as a list or an object (was a 500: unhashable type)
        ({"trait": "plan", "op": [], "value": 1}, "where.op"),
        ({"performed": "purchase", "count": {"op": [], "value": 1}}, "where.count.op"),
        ({"reachable": []}, "where.reachable"),
        ({"attribute": {}, "op": "exists"}, "where.attribute"),
    ],
)
def test_invalid_conditions_name_the_field(condition, field):
    with pytest.raises(ConditionError) as caught:
        parse_condition(condition)
    assert caught.value.field == field


def test_nesting_is_bounded():
    condition: Any = {"property": "a", "op": "exists"}
    for _ in range(12):
        condition = {"not": condition}
    with pytest.raises(ConditionError, match="deeper"):
        parse_condition(condition)
