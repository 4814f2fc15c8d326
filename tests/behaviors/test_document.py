"""Behavior documents: the five examples parse; every bad document is refused naming step and field."""

from __future__ import annotations

import pytest

from behaviors.document import BehaviorError, parse_behavior
from behaviors.examples import EXAMPLES


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
