"""The journey document of PRODUCT.md §8.1–8.3: parsed into typed objects and validated as a whole.

Every problem is collected with the path of its field (`nodes.fav.timeout`), so the panel, the API and
import can show them all at once. The graph checks run here too: edges point to nodes, every node is
reachable from `start`, and no cycle lacks a wait. Whether templates exist is the caller's question
(`template_exists`), since it needs the database. Pure code.

An optional field sent as null is read as if it were absent (clients that write every field send
`"end_at": null`, `"lock": null`, `"where": null`); where null has a meaning of its own, it keeps it: an
edge (`next`, `on_timeout`, `else` …) that is null ends the path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from messaging.channels import content_problems
from segments.conditions import (
    MATCH_ALL,
    Condition,
    ConditionError,
    as_datetime,
    event_leaves_refused,
    parse_condition,
)
from segments.durations import Duration, DurationError

CHANNELS = ("push", "sms", "email", "in_app", "web_push", "webhook")
NODE_TYPES = (
    "wait_event",
    "wait_inactive",
    "delay",
    "record_activity",
    "branch",
    "split",
    "send",
    "update_profile",
    "webhook",
    "exit",
)
MAX_NODES = 200
_NODE_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class DocumentError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Conversion:
    event: str
    where: Condition
    window: Duration
    exit_on_conversion: bool


@dataclass(frozen=True)
class Entry:
    type: str  # "event" (action-based) or "segment" (scheduled)
    event: str | None
    where: Condition
    every_day_at: time | None = None  # scheduled entries: recur daily at this workspace-local time


@dataclass(frozen=True)
class Cap:
    max_entries: int
    period: Duration | None  # None: over the profile's lifetime


@dataclass(frozen=True)
class Reentry:
    mode: str = "multiple"  # or "once"; or "restart": an entry event while inside starts the instance
    # again (unless that activity moved it), as behaviors' first steps do
    lock: Duration | None = None
    cap: Cap | None = None


@dataclass(frozen=True)
class WaitEvent:
    id: str
    event: str
    where: Condition
    timeout: Duration
    on_performed: str | None
    on_timeout: str | None


@dataclass(frozen=True)
class WaitInactive:
    """Rest until the profile has done nothing for `duration`: any activity (but `behavior:` ones)
    starts the wait again. What behaviors' `inactive` steps run on, and a journey may use it too."""

    id: str
    duration: Duration
    next: str | None


@dataclass(frozen=True)
class RecordActivity:
    """Store an activity on the profile (through the normal pipeline, so journeys can enter on it);
    its properties are the entry activity's. Behaviors record `behavior:<slug>` this way."""

    id: str
    name: str
    next: str | None


@dataclass(frozen=True)
class Delay:
    id: str
    next: str | None
    duration: Duration | None = None
    until_time: time | None = None  # local time of day in the profile's timezone
    until_date: datetime | None = None


@dataclass(frozen=True)
class Branch:
    id: str
    branches: tuple[tuple[Condition, str | None], ...]
    otherwise: str | None


@dataclass(frozen=True)
class SplitArm:
    name: str
    percent: int
    next: str | None


@dataclass(frozen=True)
class Split:
    id: str
    arms: tuple[SplitArm, ...]


@dataclass(frozen=True)
class Send:
    id: str
    channel: str
    template: str
    next: str | None


@dataclass(frozen=True)
class UpdateProfile:
    id: str
    traits: Mapping[str, Any]
    add_tags: tuple[str, ...]
    remove_tags: tuple[str, ...]
    next: str | None


@dataclass(frozen=True)
class Webhook:
    id: str
    url: str
    method: str
    headers: Mapping[str, str]
    body: str
    next: str | None


@dataclass(frozen=True)
class Exit:
    id: str


Node = WaitEvent | WaitInactive | Delay | Branch | Split | Send | UpdateProfile | Webhook | RecordActivity | Exit
WAIT_NODES = (WaitEvent, WaitInactive, Delay)


def edges(node: Node) -> list[tuple[str, str | None]]:
    """(outcome, target) pairs: the node's outgoing edges, named as analytics count them."""
    match node:
        case WaitEvent():
            return [("on_performed", node.on_performed), ("on_timeout", node.on_timeout)]
        case Branch():
            return [(f"branches[{i}]", target) for i, (_, target) in enumerate(node.branches)] + [
                ("else", node.otherwise)
            ]
        case Split():
            return [(arm.name, arm.next) for arm in node.arms]
        case Exit():
            return []
        case _:
            return [("next", node.next)]


@dataclass(frozen=True)
class Journey:
    name: str
    description: str
    entry: Entry
    start: str
    nodes: Mapping[str, Node]
    conversion: Conversion | None = None
    schedule_start: datetime | None = None
    schedule_end: datetime | None = None
    reentry: Reentry = field(default_factory=Reentry)
    audience_segments: tuple[str, ...] = ()
    exclude_segments: tuple[str, ...] = ()
    # The workspace's quiet hours and frequency caps apply to this journey's sends unless turned off here
    # (`"messaging": {"quiet_hours": false, "frequency_caps": false}`).
    quiet_hours: bool = True
    frequency_caps: bool = True

    def sends(self) -> list[Send]:
        return [node for node in self.nodes.values() if isinstance(node, Send)]


class _Reader:
    """Collects problems while reading fields, so one pass reports all of them."""

    def __init__(self, *, stored: bool = False) -> None:
        self.problems: list[Problem] = []
        self.stored = stored

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def only(self, data: dict[str, Any], allowed: frozenset[str], where: str) -> None:
        """A key the document does not know is a problem at it, not ignored: `wehre` would have entered
        everyone the filter was to keep out."""
        if self.stored:
            return
        for key in data:
            if key not in allowed:  # even when null (docs/decisions.md, "Null is absent")
                at = f"{where}.{key}" if where else str(key)
                self.problem(at, f"is not a field here (known: {', '.join(sorted(allowed))})")

    def obj(self, value: Any, where: str, *, required: bool = True) -> dict[str, Any]:
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            self.problem(where, "must be an object")
            return {}
        return value

    def text(self, data: dict, key: str, where: str, *, required: bool = True, max_length: int = 200) -> str | None:
        value = data.get(key)
        if value is None or value == "":
            if required:
                self.problem(f"{where}.{key}" if where else key, "is required")
            return None
        if not isinstance(value, str) or len(value) > max_length:
            self.problem(f"{where}.{key}" if where else key, f"must be a string of at most {max_length} characters")
            return None
        return value

    def duration(self, data: dict, key: str, where: str, *, required: bool = True) -> Duration | None:
        value = data.get(key)
        path = f"{where}.{key}" if where else key
        if value is None:
            if required:
                self.problem(path, "is required (an ISO 8601 duration such as P3D)")
            return None
        try:
            return Duration.parse(value)
        except DurationError as error:
            self.problem(path, str(error))
            return None

    def condition(self, data: dict, key: str, where: str) -> Condition:
        path = f"{where}.{key}" if where else key
        try:
            return parse_condition(data.get(key), path)
        except ConditionError as error:
            self.problem(error.field, error.message)
            return MATCH_ALL

    def flag(self, data: dict, key: str, where: str, *, default: bool) -> bool:
        value = data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.problem(f"{where}.{key}", "must be true or false")
            return default
        return value

    def moment(self, data: dict, key: str, where: str) -> datetime | None:
        value = data.get(key)
        if value is None:
            return None
        moment = as_datetime(value)
        if moment is None:
            self.problem(f"{where}.{key}", "must be an ISO 8601 date-time such as 2024-12-17T11:15:00Z")
        return moment

    def target(self, data: dict, key: str, where: str) -> str | None:
        if key not in data:
            self.problem(f"{where}.{key}", "is required (a node id, or null to end the path)")
            return None
        value = data[key]
        if value is not None and not isinstance(value, str):
            self.problem(f"{where}.{key}", "must be a node id or null")
            return None
        return value


DOCUMENT_KEYS = frozenset(
    {"name", "description", "conversion", "entry", "schedule", "reentry", "audience", "messaging", "start", "nodes"}
)
ENTRY_KEYS = frozenset({"type", "event", "where", "every_day_at"})
NODE_KEYS = {
    "record_activity": frozenset({"type", "name", "next"}),
    "wait_inactive": frozenset({"type", "duration", "next"}),
    "wait_event": frozenset({"type", "event", "where", "timeout", "on_performed", "on_timeout"}),
    "delay": frozenset({"type", "duration", "until", "next"}),
    "branch": frozenset({"type", "branches", "else"}),
    "split": frozenset({"type", "arms"}),
    "send": frozenset({"type", "channel", "template", "next"}),
    "update_profile": frozenset({"type", "traits", "add_tags", "remove_tags", "next"}),
    "webhook": frozenset({"type", "url", "method", "headers", "body", "next"}),
    "exit": frozenset({"type"}),
}


def parse_journey(
    data: Any, *, template_exists: Callable[[str, str], bool] | None = None, stored: bool = False
) -> Journey:
    """Parse and validate a journey document; raise DocumentError listing every problem found.

    `stored`: a version already published, read as it was accepted then — the checks added since (keys a
    section does not have, a webhook's Liquid, an entry's fields of the other kind) are skipped, so an
    upgrade never stops a live journey it would now refuse to publish."""
    r = _Reader(stored=stored)
    doc = r.obj(data, "journey")
    if not doc:
        raise DocumentError(r.problems or [Problem("journey", "is empty")])
    r.only(doc, DOCUMENT_KEYS, "")
    name = r.text(doc, "name", "") or ""
    description = doc.get("description") or ""
    if not isinstance(description, str):
        r.problem("description", "must be a string")
        description = ""

    conversion = None
    if doc.get("conversion") is not None:
        raw = r.obj(doc["conversion"], "conversion")
        r.only(raw, frozenset({"event", "where", "window", "exit_on_conversion"}), "conversion")
        event = r.text(raw, "event", "conversion")
        window = r.duration(raw, "window", "conversion")
        exit_on = r.flag(raw, "exit_on_conversion", "conversion", default=False)
        if event and window:
            conversion = Conversion(event, r.condition(raw, "where", "conversion"), window, exit_on)

    entry = _entry(r, r.obj(doc.get("entry"), "entry"), given=isinstance(doc.get("entry"), dict))
    schedule = r.obj(doc.get("schedule"), "schedule", required=False)
    r.only(schedule, frozenset({"start_at", "end_at"}), "schedule")
    start_at, end_at = r.moment(schedule, "start_at", "schedule"), r.moment(schedule, "end_at", "schedule")
    if start_at and end_at and end_at <= start_at:
        r.problem("schedule.end_at", "must be after schedule.start_at")
    reentry = _reentry(r, r.obj(doc.get("reentry"), "reentry", required=False))
    audience = r.obj(doc.get("audience"), "audience", required=False)
    r.only(audience, frozenset({"segments", "exclude_segments"}), "audience")
    segments = _ids(r, audience.get("segments"), "audience.segments")
    excluded = _ids(r, audience.get("exclude_segments"), "audience.exclude_segments")

    pacing = r.obj(doc.get("messaging"), "messaging", required=False)
    for key in pacing:
        if key not in ("quiet_hours", "frequency_caps"):
            r.problem(f"messaging.{key}", "is not a messaging setting (quiet_hours, frequency_caps)")
    quiet_hours = r.flag(pacing, "quiet_hours", "messaging", default=True)
    frequency_caps = r.flag(pacing, "frequency_caps", "messaging", default=True)

    nodes = _nodes(r, doc.get("nodes"), template_exists)
    start = doc.get("start")
    if not isinstance(start, str) or not start:
        r.problem("start", "is required: the id of the first node")
    elif nodes and start not in nodes:
        r.problem("start", f"names no node ({start!r})")
    elif nodes:
        _check_graph(r, start, nodes)
    if r.problems:
        raise DocumentError(r.problems)
    assert entry is not None and isinstance(start, str)
    return Journey(
        quiet_hours=quiet_hours,
        frequency_caps=frequency_caps,
        name=name,
        description=description,
        entry=entry,
        start=start,
        nodes=nodes,
        conversion=conversion,
        schedule_start=start_at,
        schedule_end=end_at,
        reentry=reentry,
        audience_segments=segments,
        exclude_segments=excluded,
    )


def _ids(r: _Reader, value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        r.problem(where, "must be a list of segment ids")
        return ()
    return tuple(str(v) for v in value)


def _entry(r: _Reader, raw: dict, *, given: bool) -> Entry | None:
    """`given`: the document has an entry object (an absent one is already reported as required)."""
    kind = raw.get("type")
    r.only(raw, ENTRY_KEYS, "entry")
    if kind == "event":
        if raw.get("every_day_at") is not None and not r.stored:
            r.problem("entry.every_day_at", "is for a segment entry (an event entry enters on the event)")
        event = r.text(raw, "event", "entry")
        return Entry("event", event, r.condition(raw, "where", "entry"))
    if kind == "segment":
        if raw.get("event") is not None and not r.stored:
            r.problem("entry.event", "is for an event entry (a segment entry enters who is in its audience)")
        at = raw.get("every_day_at")
        clock = None
        if at is not None:
            match = _CLOCK.match(at) if isinstance(at, str) else None
            if match is None:
                r.problem("entry.every_day_at", 'must be a time of day such as "10:00"')
            else:
                clock = time(int(match.group(1)), int(match.group(2)))
        where = r.condition(raw, "where", "entry")
        for field, message in event_leaves_refused(raw.get("where"), "entry.where"):
            r.problem(field, message)
        return Entry("segment", None, where, clock)
    if given:
        r.problem("entry.type", 'must be "event" or "segment"')
    return None


def _reentry(r: _Reader, raw: dict) -> Reentry:
    r.only(raw, frozenset({"mode", "lock", "cap"}), "reentry")
    mode = raw.get("mode") if raw.get("mode") is not None else "multiple"
    if mode not in ("once", "multiple", "restart"):
        r.problem("reentry.mode", 'must be "once", "multiple" or "restart"')
    lock = r.duration(raw, "lock", "reentry", required=False)
    cap = None
    if raw.get("cap") is not None:
        cap_raw = r.obj(raw["cap"], "reentry.cap")
        r.only(cap_raw, frozenset({"max_entries", "period"}), "reentry.cap")
        limit = cap_raw.get("max_entries")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            r.problem("reentry.cap.max_entries", "must be a whole number of at least 1")
        else:
            cap = Cap(limit, r.duration(cap_raw, "period", "reentry.cap", required=False))
    return Reentry(mode=mode if mode in ("once", "multiple", "restart") else "multiple", lock=lock, cap=cap)


def _nodes(r: _Reader, raw: Any, template_exists: Callable[[str, str], bool] | None) -> dict[str, Node]:
    if not isinstance(raw, dict) or not raw:
        r.problem("nodes", "must be an object of nodes by id, with at least one node")
        return {}
    if len(raw) > MAX_NODES:
        r.problem("nodes", f"has {len(raw)} nodes; a journey may have at most {MAX_NODES}")
        return {}
    nodes: dict[str, Node] = {}
    for node_id, spec in raw.items():
        where = f"nodes.{node_id}"
        if not _NODE_ID.match(node_id):
            r.problem(where, "a node id is 1–64 letters, digits, _ or -")
            continue
        spec = r.obj(spec, where)
        node = _node(r, node_id, spec, where, template_exists) if spec else None
        if node is not None:
            nodes[node_id] = node
    return nodes


def _node(
    r: _Reader, node_id: str, spec: dict, where: str, template_exists: Callable[[str, str], bool] | None
) -> Node | None:
    kind = spec.get("type")
    if isinstance(kind, str) and kind in NODE_KEYS:
        r.only(spec, NODE_KEYS[kind], where)
    if kind == "record_activity":
        name = r.text(spec, "name", where, max_length=200)
        return RecordActivity(node_id, name or "", r.target(spec, "next", where))
    if kind == "wait_inactive":
        duration = r.duration(spec, "duration", where)
        return WaitInactive(node_id, duration or Duration(days=1), r.target(spec, "next", where))
    if kind == "wait_event":
        event = r.text(spec, "event", where)
        timeout = r.duration(spec, "timeout", where)
        node: Node = WaitEvent(
            node_id,
            event or "",
            r.condition(spec, "where", where),
            timeout or Duration(days=1),
            r.target(spec, "on_performed", where),
            r.target(spec, "on_timeout", where),
        )
        return node if event and timeout else None
    if kind == "delay":
        return _delay(r, node_id, spec, where)
    if kind == "branch":
        raw = spec.get("branches")
        if not isinstance(raw, list) or not raw:
            r.problem(f"{where}.branches", 'must be a non-empty list of {"if": CONDITION, "next": ID}')
            return None
        branches = []
        for i, item in enumerate(raw):
            item = r.obj(item, f"{where}.branches[{i}]")
            r.only(item, frozenset({"if", "next", "label"}), f"{where}.branches[{i}]")
            if item.get("if") is None:  # null is no condition, not "always": that is what `else` says
                r.problem(f"{where}.branches[{i}].if", "is required")
            branches.append(
                (r.condition(item, "if", f"{where}.branches[{i}]"), r.target(item, "next", f"{where}.branches[{i}]"))
            )
        return Branch(node_id, tuple(branches), r.target(spec, "else", where))
    if kind == "split":
        return _split(r, node_id, spec, where)
    if kind == "send":
        channel = spec.get("channel")
        if channel not in CHANNELS:
            r.problem(f"{where}.channel", f"must be one of {', '.join(CHANNELS)}")
        template = r.text(spec, "template", where)
        if template and channel in CHANNELS and template_exists is not None and not template_exists(channel, template):
            r.problem(f"{where}.template", f"no {channel} template named {template!r} exists")
        return Send(node_id, channel or "", template or "", r.target(spec, "next", where))
    if kind == "update_profile":
        traits = r.obj(spec.get("traits"), f"{where}.traits", required=False)
        add, remove = (
            _tags(r, spec.get("add_tags"), f"{where}.add_tags"),
            _tags(r, spec.get("remove_tags"), f"{where}.remove_tags"),
        )
        if not (traits or add or remove):
            r.problem(where, "must set traits, add_tags or remove_tags")
        return UpdateProfile(node_id, traits, add, remove, r.target(spec, "next", where))
    if kind == "webhook":
        url = r.text(spec, "url", where, max_length=2000)
        if url and not url.startswith(("https://", "http://")):
            r.problem(f"{where}.url", "must be an http:// or https:// URL")
        method = spec.get("method") if spec.get("method") is not None else "POST"
        if method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            r.problem(f"{where}.method", "must be GET, POST, PUT, PATCH or DELETE")
        headers = r.obj(spec.get("headers"), f"{where}.headers", required=False)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            r.problem(f"{where}.headers", "must map header names to string values")
        body = spec.get("body") if spec.get("body") is not None else ""
        if not isinstance(body, str):
            r.problem(f"{where}.body", "must be a string (a Liquid template)")
        # The request is rendered as a webhook's content when sent: its Liquid is checked as a template's.
        request = {"url": url or "", "headers": headers, "body": body if isinstance(body, str) else ""}
        for problem in content_problems("webhook", request, where) if not r.stored else ():
            if problem.message.startswith("Liquid error"):
                r.problem(problem.field, problem.message)
        return Webhook(
            node_id,
            url or "",
            str(method),
            headers,
            body if isinstance(body, str) else "",
            r.target(spec, "next", where),
        )
    if kind == "exit":
        return Exit(node_id)
    r.problem(f"{where}.type", f"must be one of {', '.join(NODE_TYPES)}")
    return None


def _delay(r: _Reader, node_id: str, spec: dict, where: str) -> Delay | None:
    following = r.target(spec, "next", where)
    has_duration, has_until = spec.get("duration") is not None, spec.get("until") is not None
    if has_duration == has_until:
        r.problem(where, "needs exactly one of duration or until")
        return None
    if has_duration:
        duration = r.duration(spec, "duration", where)
        return Delay(node_id, following, duration=duration) if duration else None
    until = spec["until"]
    match = _CLOCK.match(until) if isinstance(until, str) else None
    if match:
        return Delay(node_id, following, until_time=time(int(match.group(1)), int(match.group(2))))
    moment = as_datetime(until)
    if moment is None:
        r.problem(f"{where}.until", 'must be a local time of day such as "10:00" or an ISO 8601 date-time')
        return None
    return Delay(node_id, following, until_date=moment)


def _split(r: _Reader, node_id: str, spec: dict, where: str) -> Split | None:
    raw = spec.get("arms")
    if not isinstance(raw, list) or len(raw) < 2:
        r.problem(f"{where}.arms", 'must list at least two arms {"name": …, "percent": …, "next": …}')
        return None
    arms, names = [], set()
    for i, item in enumerate(raw):
        item = r.obj(item, f"{where}.arms[{i}]")
        r.only(item, frozenset({"name", "percent", "next", "label"}), f"{where}.arms[{i}]")
        name = r.text(item, "name", f"{where}.arms[{i}]", max_length=64) or f"arm{i}"
        if name in names:
            r.problem(f"{where}.arms[{i}].name", f"repeats {name!r}")
        names.add(name)
        percent = item.get("percent")
        if not isinstance(percent, int) or isinstance(percent, bool) or not 0 <= percent <= 100:
            r.problem(f"{where}.arms[{i}].percent", "must be a whole number from 0 to 100")
            percent = 0
        arms.append(SplitArm(name, percent, r.target(item, "next", f"{where}.arms[{i}]")))
    if sum(arm.percent for arm in arms) != 100:
        r.problem(f"{where}.arms", f"percentages add up to {sum(arm.percent for arm in arms)}, not 100")
    return Split(node_id, tuple(arms))


def _tags(r: _Reader, value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        r.problem(where, "must be a list of tag names")
        return ()
    return tuple(value)


def _edge_field(node: Node, outcome: str) -> str:
    """The document field behind an edge: `branches[1].next`, `arms[0].next`, `on_timeout` …"""
    if isinstance(node, Branch) and outcome.startswith("branches["):
        return f"{outcome}.next"
    if isinstance(node, Split):
        index = next(i for i, arm in enumerate(node.arms) if arm.name == outcome)
        return f"arms[{index}].next"
    return outcome


def _check_graph(r: _Reader, start: str, nodes: Mapping[str, Node]) -> None:
    for node in nodes.values():
        for outcome, target in edges(node):
            if target is not None and target not in nodes:
                r.problem(f"nodes.{node.id}.{_edge_field(node, outcome)}", f"points to no node ({target!r})")
    reachable, frontier = {start}, [start]
    while frontier:
        for _, target in edges(nodes[frontier.pop()]):
            if target is not None and target in nodes and target not in reachable:
                reachable.add(target)
                frontier.append(target)
    for node_id in nodes:
        if node_id not in reachable:
            r.problem(f"nodes.{node_id}", "cannot be reached from start")
    # A cycle made only of nodes that do not wait would spin forever at one instant.
    instant = {
        nid: [t for _, t in edges(n) if t is not None and t in nodes and not isinstance(nodes[t], WAIT_NODES)]
        for nid, n in nodes.items()
        if not isinstance(n, WAIT_NODES)
    }
    state: dict[str, int] = {}

    def visit(node_id: str) -> str | None:
        state[node_id] = 1
        for target in instant.get(node_id, []):
            if state.get(target) == 1:
                return target
            if target not in state and (found := visit(target)) is not None:
                return found
        state[node_id] = 2
        return None

    for node_id in instant:
        if node_id not in state and (looped := visit(node_id)) is not None:
            r.problem(f"nodes.{looped}", "is on a cycle with no wait_event or delay; the path would never rest")
            return
