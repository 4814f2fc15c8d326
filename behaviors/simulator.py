"""The behavior simulator (PRODUCT.md §8.8): a behavior, timestamped events and an end time in; per
profile, when the behavior fired and the match still open at the end. It runs what live traffic runs —
the behavior compiled to a journey (`behaviors.compiler`) on the journey engine, through the journey
simulator's `replay` with a virtual clock — and stores nothing. The request is shaped as the journey
simulator's; `behaviors.matcher` is the reference a property test holds this to.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from behaviors.compiler import compile_behavior, waiting_for
from behaviors.document import parse_behavior
from journeys.document import parse_journey
from journeys.simulator import Budget, Replay, parse_inputs, replay


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def simulate_behavior(document: Any, *, events: Any, until: Any, profiles: Any = None) -> dict[str, Any]:
    """Per profile: `fired` (when, as §8.8 has it), `firings` (when, since when, what was recorded) and
    `open` (the step waited for at `until`, since and until when; null `until`: no end). Raises
    BehaviorError for a bad document, SimulationError (naming the field) for a bad request."""
    behavior = parse_behavior(document)
    compiled = compile_behavior(document)
    journey = parse_journey(compiled)
    people, stream, end = parse_inputs(profiles or [], events, until)
    result: dict[str, Any] = {}
    budget = Budget()
    for key, person in people.items():
        own = [activity for owner, activity in stream if owner == key]
        result[key] = _answer(compiled, replay(journey, person, own, end, behavior.activity, budget))
    return {"profiles": result}


def _answer(compiled: dict[str, Any], replayed: Replay) -> dict[str, Any]:
    firings = [
        {
            "at": _iso(recorded.at),
            "started_at": _iso(entry.instance.entered_at),
            "activity": recorded.name,
            "properties": dict(recorded.properties),
        }
        for entry in replayed.entries
        for recorded in entry.recorded
    ]
    waiting = next((entry.instance for entry in replayed.entries if entry.instance.active), None)
    described = waiting_for(compiled, waiting.node) if waiting is not None else None
    open_match = None
    if waiting is not None and described is not None and waiting.wait_started is not None:
        open_match = {
            "step": described["step"],
            "since": _iso(waiting.wait_started),
            "until": _iso(waiting.due_at) if described["bounded"] and waiting.due_at is not None else None,
        }
    return {"fired": [firing["at"] for firing in firings], "firings": firings, "open": open_match}
