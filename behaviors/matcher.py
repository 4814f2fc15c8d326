"""The behavior matcher (PRODUCT.md §7), pure: (behavior, a profile's match state, an activity or the
clock) → (new state, what fired). It is the reference statement of §7, not what runs: live traffic, the
backfill and the simulator all run the behavior compiled to a journey (`behaviors.compiler`) on the
journey engine, and a property test (tests/behaviors/test_compiled.py) holds that to this.

Semantics:
- A profile has at most one open match per behavior: the index of the step it waits for and its
  *anchor*, the moment the previous step was satisfied (the activity's time, or the end of the window
  that satisfied it). Every window is half-open, [anchor, anchor + within): an activity exactly at the
  end is after the window, so a window that ends at t is settled before an activity at t is looked at.
- An activity that advances the open match advances it: a `performed` step it matches, or any activity
  during `inactive` (which starts that window again). Otherwise an activity matching the first step
  restarts the match from itself (an abandoned-cart reminder counts from the last cart update). The
  activity named in `not_performed` cancels the match (and may then restart it, if it is also the
  first step).
- `max_once_per` P: a completion at t fires only if the behavior has not fired in [t − P, t].
- An activity earlier than the anchor happened before the step it would answer, so it does not count for
  that step (it may still restart the match).
- `not_performed` and `inactive` are satisfied when their window closes; a `performed` window that closes
  unanswered ends the match. When the last step is satisfied the behavior fires, at that moment, unless
  it fired less than `max_once_per` before; either way the match closes. A firing carries the properties
  of the activity that started its match (what the journey's `record_activity` records).
- `behavior:` activities never feed a behavior; `*` and `inactive` see only what the profile did
  (`activities.names.counts_as_any`: not segment changes or delivery reports).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from activities.names import counts_as_any, is_behavior
from behaviors.document import Behavior, Step
from segments.conditions import event_matches


@dataclass(frozen=True)
class Activity:
    name: str
    properties: Mapping[str, Any]
    timestamp: datetime


@dataclass
class Match:
    step: int  # the step waited for
    anchor: datetime  # when the previous step was satisfied
    started_at: datetime
    properties: dict[str, Any] = field(default_factory=dict)  # those of the activity that started it


@dataclass
class State:
    """One profile's state for one behavior."""

    open: Match | None = None
    last_fired: datetime | None = None


@dataclass(frozen=True)
class Fired:
    at: datetime
    started_at: datetime
    properties: Mapping[str, Any]


def due_at(behavior: Behavior, state: State) -> datetime | None:
    """When the clock must next look at this state (the open window's end), or None."""
    match = state.open
    if match is None:
        return None
    within = behavior.steps[match.step].within
    return within.after(match.anchor) if within is not None else None


def on_time(behavior: Behavior, state: State, now: datetime) -> list[Fired]:
    """Settle every window that ended at or before `now`."""
    fired: list[Fired] = []
    while state.open is not None:
        end = due_at(behavior, state)
        if end is None or end > now:
            break
        match = state.open
        if behavior.steps[match.step].kind == "performed":
            state.open = None  # the window closed unanswered
            break
        match.anchor = end  # not_performed / inactive: satisfied when the window closes
        match.step += 1
        fired += _complete_if_done(behavior, state, end)
    return fired


def on_activity(behavior: Behavior, state: State, activity: Activity) -> list[Fired]:
    fired = on_time(behavior, state, activity.timestamp)
    if is_behavior(activity.name):
        return fired
    match = state.open
    if match is not None and activity.timestamp >= match.anchor:
        step = behavior.steps[match.step]
        if step.kind == "inactive":
            if counts_as_any(activity.name):
                match.anchor = activity.timestamp  # any activity starts the window again
                return fired
        elif _matches(step, activity):
            if step.kind == "not_performed":
                state.open = None  # cancelled; the activity may still start a new match below
            else:
                match.anchor = activity.timestamp
                match.step += 1
                return fired + _complete_if_done(behavior, state, activity.timestamp)
    first = behavior.steps[0]
    if _matches(first, activity):
        state.open = Match(1, activity.timestamp, activity.timestamp, dict(activity.properties))
        fired += _complete_if_done(behavior, state, activity.timestamp)
    return fired


def _matches(step: Step, activity: Activity) -> bool:
    return step.matches(activity.name) and event_matches(step.where, activity.properties, activity.timestamp)


def _complete_if_done(behavior: Behavior, state: State, at: datetime) -> list[Fired]:
    match = state.open
    if match is None or match.step < len(behavior.steps):
        return []
    state.open = None
    once = behavior.max_once_per
    if state.last_fired is not None and once is not None and at <= once.after(state.last_fired):
        return []  # fired within the period (its end included): the match closes without firing
    state.last_fired = at
    return [Fired(at, match.started_at, dict(match.properties))]
