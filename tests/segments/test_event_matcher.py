"""The compiled event matcher (`event_matches`) answers as the evaluator with only the event in scope:
random conditions — property tests of every operator, profile leaves, all / any / not — over random
event properties."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from segments.conditions import ConditionError, evaluate, event_matcher, event_matches, parse_condition
from tests.segments.test_compiler_properties import NOW, conditions, documents


def _parsed(data: Any):
    try:
        return parse_condition(data)
    except ConditionError:
        return None


@settings(max_examples=600, deadline=None)
@given(data=conditions(segments=True) | st.lists(conditions(segments=True), max_size=3), event=documents)
def test_the_matcher_answers_as_the_evaluator(data: Any, event: dict[str, Any]) -> None:
    condition = _parsed(data)
    if condition is None:
        return
    expected = evaluate(condition, now=NOW, event=event)
    assert event_matcher(condition)(event, NOW) is expected
    assert event_matches(condition, event, NOW) is expected
    assert event_matches(condition, event, NOW) is expected  # the kept matcher, asked again


def test_a_numeric_bound_compares_numbers_and_numeric_text_only() -> None:
    gte = parse_condition([{"property": "value", "op": "gte", "value": 10}])
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert [event_matches(gte, {"value": v}, now) for v in (10, 9.99, "12", " 10 ", "ten", True, None, [10])] == [
        True,
        False,
        True,
        True,
        False,
        False,
        False,
        False,
    ]
    assert event_matches(gte, {}, now) is False
    nested = parse_condition([{"property": "cart.total", "op": "lt", "value": 5}])
    assert event_matches(nested, {"cart": {"total": 4}}, now) is True
    assert event_matches(nested, {"cart": 4}, now) is False


def test_profile_leaves_are_false_with_no_profile_in_scope() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    trait = parse_condition({"trait": "plan", "op": "eq", "value": "pro"})
    assert event_matches(trait, {"plan": "pro"}, now) is False
    assert event_matches(parse_condition({"not": {"tag": "vip"}}), {}, now) is True
    assert event_matches(parse_condition(None), {}, now) is True
