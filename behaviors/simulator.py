"""The behavior simulator: a behavior, timestamped events and an end time in; per profile, when the
behavior fired (and with what), and the match still open at the end. The same matcher as live
traffic, with a virtual clock; nothing is stored. Request shape as the journey simulator's (§8.8)."""

from __future__ import annotations

from typing import Any

from behaviors.document import Behavior
from behaviors.matcher import Activity, State, due_at, on_activity, on_time
from journeys.simulator import parse_inputs


def _iso(moment: Any) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def simulate_behavior(behavior: Behavior, *, events: Any, until: Any, profiles: Any = None) -> dict[str, Any]:
    people, stream, end = parse_inputs(profiles or [], events, until)
    result: dict[str, Any] = {}
    for key in people:
        state = State()
        fired = []
        for owner, activity in stream:
            if owner == key and activity.timestamp <= end:
                fired += on_activity(behavior, state, Activity(activity.name, activity.properties, activity.timestamp))
        fired += on_time(behavior, state, end)
        due = due_at(behavior, state)
        result[key] = {
            "fired": [
                {
                    "at": _iso(f.at),
                    "started_at": _iso(f.started_at),
                    "activity": behavior.activity,
                    "properties": dict(f.properties),
                }
                for f in fired
            ],
            "open": None
            if state.open is None
            else {"step": state.open.step, "since": _iso(state.open.anchor), "until": _iso(due) if due else None},
        }
    return {"profiles": result}
