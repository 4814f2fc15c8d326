"""The behavior simulator runs the behavior compiled to a journey on the journey engine (what live
traffic runs); it answers exactly as the reference matcher does — when it fired, from when, with which
properties, and the match left open — for any behavior and any stream (property test), and for §13's
timelines 2–4."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings

from behaviors.compiler import compile_behavior
from behaviors.examples import EXAMPLES
from behaviors.simulator import simulate_behavior
from journeys.document import parse_journey
from journeys.simulator import simulate
from tests.behaviors.reference import reference_simulate
from tests.behaviors.test_matcher_properties import behaviors, streams

START = datetime(2025, 1, 1, tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _journey_fired(document: dict, events: list[dict], until: str) -> dict[str, list[str]]:
    """What the compiled journey records, read straight off the journey simulator."""
    journey = parse_journey(compile_behavior(document))
    result = simulate(journey, profiles=[], events=events, until=until)["profiles"]
    return {
        user: sorted(r["at"] for entry in person["entries"] for r in entry.get("recorded", []))
        for user, person in result.items()
    }


@settings(max_examples=300, deadline=None)
@given(behaviors, streams)
def test_the_simulator_answers_as_the_matcher_does(document, stream):
    events = [
        {"user_id": "p", "event": name, "timestamp": _iso(START + timedelta(hours=hours)), "properties": {"i": i}}
        for i, (name, hours) in enumerate(sorted(stream, key=lambda item: item[1]))
    ]
    until = _iso(START + timedelta(days=60))
    simulated = simulate_behavior(document, events=events, until=until)
    assert simulated == reference_simulate(document, events=events, until=until)
    assert _journey_fired(document, events, until) == {u: p["fired"] for u, p in simulated["profiles"].items()}


TIMELINE_EVENTS = [
    {"user_id": "dee", "event": "update_cart", "timestamp": "2025-01-01T10:00:00Z", "properties": {}},
    {"user_id": "dee", "event": "update_cart", "timestamp": "2025-01-03T09:00:00Z", "properties": {}},
    {"user_id": "eve", "event": "update_cart", "timestamp": "2025-01-01T10:00:00Z", "properties": {}},
    {"user_id": "eve", "event": "purchase", "timestamp": "2025-01-02T10:00:00Z", "properties": {}},
    {"user_id": "fay", "event": "viewed", "timestamp": "2025-01-01T00:00:00Z", "properties": {}},
    {"user_id": "fay", "event": "viewed", "timestamp": "2025-01-06T00:00:00Z", "properties": {}},
    {"user_id": "fay", "event": "purchase", "timestamp": "2025-01-21T00:00:00Z", "properties": {}},
    {"user_id": "gus", "event": "viewed", "timestamp": "2025-01-01T00:00:00Z", "properties": {}},
    {"user_id": "gus", "event": "viewed", "timestamp": "2025-01-10T00:00:00Z", "properties": {}},
    {"user_id": "hal", "event": "failed_payment", "timestamp": "2025-01-04T12:00:00Z", "properties": {}},
]
TIMELINE_FIRED = {
    "abandoned_cart": {"dee": ["2025-01-06T09:00:00Z"]},
    "slipping_away": {"fay": ["2025-02-20T00:00:00Z"]},
    "skips_payment": {"hal": ["2025-01-04T12:00:00Z"]},
}


def test_the_examples_compile_and_agree_on_the_timelines():
    until = "2025-03-31T00:00:00Z"
    for document in EXAMPLES:
        simulated = simulate_behavior(document, events=TIMELINE_EVENTS, until=until)
        assert simulated == reference_simulate(document, events=TIMELINE_EVENTS, until=until), document["slug"]
        fired = {user: person["fired"] for user, person in simulated["profiles"].items() if person["fired"]}
        assert fired == TIMELINE_FIRED.get(document["slug"], {}), document["slug"]
