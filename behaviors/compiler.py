"""A behavior, compiled to a journey document, runs on the journey engine, its durable timers and the
evaluation pipeline (there is no second engine). Step by step:

- the first step is the entry event (its `where` the entry filter), in `restart` re-entry mode: a new
  first-step activity starts the match again unless it moved the open one on;
- `performed` → `wait_event` (answered: next step; timed out: the match ends), no `within` → no limit;
- `not_performed` → `wait_event` (answered: the match is cancelled; timed out: next step);
- `inactive` → `wait_inactive`;
- completion → `record_activity behavior:<slug>`, behind a branch that skips it when the behavior was
  recorded less than `max_once_per` ago.

`behaviors.matcher` states the same semantics directly; a property test holds the two equal.
"""

from __future__ import annotations

from typing import Any

from behaviors.document import parse_behavior, present

FOREVER = "P20Y"  # a `performed` step without `within`: the longest wait a journey allows
NAME_LENGTH = 200  # a journey's name is at most this long; a behavior's may be too, before the prefix


def compile_behavior(document: dict[str, Any]) -> dict[str, Any]:
    behavior = parse_behavior(document)  # raises BehaviorError naming step and field
    raw_steps = [present(raw) for raw in document["steps"]]  # null fields are absent
    nodes: dict[str, Any] = {}
    count = len(raw_steps)
    for index in range(1, count):
        step, raw = behavior.steps[index], raw_steps[index]
        following = f"step{index + 1}" if index + 1 < count else "complete"
        within = raw.get("within") or raw.get("inactive")
        if step.kind == "performed":
            nodes[f"step{index}"] = {
                "type": "wait_event",
                "event": step.name,
                "where": raw.get("where") or [],
                "timeout": within or FOREVER,
                "on_performed": following,
                "on_timeout": None,
            }
        elif step.kind == "not_performed":
            nodes[f"step{index}"] = {
                "type": "wait_event",
                "event": step.name,
                "where": raw.get("where") or [],
                "timeout": within,
                "on_performed": "cancelled",
                "on_timeout": following,
            }
        else:
            nodes[f"step{index}"] = {"type": "wait_inactive", "duration": within, "next": following}
    record = {"type": "record_activity", "name": behavior.activity, "next": None}
    if behavior.max_once_per is not None:
        recently = {"performed": behavior.activity, "within": str(behavior.max_once_per)}
        nodes["complete"] = {"type": "branch", "branches": [{"if": recently, "next": None}], "else": "record"}
        nodes["record"] = record
    else:
        nodes["complete"] = record
    if any(step.kind == "not_performed" for step in behavior.steps):
        nodes["cancelled"] = {"type": "exit"}
    first = raw_steps[0]
    return {
        "name": f"Behavior: {behavior.name}"[:NAME_LENGTH],
        "entry": {"type": "event", "event": behavior.steps[0].name, "where": first.get("where") or []},
        "reentry": {"mode": "restart"},
        "start": "step1" if count > 1 else "complete",
        "nodes": nodes,
    }


def waiting_for(compiled: dict[str, Any], node: str | None) -> dict[str, Any] | None:
    """What an open match resting at `node` of a compiled version waits for: the step's index in the
    behavior's `steps`, its kind, the activity, and whether its window has an end."""
    if node is None or not node.startswith("step"):
        return None
    spec = compiled["nodes"].get(node) or {}
    index = int(node.removeprefix("step"))
    if spec.get("type") == "wait_inactive":
        return {"step": index, "kind": "inactive", "activity": "*", "bounded": True}
    kind = "not_performed" if spec.get("on_performed") == "cancelled" else "performed"
    return {"step": index, "kind": kind, "activity": spec.get("event"), "bounded": spec.get("timeout") != FOREVER}
