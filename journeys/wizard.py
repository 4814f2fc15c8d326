"""The journey wizard's steps (Setup, Entry Rules, Audience, Build, Launch) over a draft document: which
part of the document each step owns, whether a step is complete or has problems (from the document's
own validation, so the wizard and the API can never disagree), and durations as a number and a unit.
Pure code."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from journeys.document import Problem

STEPS = (
    ("setup", "Setup"),
    ("entry", "Entry Rules"),
    ("audience", "Audience"),
    ("build", "Build"),
    ("launch", "Launch"),
)
# The document's top-level keys, by the step that edits them.
OWNED = {
    "setup": ("name", "description", "conversion", "messaging"),
    "entry": ("entry", "schedule", "reentry"),
    "audience": ("audience",),
    "build": ("start", "nodes"),
}
UNITS = (("minutes", "minutes"), ("hours", "hours"), ("days", "days"), ("weeks", "weeks"), ("months", "months"))
_ISO = {"minutes": "PT{}M", "hours": "PT{}H", "days": "P{}D", "weeks": "P{}W", "months": "P{}M"}
_PARTS = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def step_of(problem_field: str) -> str:
    """The step that fixes a problem (its field's top-level key); anything else is Launch's."""
    top = problem_field.split(".")[0].split("[")[0]
    for step, keys in OWNED.items():
        if top in keys:
            return step
    return "launch"


@dataclass
class StepState:
    key: str
    title: str
    number: int
    problems: list[Problem] = field(default_factory=list)
    started: bool = False

    @property
    def status(self) -> str:
        """ "invalid", "complete" or "todo" (nothing filled in yet: its problems wait until it is)."""
        if not self.started:
            return "todo"
        return "invalid" if self.problems else "complete"


def step_states(document: Mapping[str, Any], problems: Iterable[Problem]) -> list[StepState]:
    """The five steps with their problems; a step is started when the draft holds any of its keys."""
    states = [StepState(key, title, i + 1) for i, (key, title) in enumerate(STEPS)]
    by_key = {state.key: state for state in states}
    for problem in problems:
        by_key[step_of(problem.field)].problems.append(problem)
    for key, keys in OWNED.items():
        by_key[key].started = any(document.get(k) not in (None, "", {}, []) for k in keys if k != "name") or (
            key == "setup" and bool(document.get("name"))
        )
    launch = by_key["launch"]
    launch.started = all(by_key[k].status == "complete" for k in OWNED) and not launch.problems
    return states


def duration_iso(number: int | None, unit: str | None) -> str | None:
    """(3, "days") → "P3D"; None when no number is given."""
    if number is None:
        return None
    if unit not in _ISO:
        raise ValueError("needs a unit")
    if number < 1:
        raise ValueError("must be at least 1")
    return _ISO[unit].format(number)


def duration_parts(text: Any) -> tuple[int | None, str | None]:
    """ "P3D" → (3, "days"): the largest unit that states it exactly (weeks for P14D, hours for PT2H)."""
    if not isinstance(text, str):
        return None, None
    match = _PARTS.match(text.strip().upper())
    if match is None:
        return None, None
    years, months, weeks, days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    months += years * 12
    days += weeks * 7
    total_minutes = days * 1440 + hours * 60 + minutes + seconds // 60
    if months and not total_minutes:
        return months, "months"
    if months:
        return None, None  # a mixed duration has no single number + unit; the marketer re-enters it
    if total_minutes and total_minutes % (7 * 1440) == 0:
        return total_minutes // (7 * 1440), "weeks"
    if total_minutes and total_minutes % 1440 == 0:
        return total_minutes // 1440, "days"
    if total_minutes and total_minutes % 60 == 0:
        return total_minutes // 60, "hours"
    return (total_minutes, "minutes") if total_minutes else (None, None)


def node_id_for(kind: str, taken: Iterable[str]) -> str:
    """A readable new node id: "state", "send_2" …"""
    base = {"wait_event": "state", "update_profile": "update", "wait_inactive": "inactive"}.get(kind, kind)
    used = set(taken)
    if base not in used:
        return base
    n = 2
    while f"{base}_{n}" in used:
        n += 1
    return f"{base}_{n}"


EDGE_KEYS = {
    "wait_event": ("on_performed", "on_timeout"),
    "wait_inactive": ("next",),
    "delay": ("next",),
    "send": ("next",),
    "update_profile": ("next",),
    "webhook": ("next",),
    "record_activity": ("next",),
    "exit": (),
}


def outgoing(node: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(edge key, target) of a raw node, including branches' and splits' (`branches[0]`, `else`, `arms[1]`)."""
    kind = node.get("type")
    if kind == "branch":
        edges = [
            (f"branches[{i}]", b.get("next") if isinstance(b, dict) else None)
            for i, b in enumerate(node.get("branches") or [])
        ]
        return [*edges, ("else", node.get("else"))]
    if kind == "split":
        return [
            (f"arms[{i}]", a.get("next") if isinstance(a, dict) else None) for i, a in enumerate(node.get("arms") or [])
        ]
    return [(key, node.get(key)) for key in EDGE_KEYS.get(str(kind), ("next",))]


def edge_set(node: dict[str, Any], key: str, target: str | None) -> None:
    """Point one edge of a raw node (as `outgoing` names it) at `target`."""
    match = re.fullmatch(r"(branches|arms)\[(\d+)\]", key)
    if match is not None:
        items = node.get(match.group(1)) or []
        index = int(match.group(2))
        if index < len(items) and isinstance(items[index], dict):
            items[index]["next"] = target
        return
    node[key] = target


def remove_node(document: dict[str, Any], node_id: str) -> list[str]:
    """Delete a node and the steps only it led to; what pointed at it becomes an open exit. Returns
    the ids removed (steps that were already unreachable stay, for the marketer to fix)."""
    nodes: dict[str, Any] = document.get("nodes") or {}
    if node_id not in nodes:
        return []
    before = _reachable(document)
    for other_id, other in nodes.items():
        if other_id != node_id and isinstance(other, dict):
            for key, target in outgoing(other):
                if target == node_id:
                    edge_set(other, key, None)
    if document.get("start") == node_id:
        document["start"] = None
    del nodes[node_id]
    after = _reachable(document)
    removed = [node_id, *sorted(n for n in nodes if n in before and n not in after)]
    for orphan in removed[1:]:
        del nodes[orphan]
    return removed


def _reachable(document: Mapping[str, Any]) -> set[str]:
    nodes = document.get("nodes") or {}
    seen: set[str] = set()
    todo = [document.get("start")]
    while todo:
        current = todo.pop()
        if not isinstance(current, str) or current in seen or current not in nodes:
            continue
        seen.add(current)
        if isinstance(nodes[current], dict):
            todo.extend(target for _, target in outgoing(nodes[current]))
    return seen
