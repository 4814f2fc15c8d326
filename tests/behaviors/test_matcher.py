"""Timelines 2–4 of §13 and the five behaviors' edge cases, through the behavior simulator (the compiled
journey on the journey engine, what live traffic runs) and through the reference matcher alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from behaviors.examples import EXAMPLES
from behaviors.simulator import simulate_behavior
from tests.behaviors.reference import reference_simulate

BY_SLUG = {e["slug"]: e for e in EXAMPLES}
Run = Callable[..., dict[str, Any]]


@pytest.fixture(params=[simulate_behavior, reference_simulate], ids=["engine", "matcher"])
def run(request) -> Run:
    return request.param


def at(day: float, hour: int = 0, minute: int = 0) -> str:
    whole = int(day)
    return f"2025-01-{1 + whole:02d}T{hour:02d}:{minute:02d}:00Z"


def ev(user: str, name: str, when: str, **properties: Any) -> dict[str, Any]:
    return {"user_id": user, "event": name, "timestamp": when, "properties": properties}


def fired(run: Run, slug: str, events: list[dict], until: str, **changes: Any) -> dict[str, list[str]]:
    result = run({**BY_SLUG[slug], **changes}, events=events, until=until)["profiles"]
    return {user: person["fired"] for user, person in result.items()}


def test_timeline_2_abandoned_cart(run):
    events = [
        ev("dee", "update_cart", at(0, 10), items=2),
        ev("dee", "update_cart", at(2, 9), items=3),
        ev("eve", "update_cart", at(0, 10)),
        ev("eve", "purchase", at(1, 10)),
    ]
    result = run(BY_SLUG["abandoned_cart"], events=events, until=at(20))["profiles"]
    assert result["dee"]["fired"] == [at(5, 9)]  # from the last update, once
    assert result["dee"]["firings"] == [
        {"at": at(5, 9), "started_at": at(2, 9), "activity": "behavior:abandoned_cart", "properties": {"items": 3}}
    ]
    assert result["eve"]["fired"] == result["eve"]["firings"] == [] and result["eve"]["open"] is None


def test_timeline_3_slipping_away(run):
    events = [
        ev("fay", "viewed", at(0)),
        ev("fay", "viewed", at(5)),
        ev("fay", "purchase", at(20)),
        ev("gus", "viewed", at(0)),
        ev("gus", "viewed", at(9)),
    ]
    assert fired(run, "slipping_away", events, "2025-03-31T00:00:00Z") == {
        "fay": ["2025-02-20T00:00:00Z"],  # day 50: inactive for 30 days after the purchase on day 20
        "gus": [],  # the second view came too late for the match from day 0 (and starts its own)
    }


def test_timeline_4_skips_a_payment_fires_at_once(run):
    assert fired(run, "skips_payment", [ev("hal", "failed_payment", at(3, 12))], at(4)) == {"hal": [at(3, 12)]}


def test_gus_second_view_opens_a_new_match(run):
    result = run(
        BY_SLUG["slipping_away"], events=[ev("gus", "viewed", at(0)), ev("gus", "viewed", at(9))], until=at(10)
    )
    assert result["profiles"]["gus"]["open"] == {"step": 1, "since": at(9), "until": at(16)}


@pytest.mark.parametrize(
    ("purchase_at", "fires"),
    [
        (at(3, 9, 59), False),  # inside the window: cancelled
        (at(3, 10), True),  # exactly at the end: the window is half-open, so it already fired
        (at(3, 11), True),
    ],
)
def test_not_performed_window_boundary(run, purchase_at, fires):
    events = [ev("ann", "update_cart", at(0, 10)), ev("ann", "purchase", purchase_at)]
    assert fired(run, "abandoned_cart", events, at(10)) == {"ann": [at(3, 10)] if fires else []}


@pytest.mark.parametrize(("second", "advances"), [(at(6, 23, 59), True), (at(7), False)])
def test_performed_window_boundary(run, second, advances):
    events = [ev("bo", "subscribed_course", at(0)), ev("bo", "completed_stage", second)]
    result = run(BY_SLUG["dropped_course"], events=events, until=at(9))["profiles"]["bo"]
    assert (result["open"] is not None and result["open"]["step"] == 2) is advances


def test_dropped_course_fires_when_the_course_is_not_completed(run):
    events = [ev("cy", "subscribed_course", at(0)), ev("cy", "completed_stage", at(2))]
    # 30 days from the completed stage (day 2): day 32.
    assert fired(run, "dropped_course", events, "2025-02-15T00:00:00Z") == {"cy": ["2025-02-02T00:00:00Z"]}
    completed = [*events, ev("cy", "completed_course", at(20))]
    assert fired(run, "dropped_course", completed, "2025-02-15T00:00:00Z") == {"cy": []}


def test_fails_to_subscribe(run):
    events = [
        ev("di", "trial_signup", at(0)),
        ev("ed", "trial_signup", at(0)),
        ev("ed", "completed_application", at(30)),
    ]
    assert fired(run, "fails_to_subscribe", events, "2025-03-01T00:00:00Z") == {
        "di": ["2025-02-05T00:00:00Z"],
        "ed": [],
    }


def test_out_of_order_arrival_within_the_window(run):
    """A purchase that happened before the cart update it arrives after does not cancel it."""
    events = [ev("fe", "update_cart", at(1, 12)), ev("fe", "purchase", at(1, 11))]
    assert fired(run, "abandoned_cart", events, at(10)) == {"fe": [at(4, 12)]}


def test_advance_beats_restart(run):
    """The second view advances the open match (step 2), it does not restart it at step 1."""
    result = run(BY_SLUG["slipping_away"], events=[ev("gi", "viewed", at(0)), ev("gi", "viewed", at(3))], until=at(4))
    assert result["profiles"]["gi"]["open"] == {"step": 2, "since": at(3), "until": "2025-02-03T00:00:00Z"}


def test_max_once_per(run):
    events = [
        ev("ha", "update_cart", at(0)),
        ev("ha", "update_cart", at(4)),  # fired day 3; this match completes day 7, within a week of it
        ev("ha", "update_cart", at(11)),  # completes day 14, a week after day 3 has passed
    ]
    assert fired(run, "abandoned_cart", events, at(20), max_once_per="P7D") == {"ha": [at(3), at(14)]}
    assert fired(run, "abandoned_cart", events, at(20)) == {"ha": [at(3), at(7), at(14)]}


def test_star_matches_any_activity_but_behaviors(run):
    document = {"name": "any", "slug": "any", "steps": [{"performed": "signup"}, {"performed": "*", "within": "P1D"}]}
    events = [ev("io", "signup", at(0)), ev("io", "behavior:other", at(0, 1)), ev("io", "search", at(0, 2))]
    assert run(document, events=events, until=at(2))["profiles"]["io"]["fired"] == [at(0, 2)]


def test_inactive_window_restarts_on_any_activity(run):
    document = {"name": "quiet", "slug": "quiet", "steps": [{"performed": "login"}, {"inactive": "P2D"}]}
    events = [ev("jo", "login", at(0)), ev("jo", "search", at(1)), ev("jo", "purchase", at(2, 12))]
    assert run(document, events=events, until=at(10))["profiles"]["jo"]["fired"] == [at(4, 12)]


def test_where_filters_on_steps(run):
    document = {
        "name": "big cart",
        "slug": "big_cart",
        "steps": [
            {"performed": "update_cart", "where": [{"property": "value", "op": "gte", "value": 100}]},
            {"not_performed": "purchase", "within": "P1D"},
        ],
    }
    events = [ev("ka", "update_cart", at(0), value=50), ev("lu", "update_cart", at(0), value=150)]
    result = run(document, events=events, until=at(5))["profiles"]
    assert (result["ka"]["fired"], result["lu"]["fired"]) == ([], [at(1)])


def test_a_firing_carries_the_properties_of_the_activity_that_started_its_match(run):
    """What `record_activity` stores live: the first step's activity's properties, not later steps'."""
    events = [ev("mo", "subscribed_course", at(0), course="go"), ev("mo", "completed_stage", at(1), stage=1)]
    [firing] = run(BY_SLUG["dropped_course"], events=events, until="2025-02-15T00:00:00Z")["profiles"]["mo"]["firings"]
    assert (firing["at"], firing["started_at"], firing["properties"]) == (
        "2025-02-01T00:00:00Z",
        at(0),
        {"course": "go"},
    )


def test_the_answer_keeps_the_contract_shape(run):
    """§8.8: `{"profiles": {"dee": {"fired": ["2025-01-06T09:00:00Z"]}}}`, a list of ISO date-times."""
    events = [ev("dee", "update_cart", at(0, 10)), ev("dee", "update_cart", at(2, 9))]
    dee = run(BY_SLUG["abandoned_cart"], events=events, until=at(20))["profiles"]["dee"]
    assert dee["fired"] == ["2025-01-06T09:00:00Z"]
    assert set(dee) == {"fired", "firings", "open"}
