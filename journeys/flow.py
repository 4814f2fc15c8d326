"""The journey flow of the Build step (PANEL.md), laid out on the server and drawn as inline SVG: one pure
function from a raw draft document (possibly invalid: no start, edges to unknown steps, loops, unknown
types) with optional overlays to a layout, and one from a layout to an SVG string. Pure code.

    layout = flow_layout(document, problems=problems, counts=FlowCounts(...), path=[PathStep("fav", "12:00")])
    svg = flow_svg(layout, link=lambda target: {"href": f"?node={target.node_id}"} if target.node_id else None)

`flow_layout(document, *, problems=(), counts=None, path=(), timezone=None)`:
- `problems`: the document's `Problem`s; `nodes.<id>…` mark that step invalid with the first message under
  its card (all of them in its tooltip), `entry…` and `start…` mark the trigger.
- `counts`: a `FlowCounts` overlay (live journey, backtest): counts per node (`entered`, `waiting`, `sent` …)
  shown on the card, and per edge (keyed `(node id, edge key)` as `journeys.wizard.outgoing` names edges,
  `("trigger", "start")` for the trigger's) shown on the edge's label.
- `path`: one profile's steps (simulator): `PathStep(node, at, outcome)`; those steps and the edges taken
  between them are marked `taken`, each step with its time label (`at`, already in the viewer's words).
- `timezone`: where a scheduled trigger's start time is shown (UTC when None).
- `problem_words`: how a problem reads under its card (the panel's words; the field's tail and the
  document's message when None).

Left to right, one column per depth (longest path from the trigger, edges back to an earlier or the same
column are loops and curve around below); a step's first edge stays on its row, later ones open rows
below. Every open exit ends in a "+ add step" point (an exit dot where nothing can be added), an edge
to an unknown id in a "missing step" placeholder, and steps not reachable from start are drawn in rows
below, to be connected or deleted.

`flow_svg(layout, *, link=None)`: `link(Target)` returns the attributes of an `<a>` wrapping a clickable
element (`{"href": …, "hx-get": …}`) or None; targets are the trigger, each step and each add point.

What the SVG holds, for the page, tests and browser tests to find (svg root class `nudge-flow`):
- `g.trigger#flow-trigger` (`data-entry` "event" / "segment" / "")
- `g.node.node-<type>` with `data-node` (the id), `data-type`, `id="node-<id>"` (when the id is a plain one);
  also `invalid`, `taken`, `unreachable`; inside: `rect.card`, `text.node-type`, `text.node-summary`,
  `text.node-counts`, `text.node-time`, `text.problem` and a `<title>` with the full text.
- `g.node.missing` with `data-missing` (the unknown id).
- `g.add` with `data-from` (node id or "trigger") and `data-key` (edge key): an open exit; also `end`
  where `link` gives it nothing (drawn as the dot where profiles leave, not "+ add step").
The root's style fits it to its box, down to `FIT` of its size; the page scrolls what is wider.
- `g.edge` with `data-from`, `data-key`, `data-to` (absent on an open exit), `data-count`; also `back`
  (a loop), `open`, `to-missing`, `taken`; inside `path.edge-line`, `path.edge-arrow`, `g.edge-label`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any, Literal

from journeys.document import Problem
from journeys.wizard import outgoing
from segments.conditions import as_datetime
from segments.words import CHANNEL_WORDS, condition_words, duration_words, event_words

CARD_W, CARD_H = 264, 76
SMALL_W, SMALL_H = 112, 28  # add points and exit dots
COL_GAP, ROW_GAP = 184, 56
MARGIN, SECTION_GAP = 32, 40
TRUNK = 18  # where edges leaving a card turn down or up
CHAR = 0.55  # average glyph width in ems, to fit text without measuring it
FIT = 0.7  # the smallest scale a flow is drawn at to fit its box (text 13 px → 9 px); wider ones scroll
TRIGGER = "T"  # the trigger's key in the layout; node keys are "n:<id>", so no node id can clash

_SAFE_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z_:][A-Za-z0-9_:.\-]*$")
_COUNT_WORDS = {
    "entered": "entered",
    "waiting": "waiting now",
    "sent": "sent",
    "delivered": "delivered",
    "opened": "opened",
    "clicked": "clicked",
    "failed": "failed",
    "suppressed": "suppressed",
}
_ICONS = {
    "trigger": "⚑",
    "wait_event": "◷",
    "wait_inactive": "☾",
    "delay": "◔",
    "record_activity": "⊕",
    "branch": "⎇",
    "split": "⇉",
    "send": "✉",
    "update_profile": "✎",
    "webhook": "⚡",
}
_TYPE_WORDS = {
    "wait_event": "State",
    "wait_inactive": "Inactivity",
    "delay": "Delay",
    "record_activity": "Record activity",
    "branch": "Branch",
    "split": "Split (A/B)",
    "send": "Action",
    "update_profile": "Action",
    "webhook": "Action",
    "exit": "Exit point",
}


@dataclass(frozen=True)
class FlowCounts:
    """Counts drawn on the flow: per node id (`{"entered": 120, "waiting": 30}`), per edge
    (`{("fav", "on_performed"): 80, ("trigger", "start"): 120}`)."""

    nodes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    edges: Mapping[tuple[str, str], int] = field(default_factory=dict)


@dataclass(frozen=True)
class PathStep:
    """One step of a profile's path: the node, when (a label), and the outcome taken there as the engine
    names it (`on_performed`, `branches[0]`, `else`, a split arm's name, `next`), if known."""

    node: str
    at: str = ""
    outcome: str | None = None


@dataclass(frozen=True)
class Target:
    """What a click on the flow means: the trigger, a step (`node_id`), or adding a step at an open exit
    (`from_id`: a node id or "trigger"; `key`: the edge, as `outgoing` names it, "start" for the trigger)."""

    kind: Literal["trigger", "node", "add"]
    node_id: str | None = None
    from_id: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class Box:
    """A drawn element: `kind` "trigger", "node", "missing" (an unknown id) or "add" (an open exit);
    `key` is "T" for the trigger, "n:<id>" for a node, "m:<id>" for a missing one, "a:<n>" for an add point."""

    kind: str
    key: str
    node_id: str | None  # the node's id, or the unknown id of a missing step
    type: str | None  # the node's type as written
    column: int
    row: int
    x: float
    y: float
    width: float
    height: float
    label: str
    summary: str
    counts: str = ""
    problems: tuple[str, ...] = ()
    times: tuple[str, ...] = ()
    taken: bool = False
    reachable: bool = True
    target: Target | None = None

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def middle(self) -> float:
        return self.y + self.height / 2

    @property
    def bottom(self) -> float:
        return self.y + self.height


@dataclass(frozen=True)
class Edge:
    source: str  # box keys
    target: str
    from_id: str  # node id, or "trigger"
    key: str  # edge key as `outgoing` names it ("start" for the trigger's)
    to_id: str | None  # node id or unknown id; None for an open exit
    label: str
    count: int | None
    back: bool
    taken: bool
    d: str  # the line's SVG path data
    arrow: str
    label_x: float
    label_y: float
    label_anchor: str  # "start" or "end"


@dataclass(frozen=True)
class Layout:
    title: str
    width: float
    height: float
    boxes: tuple[Box, ...]
    edges: tuple[Edge, ...]
    unreachable_y: float | None  # where the "not connected" rows' caption goes, when there are any


@dataclass
class _Vertex:
    kind: str
    node_id: str | None = None
    spec: Any = None
    from_id: str | None = None  # add points: the edge they end
    key: str | None = None


@dataclass
class _Out:
    key: str
    target: str
    label: str


# -- layout ------------------------------------------------------------------------------------------


def flow_layout(
    document: Mapping[str, Any],
    *,
    problems: Iterable[Problem] = (),
    counts: FlowCounts | None = None,
    path: Sequence[PathStep] = (),
    timezone: tzinfo | None = None,
    problem_words: Callable[[Problem], str] | None = None,
) -> Layout:
    """Lay the draft out; see the module docstring for what each argument adds."""
    doc: Mapping[str, Any] = document if isinstance(document, Mapping) else {}
    raw_nodes = doc.get("nodes")
    nodes = {str(k): v for k, v in raw_nodes.items()} if isinstance(raw_nodes, Mapping) else {}
    vertices, succ = _graph(doc, nodes)

    main = _reach([TRIGGER], succ)
    rest = [v for v in vertices if v not in main]
    rest_set = set(rest)
    has_parent = {o.target for v in rest for o in succ[v] if o.target != v}
    roots = [v for v in rest if vertices[v].kind == "node" and v not in has_parent]
    roots += [v for v in rest if vertices[v].kind == "node"]  # loops with no way in: any of them starts one

    column: dict[str, int] = {}
    row: dict[str, int] = {}
    kids: dict[str, list[str]] = {v: [] for v in vertices}
    next_row = _section([TRIGGER], main, succ, 0, column, row, kids, 0)
    main_rows = next_row
    # every vertex is placed: the unconnected part holds only nodes (all roots) and what they lead to
    _section(roots, rest_set, succ, 1, column, row, kids, next_row)

    problems_by = _problems_by_vertex(problems, nodes, problem_words)
    taken_nodes, taken_edges, times = _taken(path, nodes, succ, doc.get("start"))
    node_counts = counts.nodes if counts else {}
    edge_counts = counts.edges if counts else {}

    widths: dict[int, float] = {}
    for v, vertex in vertices.items():
        widths[column[v]] = max(widths.get(column[v], 0), _size(vertex)[0])
    lefts: dict[int, float] = {}
    x = float(MARGIN)
    for c in range(max(widths) + 1):
        lefts[c] = x
        x += widths.get(c, SMALL_W) + COL_GAP
    width = x - COL_GAP + MARGIN

    def top(r: int) -> float:
        return MARGIN + r * (CARD_H + ROW_GAP) + (SECTION_GAP if r >= main_rows else 0)

    boxes: dict[str, Box] = {}
    for v, vertex in vertices.items():
        w, h = _size(vertex)
        label, summary = _words(vertex, doc, timezone)
        node_id = vertex.node_id
        boxes[v] = Box(
            kind=vertex.kind,
            key=v,
            node_id=node_id,
            type=_type_of(vertex),
            column=column[v],
            row=row[v],
            x=lefts[column[v]],
            y=top(row[v]) + (CARD_H - h) / 2,
            width=w,
            height=h,
            label=label,
            summary=summary,
            counts=_count_words(node_counts.get(node_id, {})) if vertex.kind == "node" and node_id else "",
            problems=tuple(problems_by.get(v, ())),
            times=tuple(times.get(v, ())),
            taken=v in taken_nodes,
            reachable=v in main,
            target=_target(vertex),
        )

    drawn: list[Edge] = []
    lanes: dict[int, int] = {}  # loops leaving each row, so they do not share one lane
    for v, outs in succ.items():
        seen: dict[str, int] = {}
        for index, out in enumerate(outs):
            s, t = boxes[v], boxes[out.target]
            from_id = "trigger" if v == TRIGGER else str(vertices[v].node_id)
            count = edge_counts.get((from_id, out.key))
            label = " · ".join(part for part in (out.label, f"{count:,}" if count is not None else "") if part)
            repeat = seen.get(out.target, 0)
            seen[out.target] = repeat + 1
            back = t.column <= s.column
            if back:
                lane = top(s.row) + CARD_H + 26 + 6 * lanes.get(s.row, 0)
                lanes[s.row] = lanes.get(s.row, 0) + 1
                points = [
                    (s.right, s.middle),
                    (s.right + 10, s.middle),
                    (s.right + 10, lane),
                    (lefts[t.column] - 14, lane),
                    (lefts[t.column] - 14, t.middle),
                    (t.x, t.middle),
                ]
                label_at = (s.right - 4, lane + 13 + 13 * repeat, "end")
            elif out.target in kids[v] or t.column == s.column + 1:
                trunk = s.right + TRUNK
                points = [(s.right, s.middle), (trunk, s.middle), (trunk, t.middle), (t.x, t.middle)]
                label_at = (trunk + 10, t.middle - 6 - 14 * repeat, "start")
            else:  # a long edge to a step placed elsewhere: along the gap by its own row, clear of cards
                trunk, entry = s.right + TRUNK, lefts[t.column] - 26
                lane = top(s.row) - 12 if t.row < s.row else top(s.row) + CARD_H + 44
                points = [
                    (s.right, s.middle),
                    (trunk, s.middle),
                    (trunk, lane),
                    (entry, lane),
                    (entry, t.middle),
                    (t.x, t.middle),
                ]
                label_at = (trunk + 10, lane - 5 - 14 * repeat, "start")
            end_x, end_y = points[-1]
            drawn.append(
                Edge(
                    source=v,
                    target=out.target,
                    from_id=from_id,
                    key=out.key,
                    to_id=vertices[out.target].node_id if vertices[out.target].kind != "add" else None,
                    label=label,
                    count=count,
                    back=back,
                    taken=(v, index) in taken_edges,
                    d=_rounded(points),
                    arrow=f"M{_n(end_x)} {_n(end_y)}l-8 -4.5v9z",
                    label_x=label_at[0],
                    label_y=label_at[1],
                    label_anchor=label_at[2],
                )
            )

    height = top(max(row.values())) + CARD_H + ROW_GAP + MARGIN / 2
    name = doc.get("name")
    return Layout(
        title=name if isinstance(name, str) else "",
        width=width,
        height=height,
        boxes=tuple(boxes.values()),
        edges=tuple(drawn),
        unreachable_y=top(main_rows) - 22 if rest else None,
    )


def _graph(doc: Mapping[str, Any], nodes: Mapping[str, Any]) -> tuple[dict[str, _Vertex], dict[str, list[_Out]]]:
    """Vertices (trigger, nodes, unknown ids, open exits) and their edges, in document order."""
    vertices: dict[str, _Vertex] = {TRIGGER: _Vertex("trigger", spec=doc.get("entry"))}
    for node_id, spec in nodes.items():
        vertices[f"n:{node_id}"] = _Vertex("node", node_id, spec)
    succ: dict[str, list[_Out]] = {v: [] for v in vertices}

    def connect(source: str, from_id: str, key: str, target: Any, label: str) -> None:
        if target is None or target == "":
            add = f"a:{len(vertices)}"
            vertices[add] = _Vertex("add", from_id=from_id, key=key)
            succ[add] = []
            succ[source].append(_Out(key, add, label))
            return
        name = target if isinstance(target, str) else str(target)
        if name in nodes:
            succ[source].append(_Out(key, f"n:{name}", label))
            return
        missing = f"m:{name}"
        if missing not in vertices:
            vertices[missing] = _Vertex("missing", name)
            succ[missing] = []
        succ[source].append(_Out(key, missing, label))

    connect(TRIGGER, "trigger", "start", doc.get("start"), "")
    for node_id, spec in nodes.items():
        if isinstance(spec, Mapping):
            for key, target in outgoing(spec):
                connect(f"n:{node_id}", node_id, key, target, edge_words(spec, key))
    return vertices, succ


def _reach(roots: Iterable[str], succ: Mapping[str, list[_Out]]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        v = todo.pop()
        if v not in seen:
            seen.add(v)
            todo.extend(o.target for o in succ[v])
    return seen


def _section(
    roots: Sequence[str],
    allowed: set[str],
    succ: Mapping[str, list[_Out]],
    base: int,
    column: dict[str, int],
    row: dict[str, int],
    kids: dict[str, list[str]],
    first_row: int,
) -> int:
    """Columns (longest path, loops left out) and rows (a step on its first child's row, a leaf on a new
    one) for one part of the drawing; returns the next free row. Iterative: a draft may be long."""
    state: dict[str, int] = {}
    post: list[str] = []
    back: set[tuple[str, str]] = set()
    for root in roots:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(succ[root]))]
        while stack:
            v, outs = stack[-1]
            for out in outs:
                w = out.target
                if w not in allowed:
                    continue
                if w not in state:
                    state[w] = 1
                    stack.append((w, iter(succ[w])))
                    break
                if state[w] == 1:
                    back.add((v, w))
            else:
                stack.pop()
                state[v] = 2
                post.append(v)
    for v in reversed(post):  # a topological order of the graph without its loops
        column.setdefault(v, base)
        for out in succ[v]:
            if out.target in allowed and (v, out.target) not in back:
                column[out.target] = max(column.get(out.target, base), column[v] + 1)

    next_row = first_row
    placed: set[str] = set()
    for root in roots:
        if root in placed:
            continue
        placed.add(root)
        stack = [(root, iter(succ[root]))]
        while stack:
            v, outs = stack[-1]
            for out in outs:
                w = out.target
                if w in allowed and w not in placed and column[w] > column[v]:
                    placed.add(w)
                    kids[v].append(w)
                    stack.append((w, iter(succ[w])))
                    break
            else:
                stack.pop()
                if kids[v]:
                    row[v] = row[kids[v][0]]
                else:
                    row[v] = next_row
                    next_row += 1
    return next_row


def _type_of(vertex: _Vertex) -> str | None:
    """The node's type as written (the trigger's entry type), when it is a string at all."""
    kind = vertex.spec.get("type") if isinstance(vertex.spec, Mapping) else None
    return kind if isinstance(kind, str) else None


def _size(vertex: _Vertex) -> tuple[float, float]:
    if vertex.kind == "add" or (vertex.kind == "node" and _type_of(vertex) == "exit"):
        return SMALL_W, SMALL_H
    return CARD_W, CARD_H


def _target(vertex: _Vertex) -> Target | None:
    if vertex.kind == "trigger":
        return Target("trigger")
    if vertex.kind == "node":
        return Target("node", node_id=vertex.node_id)
    if vertex.kind == "add":
        return Target("add", from_id=vertex.from_id, key=vertex.key)
    return None  # a missing step is fixed from the step that points to it


def _problems_by_vertex(
    problems: Iterable[Problem], nodes: Mapping[str, Any], words: Callable[[Problem], str] | None = None
) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for problem in problems:
        where = problem.field
        if where == "entry" or where.startswith(("entry.", "start")):
            tail = where.removeprefix("entry").lstrip(".")
            found.setdefault(TRIGGER, []).append(words(problem) if words else f"{tail} {problem.message}".strip())
            continue
        if not where.startswith("nodes."):
            continue
        rest = where.removeprefix("nodes.")
        owners = [n for n in nodes if rest == n or rest.startswith((f"{n}.", f"{n}["))]
        if owners:
            owner = max(owners, key=len)
            tail = rest.removeprefix(owner).lstrip(".")
            found.setdefault(f"n:{owner}", []).append(words(problem) if words else f"{tail} {problem.message}".strip())
    return found


def _taken(
    path: Sequence[PathStep], nodes: Mapping[str, Any], succ: Mapping[str, list[_Out]], start: Any
) -> tuple[set[str], set[tuple[str, int]], dict[str, list[str]]]:
    """The boxes and edges (source, index) one profile's path went through, and each step's times."""
    boxes: set[str] = set()
    edges: set[tuple[str, int]] = set()
    times: dict[str, list[str]] = {}
    if path and path[0].node == start:
        boxes.add(TRIGGER)
        edges.update((TRIGGER, i) for i, o in enumerate(succ[TRIGGER]))
    for i, step in enumerate(path):
        v = f"n:{step.node}"
        if v not in succ:
            continue
        boxes.add(v)
        if step.at:
            times.setdefault(v, []).append(step.at)
        key = _edge_key(nodes[step.node], step.outcome)
        after = f"n:{path[i + 1].node}" if i + 1 < len(path) else None
        chosen = [j for j, o in enumerate(succ[v]) if o.key == key and (after is None or o.target == after)]
        if not chosen and after is not None:
            chosen = [j for j, o in enumerate(succ[v]) if o.target == after]
        edges.update((v, j) for j in chosen)
        for j in chosen:
            if succ[v][j].target.startswith("a:"):
                boxes.add(succ[v][j].target)
    return boxes, edges, times


def _edge_key(spec: Any, outcome: str | None) -> str | None:
    """The engine names a split's edges by arm name; the flow by position, as `outgoing` does."""
    if outcome is None or not isinstance(spec, Mapping):
        return outcome
    if spec.get("type") == "split":
        for i, arm in enumerate(spec.get("arms") or []):
            if isinstance(arm, Mapping) and arm.get("name") == outcome:
                return f"arms[{i}]"
    return outcome


# -- words -------------------------------------------------------------------------------------------


def _words(vertex: _Vertex, doc: Mapping[str, Any], timezone: tzinfo | None) -> tuple[str, str]:
    """(type label, one-line summary) in the panel's words."""
    if vertex.kind == "trigger":
        return _trigger_words(vertex.spec, doc.get("schedule"), timezone)
    if vertex.kind == "add":
        return "+ add step", ""
    if vertex.kind == "missing":
        return "Missing step", f"“{vertex.node_id}” does not exist"
    spec = vertex.spec
    if not isinstance(spec, Mapping):
        return "Unknown step", "not a step"
    kind = _type_of(vertex)
    if kind is None or kind not in _TYPE_WORDS:
        return "Unknown step", f"type “{spec.get('type')}” is not a step type" if spec.get("type") else "choose a type"
    return _TYPE_WORDS[kind], _summary(spec)


def _trigger_words(entry: Any, schedule: Any, timezone: tzinfo | None) -> tuple[str, str]:
    if not isinstance(entry, Mapping) or entry.get("type") not in ("event", "segment"):
        return "Trigger", "Choose a trigger"
    where = entry.get("where")
    if entry["type"] == "event":
        event = entry.get("event")
        text = event_words(event) if isinstance(event, str) and event else "choose an event"
        return "Action based", f"{text}: {condition_words(where)}" if where else text
    at = entry.get("every_day_at")
    start = as_datetime(schedule.get("start_at")) if isinstance(schedule, Mapping) else None
    if isinstance(at, str) and at:
        text = f"Every day at {at}"
    elif start is not None:
        local = start.astimezone(timezone or UTC)
        text = f"Once, at {local:%d %b %Y %H:%M} {local.tzname()}"
    else:
        text = "Once, at launch"
    return "Scheduled", f"{text} · {condition_words(where)}" if where else text


def _summary(spec: Mapping[str, Any]) -> str:
    kind = spec.get("type")
    if kind == "wait_event":
        event = spec.get("event")
        text = f"Wait for {event_words(event) if isinstance(event, str) and event else '(choose an event)'}"
        if spec.get("where"):
            text += f" where {condition_words(spec['where'])}"
        return f"{text}, {duration_words(spec['timeout'])}" if spec.get("timeout") else text
    if kind == "wait_inactive":
        return f"No activity for {duration_words(spec.get('duration'))}"
    if kind == "delay":
        if spec.get("duration"):
            return f"Wait {duration_words(spec['duration'])}"
        until = spec.get("until")
        moment = as_datetime(until) if until and not re.fullmatch(r"\d\d:\d\d", str(until)) else None
        if moment is not None:
            return f"Wait until {moment:%d %b %Y %H:%M} {moment.tzname()}"
        return f"Wait until {until}" if until else "Wait (choose how long)"
    if kind == "record_activity":
        name = spec.get("name")
        return f"Record {event_words(name)}" if isinstance(name, str) and name else "Record (choose a name)"
    if kind == "branch":
        raw = spec.get("branches")
        branches: list[Any] = raw if isinstance(raw, list) else []
        if len(branches) == 1 and isinstance(branches[0], Mapping):
            return f"If {_branch_words(branches[0])}; else"
        return f"{len(branches)} conditions and Else" if branches else "Add a condition"
    if kind == "split":
        arms = [arm for arm in spec.get("arms") or [] if isinstance(arm, Mapping)]
        return " · ".join(_arm_words(arm) for arm in arms) or "Add the arms"
    if kind == "send":
        channel = spec.get("channel")
        text = f"Send {CHANNEL_WORDS.get(channel, channel)}" if isinstance(channel, str) and channel else "Send message"
        template = spec.get("template")
        return f"{text} · {template}" if template else f"{text} · choose a template"
    if kind == "update_profile":
        parts = []
        traits = spec.get("traits")
        if isinstance(traits, Mapping) and traits:
            parts.append("set " + ", ".join(str(k) for k in traits))
        for key, verb in (("add_tags", "tag"), ("remove_tags", "untag")):
            tags = spec.get(key)
            if isinstance(tags, list) and tags:
                parts.append(f"{verb} " + ", ".join(str(t) for t in tags))
        return " · ".join(["Update profile", *parts])
    if kind == "webhook":
        url = spec.get("url")
        return f"Webhook · {spec.get('method') or 'POST'} {url}" if url else "Webhook · choose a URL"
    return "Exit point"


def _branch_words(branch: Mapping[str, Any]) -> str:
    label = branch.get("label") or branch.get("name")
    if isinstance(label, str) and label:
        return label
    return condition_words(branch["if"]) if branch.get("if") is not None else "(no condition)"


def _arm_words(arm: Mapping[str, Any]) -> str:
    name = arm.get("label") or arm.get("name") or "?"
    percent = arm.get("percent")
    return f"{name} · {percent} %" if isinstance(percent, int) and not isinstance(percent, bool) else str(name)


def edge_words(spec: Mapping[str, Any], key: str) -> str:
    """An edge's label: On performed / On timed out, a branch's condition, Else, a split arm."""
    if key == "on_performed":
        return "On performed"
    if key == "on_timeout":
        return "On timed out"
    if key == "else":
        return "Else"
    match = re.fullmatch(r"(branches|arms)\[(\d+)\]", key)
    if match is None:
        return ""
    items, index = spec.get(match.group(1)), int(match.group(2))
    item = items[index] if isinstance(items, list) and index < len(items) else None
    if not isinstance(item, Mapping):
        return "?"
    return _branch_words(item) if match.group(1) == "branches" else _arm_words(item)


def _count_words(counts: Mapping[str, int]) -> str:
    known = [f"{counts[k]:,} {words}" for k, words in _COUNT_WORDS.items() if k in counts]
    other = [f"{v:,} {k.replace('_', ' ')}" for k, v in sorted(counts.items()) if k not in _COUNT_WORDS]
    return " · ".join(known + other)


# -- SVG ---------------------------------------------------------------------------------------------

STYLE = """
.nudge-flow{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:13px}
.nudge-flow .card{fill:#fff;stroke:#e5e7eb;stroke-width:1}
.nudge-flow .trigger .card{fill:#faf5ff;stroke:#ddd6fe}
.nudge-flow .icon-bg{fill:#f5f3ff}
.nudge-flow .icon{fill:#7c3aed;font-size:12px}
.nudge-flow .node-type{fill:#7c3aed;font-size:11px;font-weight:600;letter-spacing:.02em}
.nudge-flow .node-summary{fill:#111827}
.nudge-flow .node-counts,.nudge-flow .node-time{fill:#6b7280;font-size:11px}
.nudge-flow .unreachable .card{stroke:#9ca3af;stroke-dasharray:4 3}
.nudge-flow .missing .card{fill:#fef2f2;stroke:#dc2626;stroke-dasharray:5 4}
.nudge-flow .missing .node-type{fill:#dc2626}
.nudge-flow .taken .card{stroke:#16a34a;stroke-width:2}
.nudge-flow .taken .node-time{fill:#15803d;font-weight:600}
.nudge-flow .invalid .card{stroke:#dc2626;stroke-width:2}
.nudge-flow .problem{fill:#dc2626;font-size:11px}
.nudge-flow .exit-dot{fill:#7c3aed}
.nudge-flow .edge-line{fill:none;stroke:#a1a1aa;stroke-width:1.5}
.nudge-flow .edge-arrow{fill:#a1a1aa}
.nudge-flow .edge.taken .edge-line{stroke:#16a34a;stroke-width:2.5}
.nudge-flow .edge.taken .edge-arrow{fill:#16a34a}
.nudge-flow .edge-label rect{fill:#fff;opacity:.9}
.nudge-flow .edge-label text{fill:#4b5563;font-size:11px}
.nudge-flow .edge.taken .edge-label text{fill:#15803d}
.nudge-flow .add .pill{fill:#fff;stroke:#c4b5fd;stroke-dasharray:4 3}
.nudge-flow .add text{fill:#7c3aed;font-size:12px}
.nudge-flow .add.end text{fill:#6b7280}
.nudge-flow .section-label{fill:#6b7280;font-size:12px}
.nudge-flow a{cursor:pointer}
.nudge-flow a:hover .card,.nudge-flow a:focus .card,.nudge-flow a:hover .pill{stroke:#7c3aed}
"""


def flow_svg(layout: Layout, *, link: Callable[[Target], Mapping[str, str] | None] | None = None) -> str:
    """The layout as one `<svg>` element, ready to embed inline; see the module docstring for its parts."""
    title = f"Journey flow: {layout.title}" if layout.title else "Journey flow"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="nudge-flow" width="{_n(layout.width)}"'
        f' height="{_n(layout.height)}" viewBox="0 0 {_n(layout.width)} {_n(layout.height)}" role="img"'
        # as wide as its box allows, never wider than drawn, nor narrower than FIT of it (then it scrolls)
        f' style="width:100%;height:auto;max-width:{_n(layout.width)}px;min-width:{_n(layout.width * FIT)}px"'
        f" aria-label={_attr(title)}>",
        f"<style>{STYLE}</style>",
    ]
    if layout.unreachable_y is not None:
        out.append(
            f'<text class="section-label" x="{MARGIN}" y="{_n(layout.unreachable_y)}">'
            "Not connected to the journey: connect these steps or delete them</text>"
        )
    out.extend(_edge_svg(edge) for edge in layout.edges)
    for box in layout.boxes:
        attributes = link(box.target) if link is not None and box.target is not None else None
        # An open exit is a "+ add step" where a step can be added, else the dot where profiles leave.
        drawn = _exit_svg(box) if box.kind == "add" and not attributes else _box_svg(box)
        if attributes:
            drawn = f"<a{_attributes(attributes)}>{drawn}</a>"
        out.append(drawn)
    out.append("</svg>")
    return "\n".join(out)


def _edge_svg(edge: Edge) -> str:
    classes = ["edge"]
    if edge.back:
        classes.append("back")
    if edge.to_id is None:
        classes.append("open")
    elif edge.target.startswith("m:"):
        classes.append("to-missing")
    if edge.taken:
        classes.append("taken")
    data = {"class": " ".join(classes), "data-from": edge.from_id, "data-key": edge.key}
    if edge.to_id is not None:
        data["data-to"] = edge.to_id
    if edge.count is not None:
        data["data-count"] = str(edge.count)
    parts = [
        f"<g{_attributes(data)}>",
        f'<path class="edge-line" d="{edge.d}"/>',
        f'<path class="edge-arrow" d="{edge.arrow}"/>',
    ]
    if edge.label:
        text = _fit(edge.label, COL_GAP - 48, 11)
        width = len(text) * 11 * CHAR + 8
        left = edge.label_x - 4 if edge.label_anchor == "start" else edge.label_x - width + 4
        parts.append(
            '<g class="edge-label">'
            + (f"<title>{_text(edge.label)}</title>" if text != edge.label else "")
            + f'<rect x="{_n(left)}" y="{_n(edge.label_y - 11)}" width="{_n(width)}" height="15" rx="3"/>'
            + f'<text x="{_n(edge.label_x)}" y="{_n(edge.label_y)}" text-anchor="{edge.label_anchor}">'
            + f"{_text(text)}</text></g>"
        )
    parts.append("</g>")
    return "".join(parts)


def _box_svg(box: Box) -> str:
    if box.kind == "add":
        return _add_svg(box)
    classes = ["trigger"] if box.kind == "trigger" else ["node", f"node-{_type_class(box)}"]
    if box.kind == "missing":
        classes.append("missing")
    if not box.reachable:
        classes.append("unreachable")
    if box.problems:
        classes.append("invalid")
    if box.taken:
        classes.append("taken")
    data: dict[str, str] = {"class": " ".join(classes)}
    if box.kind == "trigger":
        data["id"] = "flow-trigger"
        data["data-entry"] = box.type or ""
    elif box.kind == "missing":
        data["data-missing"] = str(box.node_id)
    else:
        data["data-node"] = str(box.node_id)
        data["data-type"] = box.type if isinstance(box.type, str) else ""
        if _SAFE_ID.match(str(box.node_id)):
            data["id"] = f"node-{box.node_id}"
    lines = [box.label, box.summary, box.counts, *(f"at {t}" for t in box.times), *box.problems]
    parts = [f"<g{_attributes(data)}>", f"<title>{_text(chr(10).join(line for line in lines if line))}</title>"]
    x, y = box.x, box.y
    if box.type == "exit" and box.kind == "node":
        parts.append(
            f'<rect class="card" x="{_n(x)}" y="{_n(y)}" width="{_n(box.width)}" height="{_n(box.height)}"'
            f' rx="{_n(box.height / 2)}"/>'
            f'<circle class="exit-dot" cx="{_n(x + 14)}" cy="{_n(box.middle)}" r="6"/>'
            f'<text class="node-type" x="{_n(x + 28)}" y="{_n(box.middle + 4)}">{_text(box.label)}</text>'
        )
        if box.counts:
            parts.append(_line("node-counts", x + 4, box.bottom + 14, box.counts, CARD_W, 11))
    else:
        icon = _ICONS.get("trigger" if box.kind == "trigger" else str(box.type), "?" if box.kind == "node" else "!")
        parts.append(
            f'<rect class="card" x="{_n(x)}" y="{_n(y)}" width="{_n(box.width)}" height="{_n(box.height)}" rx="8"/>'
            f'<rect class="icon-bg" x="{_n(x + 10)}" y="{_n(y + 8)}" width="20" height="20" rx="5"/>'
            f'<text class="icon" x="{_n(x + 20)}" y="{_n(y + 22)}" text-anchor="middle">{_text(icon)}</text>'
        )
        parts.append(_line("node-type", x + 38, y + 22, box.label, box.width - 120, 11))
        if box.times:
            parts.append(
                f'<text class="node-time" x="{_n(x + box.width - 10)}" y="{_n(y + 22)}" text-anchor="end">'
                f"{_text(_fit(', '.join(box.times), 76, 11))}</text>"
            )
        if box.counts:
            parts.append(_line("node-summary", x + 12, y + 46, box.summary, box.width - 24, 13))
            parts.append(_line("node-counts", x + 12, y + 66, box.counts, box.width - 24, 11))
        else:  # room for a second line of summary
            first, second = _wrap(box.summary, box.width - 24, 13)
            parts.append(
                f'<text class="node-summary" x="{_n(x + 12)}" y="{_n(y + 46)}">{_text(first)}'
                + (f'<tspan x="{_n(x + 12)}" dy="17">{_text(second)}</tspan>' if second else "")
                + "</text>"
            )
    if box.problems:
        parts.append(_line("problem", x + 2, box.bottom + 15, box.problems[0], box.width + 8, 11))
    parts.append("</g>")
    return "".join(parts)


def _add_svg(box: Box) -> str:
    data = {"class": "add taken" if box.taken else "add", "data-from": str(box.target.from_id if box.target else "")}
    data["data-key"] = str(box.target.key if box.target else "")
    return (
        f"<g{_attributes(data)}><title>Add a step here</title>"
        f'<rect class="pill" x="{_n(box.x)}" y="{_n(box.y)}" width="{_n(box.width)}" height="{_n(box.height)}"'
        f' rx="{_n(box.height / 2)}"/>'
        f'<text x="{_n(box.x + box.width / 2)}" y="{_n(box.middle + 4)}" text-anchor="middle">+ add step</text></g>'
    )


def _exit_svg(box: Box) -> str:
    """An open exit nobody can add to here (a live journey, the simulator, an analyst): profiles leave."""
    data = {
        "class": "add end taken" if box.taken else "add end",
        "data-from": str(box.target.from_id if box.target else ""),
    }
    data["data-key"] = str(box.target.key if box.target else "")
    return (
        f"<g{_attributes(data)}><title>Profiles leave the journey here</title>"
        f'<circle class="exit-dot" cx="{_n(box.x + 8)}" cy="{_n(box.middle)}" r="6"/>'
        f'<text x="{_n(box.x + 20)}" y="{_n(box.middle + 4)}">exit</text></g>'
    )


def _type_class(box: Box) -> str:
    if box.kind == "missing":
        return "missing"
    return box.type if box.type in _TYPE_WORDS else "unknown"


def _line(css: str, x: float, y: float, text: str, width: float, size: float) -> str:
    return f'<text class="{css}" x="{_n(x)}" y="{_n(y)}">{_text(_fit(text, width, size))}</text>'


def _fit(text: str, width: float, size: float) -> str:
    """The text cut with an ellipsis to about `width` pixels (the full text goes in a <title>)."""
    limit = max(int(width / (size * CHAR)), 2)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _wrap(text: str, width: float, size: float) -> tuple[str, str]:
    """The text on at most two lines, broken after a space (kept, so the lines join back to the text);
    the second cut with an ellipsis."""
    limit = max(int(width / (size * CHAR)), 2)
    if len(text) <= limit:
        return text, ""
    cut = text.rfind(" ", 0, limit) + 1
    if cut <= limit // 2:
        cut = limit
    return text[:cut], _fit(text[cut:], width, size)


def _rounded(points: list[tuple[float, float]], radius: float = 8) -> str:
    """An orthogonal polyline with rounded corners, as SVG path data."""
    pts = [p for i, p in enumerate(points) if i == 0 or p != points[i - 1]]
    d = [f"M{_n(pts[0][0])} {_n(pts[0][1])}"]
    for i in range(1, len(pts) - 1):
        (ax, ay), (px, py), (bx, by) = pts[i - 1], pts[i], pts[i + 1]
        into, out = abs(px - ax) + abs(py - ay), abs(bx - px) + abs(by - py)
        r = min(radius, into / 2, out / 2)
        before = (px - (px - ax) / into * r, py - (py - ay) / into * r)
        after = (px + (bx - px) / out * r, py + (by - py) / out * r)
        d.append(f"L{_n(before[0])} {_n(before[1])}Q{_n(px)} {_n(py)} {_n(after[0])} {_n(after[1])}")
    d.append(f"L{_n(pts[-1][0])} {_n(pts[-1][1])}")
    return "".join(d)


def _n(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _text(value: str) -> str:
    clean = _XML_INVALID.sub("", value)
    return clean.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(value: str) -> str:
    return '"' + _text(value).replace('"', "&quot;") + '"'


def _attributes(attributes: Mapping[str, str]) -> str:
    for name in attributes:
        if not _ATTRIBUTE_NAME.match(name):
            raise ValueError(f"not an attribute name: {name!r}")
    return "".join(f" {name}={_attr(str(value))}" for name, value in attributes.items())
