"""Behavior documents: the five examples parse; every bad document is refused naming step and field; an
optional field sent as null is absent."""

from __future__ import annotations

import pytest

from behaviors.compiler import compile_behavior
from behaviors.document import BehaviorError, parse_behavior
from behaviors.examples import EXAMPLES
from journeys.document import parse_journey


@pytest.mark.parametrize("document", EXAMPLES, ids=[e["slug"] for e in EXAMPLES])
def test_the_examples_parse(document):
    behavior = parse_behavior(document)
    assert behavior.activity == f"behavior:{document['slug']}"
    assert len(behavior.steps) == len(document["steps"])


def _problems(document) -> dict[str, str]:
    with pytest.raises(BehaviorError) as raised:
        parse_behavior(document)
    return {p.field: p.message for p in raised.value.problems}


BASE = {"name": "x", "slug": "x", "steps": [{"performed": "a"}]}


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"slug": "Has Spaces"}, "slug", "lower-case"),
        ({"name": ""}, "name", "is required"),
        ({"steps": []}, "steps", "at least one step"),
        ({"steps": "a"}, "steps", "at least one step"),
        (
            {"steps": [{"not_performed": "a", "within": "P1D"}]},
            "steps[0].not_performed",
            "first step must be performed",
        ),
        ({"steps": [{"performed": "a", "within": "P1D"}]}, "steps[0].within", "nothing before it"),
        ({"steps": [{"performed": "a"}, {"not_performed": "b"}]}, "steps[1].within", "is required"),
        ({"steps": [{"performed": "a"}, {"performed": "b", "within": "soon"}]}, "steps[1].within", "ISO 8601"),
        ({"steps": [{"performed": "a"}, {"inactive": "P0D"}]}, "steps[1].inactive", "zero"),
        ({"steps": [{"performed": "a"}, {"performed": "b", "not_performed": "c"}]}, "steps[1]", "exactly one"),
        ({"steps": [{"performed": "a"}, {"inactive": "P1D", "where": []}]}, "steps[1].where", "not a field"),
        ({"steps": [{"performed": ""}]}, "steps[0].performed", "must name an activity"),
        ({"steps": [{"performed": "a", "where": [{"property": "p", "op": "bogus"}]}]}, "steps[0].where[0].op", ""),
        ({"max_once_per": "weekly"}, "max_once_per", "ISO 8601"),
        ({"colour": "red"}, "colour", "not a behavior field"),
    ],
)
def test_bad_documents_name_step_and_field(change, field, words):
    problems = _problems({**BASE, **change})
    assert field in problems, problems
    assert words in problems[field]


def test_not_an_object():
    assert _problems([]) == {"behavior": "must be an object"}


# Every field a step may have, as a client that writes every field sends it: null where it is not used.
EVERY_FIELD = {
    "name": "Everything written",
    "slug": "every_field",
    "description": None,
    "max_once_per": None,
    "steps": [
        {"performed": "update_cart", "not_performed": None, "inactive": None, "where": None, "within": None},
        {"performed": "viewed", "not_performed": None, "inactive": None, "where": None, "within": None},
        {"performed": None, "not_performed": "purchase", "inactive": None, "where": None, "within": "P3D"},
        {"performed": None, "not_performed": None, "inactive": "P1D", "where": None, "within": None},
    ],
}
WITHOUT_NULLS = {
    "name": "Everything written",
    "slug": "every_field",
    "steps": [
        {"performed": "update_cart"},
        {"performed": "viewed"},
        {"not_performed": "purchase", "within": "P3D"},
        {"inactive": "P1D"},
    ],
}


def test_optional_fields_sent_as_null_are_absent():
    assert parse_behavior(EVERY_FIELD) == parse_behavior(WITHOUT_NULLS)
    assert compile_behavior(EVERY_FIELD) == compile_behavior(WITHOUT_NULLS)
    assert parse_journey(compile_behavior(EVERY_FIELD)).start == "step1"


def test_a_first_step_within_null_is_no_window():
    """The issue's case: `"within": null` on a first step was refused as not an ISO 8601 duration."""
    behavior = parse_behavior({**BASE, "steps": [{"performed": "a", "within": None, "where": None}]})
    assert behavior.steps[0].within is None


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"name": None}, "name", "is required"),
        ({"slug": None}, "slug", "is required"),
        ({"steps": None}, "steps", "is required"),
        ({"steps": [{"performed": "a"}, {"not_performed": "b", "within": None}]}, "steps[1].within", "is required"),
        ({"steps": [{"performed": "a"}, {"inactive": None}]}, "steps[1]", "exactly one"),
        ({"steps": [{"performed": None, "not_performed": None, "inactive": None}]}, "steps[0]", "exactly one"),
        ({"steps": [None]}, "steps[0]", "must be an object"),
        ({"colour": None}, "colour", "not a behavior field"),  # null or not, a field we do not know
        ({"steps": [{"performed": "a", "colour": None}]}, "steps[0].colour", "not a field"),
        ({"steps": [{"performed": "a"}, {"inactive": "P1D", "within": "P1D"}]}, "steps[1].within", "not a field"),
        ({"description": 7}, "description", "must be a string"),
    ],
)
def test_null_for_a_required_field_is_still_missing(change, field, words):
    problems = _problems({**BASE, **change})
    assert field in problems, problems
    assert words in problems[field]


def test_a_name_as_long_as_allowed_still_compiles_to_a_valid_journey():
    compiled = compile_behavior({**BASE, "name": "n" * 200})
    assert len(compiled["name"]) == 200 and parse_journey(compiled).name.startswith("Behavior: n")
