"""The reference matcher (`behaviors.matcher`) driven over a simulate request, answering in the behavior
simulator's shape: what tests hold the simulator (the compiled journey on the journey engine) to."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from behaviors.document import parse_behavior
from behaviors.matcher import Activity, Fired, State, due_at, on_activity, on_time
from journeys.simulator import parse_inputs


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def reference_simulate(document: Any, *, events: Any, until: Any, profiles: Any = None) -> dict[str, Any]:
    behavior = parse_behavior(document)
    people, stream, end = parse_inputs(profiles or [], events, until)
    result: dict[str, Any] = {}
    for key in people:
        state = State()
        fired: list[Fired] = []
        for owner, activity in stream:
            if owner == key and activity.timestamp <= end:
                fired += on_activity(behavior, state, Activity(activity.name, activity.properties, activity.timestamp))
        fired += on_time(behavior, state, end)
        firings = [
            {
                "at": _iso(f.at),
                "started_at": _iso(f.started_at),
                "activity": behavior.activity,
                "properties": dict(f.properties),
            }
            for f in fired
        ]
        due = due_at(behavior, state)
        result[key] = {
            "fired": [firing["at"] for firing in firings],
            "firings": firings,
            "open": None
            if state.open is None
            else {"step": state.open.step, "since": _iso(state.open.anchor), "until": _iso(due) if due else None},
        }
    return {"profiles": result}
