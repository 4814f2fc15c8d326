"""The matcher through the simulator: timelines 2–4 of §13 and the five behaviors' edge cases."""

from __future__ import annotations

from typing import Any

import pytest

from behaviors.document import parse_behavior
from behaviors.examples import EXAMPLES
from behaviors.simulator import simulate_behavior

BY_SLUG = {e["slug"]: parse_behavior(e) for e in EXAMPLES}


def at(day: float, hour: int = 0, minute: int = 0) -> str:
    whole = int(day)
    return f"2025-01-{1 + whole:02d}T{hour:02d}:{minute:02d}:00Z"


def ev(user: str, name: str, when: str, **properties: Any) -> dict[str, Any]:
    return {"user_id": user, "event": name, "timestamp": when, "properties": properties}


def fired(slug: str, events: list[dict], until: str, **changes: Any) -> dict[str, list[str]]:
    behavior = (
        parse_behavior({**next(e for e in EXAMPLES if e["slug"] == slug), **changes}) if changes else BY_SLUG[slug]
    )
    result = simulate_behavior(behavior, events=events, until=until)["profiles"]
    return {user: [f["at"] for f in person["fired"]] for user, person in result.items()}


def test_timeline_2_abandoned_cart():
    events = [
        ev("dee", "update_cart", at(0, 10), items=2),
        ev("dee", "update_cart", at(2, 9), items=3),
        ev("eve", "update_cart", at(0, 10)),
        ev("eve", "purchase", at(1, 10)),
    ]
    result = simulate_behavior(BY_SLUG["abandoned_cart"], events=events, until=at(20))["profiles"]
    assert [f["at"] for f in result["dee"]["fired"]] == [at(5, 9)]  # from the last update, once
    assert result["dee"]["fired"][0]["properties"] == {"items": 3}
    assert result["eve"]["fired"] == [] and result["eve"]["open"] is None


def test_timeline_3_slipping_away():
    events = [
        ev("fay", "viewed", at(0)),
        ev("fay", "viewed", at(5)),
        ev("fay", "purchase", at(20)),
        ev("gus", "viewed", at(0)),
        ev("gus", "viewed", at(9)),
    ]
    assert fired("slipping_away", events, "2025-03-31T00:00:00Z") == {
        "fay": ["2025-02-20T00:00:00Z"],  # day 50: inactive for 30 days after the purchase on day 20
        "gus": [],  # the second view came too late for the match from day 0 (and starts its own)
    }


def test_timeline_4_skips_a_payment_fires_at_once():
    assert fired("skips_payment", [ev("hal", "failed_payment", at(3, 12))], at(4)) == {"hal": [at(3, 12)]}


def test_gus_second_view_opens_a_new_match():
    result = simulate_behavior(
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
def test_not_performed_window_boundary(purchase_at, fires):
    events = [ev("ann", "update_cart", at(0, 10)), ev("ann", "purchase", purchase_at)]
    assert fired("abandoned_cart", events, at(10)) == {"ann": [at(3, 10)] if fires else []}


@pytest.mark.parametrize(("second", "advances"), [(at(6, 23, 59), True), (at(7), False)])
def test_performed_window_boundary(second, advances):
    events = [ev("bo", "subscribed_course", at(0)), ev("bo", "completed_stage", second)]
    result = simulate_behavior(BY_SLUG["dropped_course"], events=events, until=at(9))["profiles"]["bo"]
    assert (result["open"] is not None and result["open"]["step"] == 2) is advances


def test_dropped_course_fires_when_the_course_is_not_completed():
    events = [ev("cy", "subscribed_course", at(0)), ev("cy", "completed_stage", at(2))]
    # 30 days from the completed stage (day 2): day 32.
    assert fired("dropped_course", events, "2025-02-15T00:00:00Z") == {"cy": ["2025-02-02T00:00:00Z"]}
    completed = [*events, ev("cy", "completed_course", at(20))]
    assert fired("dropped_course", completed, "2025-02-15T00:00:00Z") == {"cy": []}


def test_fails_to_subscribe():
    events = [
        ev("di", "trial_signup", at(0)),
        ev("ed", "trial_signup", at(0)),
        ev("ed", "completed_application", at(30)),
    ]
    assert fired("fails_to_subscribe", events, "2025-03-01T00:00:00Z") == {"di": ["2025-02-05T00:00:00Z"], "ed": []}


def test_out_of_order_arrival_within_the_window():
    """A purchase that happened before the cart update it arrives after does not cancel it."""
    events = [ev("fe", "update_cart", at(1, 12)), ev("fe", "purchase", at(1, 11))]
    assert fired("abandoned_cart", events, at(10)) == {"fe": [at(4, 12)]}


def test_advance_beats_restart():
    """The second view advances the open match (step 2), it does not restart it at step 1."""
    result = simulate_behavior(
        BY_SLUG["slipping_away"], events=[ev("gi", "viewed", at(0)), ev("gi", "viewed", at(3))], until=at(4)
    )
    assert result["profiles"]["gi"]["open"] == {"step": 2, "since": at(3), "until": "2025-02-03T00:00:00Z"}


def test_max_once_per():
    events = [
        ev("ha", "update_cart", at(0)),
        ev("ha", "update_cart", at(4)),  # fired day 3; this match completes day 7, within a week of it
        ev("ha", "update_cart", at(11)),  # completes day 14, a week after day 3 has passed
    ]
    assert fired("abandoned_cart", events, at(20), max_once_per="P7D") == {"ha": [at(3), at(14)]}
    assert fired("abandoned_cart", events, at(20)) == {"ha": [at(3), at(7), at(14)]}


def test_star_matches_any_activity_but_behaviors():
    document = {"name": "any", "slug": "any", "steps": [{"performed": "signup"}, {"performed": "*", "within": "P1D"}]}
    behavior = parse_behavior(document)
    events = [ev("io", "signup", at(0)), ev("io", "behavior:other", at(0, 1)), ev("io", "search", at(0, 2))]
    result = simulate_behavior(behavior, events=events, until=at(2))["profiles"]["io"]
    assert [f["at"] for f in result["fired"]] == [at(0, 2)]


def test_inactive_window_restarts_on_any_activity():
    document = {"name": "quiet", "slug": "quiet", "steps": [{"performed": "login"}, {"inactive": "P2D"}]}
    behavior = parse_behavior(document)
    events = [ev("jo", "login", at(0)), ev("jo", "search", at(1)), ev("jo", "purchase", at(2, 12))]
    result = simulate_behavior(behavior, events=events, until=at(10))["profiles"]["jo"]
    assert [f["at"] for f in result["fired"]] == [at(4, 12)]


def test_where_filters_on_steps():
    document = {
        "name": "big cart",
        "slug": "big_cart",
        "steps": [
            {"performed": "update_cart", "where": [{"property": "value", "op": "gte", "value": 100}]},
            {"not_performed": "purchase", "within": "P1D"},
        ],
    }
    behavior = parse_behavior(document)
    events = [ev("ka", "update_cart", at(0), value=50), ev("lu", "update_cart", at(0), value=150)]
    result = simulate_behavior(behavior, events=events, until=at(5))["profiles"]
    assert ([f["at"] for f in result["ka"]["fired"]], [f["at"] for f in result["lu"]["fired"]]) == ([], [at(1)])
