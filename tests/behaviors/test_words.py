"""A behavior in one sentence (behaviors/words.py): the five shipped ones as PANEL.md has them, filters,
how often it may fire, half-made documents, and what an open match waits for."""

from __future__ import annotations

import pytest

from behaviors.examples import EXAMPLES
from behaviors.words import behavior_words, step_words, waiting_words

SENTENCES = {
    "abandoned_cart": "update_cart not followed by purchase within 3 days",
    "slipping_away": (
        "Page View, then Page View within 1 week, then any activity within 30 days, then no activity for 30 days"
    ),
    "fails_to_subscribe": "trial_signup not followed by completed_application within 5 weeks",
    "dropped_course": (
        "subscribed_course, then completed_stage within 1 week, not followed by completed_course within 30 days"
    ),
    "skips_payment": "failed_payment, fires at once",
}


@pytest.mark.parametrize("document", EXAMPLES, ids=[e["slug"] for e in EXAMPLES])
def test_the_five_shipped_behaviors_in_words(document):
    assert behavior_words(document) == SENTENCES[document["slug"]]


def test_filters_and_how_often():
    document = {
        "steps": [
            {"performed": "update_cart", "where": {"property": "total", "op": "gt", "value": 50}},
            {"not_performed": "purchase", "within": "P3D"},
        ],
        "max_once_per": "P7D",
    }
    assert behavior_words(document) == (
        "update_cart where total is greater than 50, not followed by purchase within 3 days; at most once a week"
    )
    assert behavior_words({**document, "max_once_per": "P10D"}).endswith("; at most once every 10 days")
    assert behavior_words({**document, "max_once_per": "P1DT2H"}).endswith("; at most once every 1 day, 2 hours")


def test_a_first_step_of_any_activity_and_a_later_one_without_a_window():
    assert behavior_words({"steps": [{"performed": "*"}, {"performed": "purchase"}]}) == "Any activity, then purchase"


@pytest.mark.parametrize(
    ("document", "words"),
    [
        (None, "No steps yet"),
        ({}, "No steps yet"),
        ({"steps": []}, "No steps yet"),
        ({"steps": [{"performed": ""}]}, "(no activity chosen), fires at once"),
        ({"steps": ["x", {"inactive": "P1D"}]}, "(a step that is not filled in), then no activity for 1 day"),
        ({"steps": [{"performed": "a"}, {"not_performed": "b", "within": "soon"}]}, "a not followed by b within soon"),
    ],
)
def test_half_made_documents_still_read(document, words):
    assert behavior_words(document) == words


def test_steps_and_waits():
    assert step_words({"not_performed": "purchase", "within": "P3D"}) == "no purchase within 3 days"
    assert step_words({"performed": "viewed", "within": "PT2H"}) == "Page View within 2 hours"
    assert step_words({"performed": "viewed", "within": "PT2H"}, first=True) == "Page View"
    assert waiting_words({"step": 1, "kind": "not_performed", "activity": "purchase"}) == "Step 2: no purchase"
    assert waiting_words({"step": 3, "kind": "inactive", "activity": "*"}) == "Step 4: no activity"
    assert waiting_words({"step": 2, "kind": "performed", "activity": "*"}) == "Step 3: any activity"
    assert waiting_words(None) == "—"
