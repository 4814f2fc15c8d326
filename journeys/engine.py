"""The journey engine: pure functions of (journey, instance, input) → (instance changes, effects).

It imports no ORM and keeps no clock: the live runtime (Django, Celery, durable timers) and the
simulator (in memory, virtual clock) drive the same functions, which is why the simulator can be
trusted. Times recorded on paths are logical: an event-driven step happens at the activity's
timestamp, a timer-driven step at the timer's due time, so a replay gives the same path however late
the workers ran.

Waits: a wait started at s with duration d accepts activities stamped s ≤ t < s + d; its timer at s + d
fires before an activity stamped exactly s + d. An activity processed after the timer fired no longer
finds the instance waiting (PRODUCT.md §8.6): it is stored, but it does not reopen the path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from activities.names import counts_as_any
from journeys.document import (
    Branch,
    Delay,
    Exit,
    Journey,
    Node,
    RecordActivity,
    Send,
    Split,
    SplitArm,
    UpdateProfile,
    WaitEvent,
    WaitInactive,
    Webhook,
)
from segments.conditions import Subject, evaluate, event_matches
from segments.zones import UTC_ZONE, zone_named

MAX_STEPS_PER_RUN = 500

# Why a profile did not enter (PRODUCT.md §8.8), and why an instance ended (§8.4).
REFUSALS = ("filters", "audience", "schedule", "once", "lock", "cap", "active")
EXIT_REASONS = ("completed", "converted", "journey_stopped", "profile_deleted", "restarted")


@dataclass(frozen=True)
class ActivityInput:
    name: str
    properties: Mapping[str, Any]
    timestamp: datetime


@dataclass
class Context:
    """What the engine may know about the profile it is moving."""

    subject: Subject
    profile_key: str  # stable id of the profile, for split arms
    journey_key: str  # stable id of the journey, for split arms
    timezone: str = "UTC"  # the profile's, else the workspace's
    on_profile_change: Callable[[ChangeProfile], None] | None = None


@dataclass(frozen=True)
class Step:
    at: datetime
    node: str
    outcome: str


@dataclass
class Instance:
    """One entry of one profile into one journey version."""

    entered_at: datetime
    trigger: Mapping[str, Any] = field(default_factory=dict)  # the entry activity's properties
    node: str | None = None  # the wait it rests at
    wait_started: datetime | None = None
    due_at: datetime | None = None  # its one timer
    path: list[Step] = field(default_factory=list)
    converted_at: datetime | None = None
    exit_at: datetime | None = None
    exit_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.exit_at is None


# --- Effects: what the runtime must do (in the same transaction as the state change) ------------


@dataclass(frozen=True)
class SendMessage:
    node: str
    channel: str
    template: str
    at: datetime


@dataclass(frozen=True)
class ChangeProfile:
    node: str
    traits: Mapping[str, Any]
    add_tags: tuple[str, ...]
    remove_tags: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class CallWebhook:
    node: str
    url: str
    method: str
    headers: Mapping[str, str]
    body: str
    at: datetime


@dataclass(frozen=True)
class Recorded:
    node: str
    name: str
    properties: Mapping[str, Any]
    at: datetime


@dataclass(frozen=True)
class SetTimer:
    at: datetime


@dataclass(frozen=True)
class ClearTimer:
    pass


@dataclass(frozen=True)
class NodeEntered:
    node: str
    at: datetime


@dataclass(frozen=True)
class EdgeTaken:
    node: str
    outcome: str
    at: datetime


@dataclass(frozen=True)
class Converted:
    at: datetime


@dataclass(frozen=True)
class Exited:
    reason: str
    at: datetime


Effect = (
    SendMessage
    | ChangeProfile
    | CallWebhook
    | Recorded
    | SetTimer
    | ClearTimer
    | NodeEntered
    | EdgeTaken
    | Converted
    | Exited
)


# --- Entry ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PastEntry:
    entered_at: datetime
    active: bool


def named(wanted: str | None, name: str) -> bool:
    """Does an activity name answer a wanted name? `*` answers anything the profile did, not what Nudge
    derived (`behavior:` firings, segment changes, delivery reports), so patterns cannot loop on them."""
    if wanted == "*":
        return counts_as_any(name)
    return wanted == name


def is_trigger(journey: Journey, activity: ActivityInput) -> bool:
    """Is this activity the journey's entry event (filters aside)?"""
    return journey.entry.type == "event" and named(journey.entry.event, activity.name)


def entry_refusal(
    journey: Journey,
    *,
    at: datetime,
    activity: ActivityInput | None,
    subject: Subject,
    entries: Sequence[PastEntry],
) -> str | None:
    """Why this profile may not enter now (one of REFUSALS), or None if it may."""
    if journey.schedule_start is not None and at < journey.schedule_start:
        return "schedule"
    if journey.schedule_end is not None and at >= journey.schedule_end:
        return "schedule"
    if activity is not None and not event_matches(journey.entry.where, activity.properties, at):
        return "filters"
    if (
        activity is None
        and journey.entry.type == "segment"
        and not evaluate(journey.entry.where, now=at, subject=subject)
    ):
        return "filters"  # a scheduled journey's filter is on the profile (there is no entry event)
    if journey.audience_segments and not any(subject.in_segment(s) for s in journey.audience_segments):
        return "audience"
    if any(subject.in_segment(s) for s in journey.exclude_segments):
        return "audience"
    if any(entry.active for entry in entries) and journey.reentry.mode != "restart":
        return "active"  # (restart: the caller ends the active instance, reason "restarted", then enters)
    rules = journey.reentry
    if rules.mode == "once" and entries:
        return "once"
    if rules.lock is not None and entries:
        last = max(entry.entered_at for entry in entries)
        if at < rules.lock.after(last):
            return "lock"
    if rules.cap is not None:
        period = rules.cap.period
        recent = [e for e in entries if period is None or e.entered_at > period.before(at)]
        if len(recent) >= rules.cap.max_entries:
            return "cap"
    return None


def blocks_restart(instance: Instance, effects: Sequence[Effect]) -> bool:
    """In `restart` mode, does the activity that produced these effects keep the instance rather than
    start it again? It does when it moved the instance on (it is still inside, or finished by running
    off its last step); it does not when it sent it to an exit node (a cancelled pattern)."""
    if not effects:
        return False
    if instance.active:
        return True
    return not (instance.path and instance.path[-1].outcome == "exit")


def enter(journey: Journey, *, at: datetime, trigger: Mapping[str, Any], ctx: Context) -> tuple[Instance, list[Effect]]:
    """A new instance at the start node, run until it rests or ends."""
    instance = Instance(entered_at=at, trigger=dict(trigger))
    return instance, _run(journey, instance, journey.start, at, ctx)


# --- Inputs to a running instance -------------------------------------------------------------------


def on_activity(journey: Journey, instance: Instance, activity: ActivityInput, ctx: Context) -> list[Effect]:
    """An activity of the instance's profile: conversion, then the wait it may complete."""
    effects: list[Effect] = []
    at = activity.timestamp
    conversion = journey.conversion
    if (
        conversion is not None
        and instance.converted_at is None
        and activity.name == conversion.event
        and instance.entered_at <= at < conversion.window.after(instance.entered_at)
        and event_matches(conversion.where, activity.properties, at)
    ):
        instance.converted_at = at
        effects.append(Converted(at))
        if conversion.exit_on_conversion and instance.active:
            effects += _leave_wait(instance)
            effects += _exit(instance, "converted", at)
            return effects
    node = journey.nodes.get(instance.node) if instance.node is not None else None
    if (
        instance.active
        and isinstance(node, WaitEvent)
        and named(node.event, activity.name)
        and instance.wait_started is not None
        and instance.due_at is not None
        and instance.wait_started <= at < instance.due_at
        and event_matches(node.where, activity.properties, at)
    ):
        effects += _leave_wait(instance)
        effects += _take(instance, node, "on_performed", at)
        effects += _run(journey, instance, node.on_performed, at, ctx)
    elif (
        instance.active
        and isinstance(node, WaitInactive)
        and counts_as_any(activity.name)
        and instance.wait_started is not None
        and instance.due_at is not None
        and instance.wait_started <= at < instance.due_at
    ):
        instance.wait_started, instance.due_at = at, node.duration.after(at)  # the quiet period starts again
        effects.append(SetTimer(instance.due_at))
    return effects


def on_timer(journey: Journey, instance: Instance, *, now: datetime, ctx: Context) -> list[Effect]:
    """The instance's timer came due (a wait timed out, a delay ended). Stale timers do nothing."""
    if not instance.active or instance.due_at is None or now < instance.due_at or instance.node is None:
        return []
    node = journey.nodes[instance.node]
    at = instance.due_at
    effects = _leave_wait(instance)
    if isinstance(node, WaitEvent):
        effects += _take(instance, node, "on_timeout", at)
        effects += _run(journey, instance, node.on_timeout, at, ctx)
    elif isinstance(node, (Delay, WaitInactive)):
        effects += _take(instance, node, "next", at)
        effects += _run(journey, instance, node.next, at, ctx)
    return effects


def reads_profile(journey: Journey) -> bool:
    """Whether running a version's nodes can ask anything of the profile beyond its key: a branch's
    condition (traits, tags, segments, history), a profile update, a delay until a local time of day
    (the profile's time zone). Only these read `Context.subject`, `timezone` or `on_profile_change`;
    for any other version a timer fires without the profile being read (or locked)."""
    return any(
        isinstance(node, (Branch, UpdateProfile)) or (isinstance(node, Delay) and node.until_time is not None)
        for node in journey.nodes.values()
    )


def stop(instance: Instance, *, at: datetime, reason: str) -> list[Effect]:
    """End an instance from outside: the journey stopped, the profile was deleted."""
    if not instance.active:
        return []
    return _leave_wait(instance) + _exit(instance, reason, at)


# --- Running nodes ----------------------------------------------------------------------------------


def _run(journey: Journey, instance: Instance, node_id: str | None, at: datetime, ctx: Context) -> list[Effect]:
    effects: list[Effect] = []
    for _ in range(MAX_STEPS_PER_RUN):
        if node_id is None:
            return effects + _exit(instance, "completed", at)
        node = journey.nodes[node_id]
        effects.append(NodeEntered(node.id, at))
        outcome, following, rest_until = _visit(node, instance, at, ctx, effects)
        if rest_until is not None:
            instance.node, instance.wait_started, instance.due_at = node.id, at, rest_until
            return [*effects, SetTimer(rest_until)]
        if outcome is None:  # exit node
            return effects + _take(instance, node, "exit", at) + _exit(instance, "completed", at)
        effects += _take(instance, node, outcome, at)
        node_id = following
    raise RuntimeError(f"journey {journey.name!r} ran {MAX_STEPS_PER_RUN} steps without resting")


def _visit(
    node: Node, instance: Instance, at: datetime, ctx: Context, effects: list[Effect]
) -> tuple[str | None, str | None, datetime | None]:
    """Do what a node does on arrival: (outcome taken, next node, or the time to rest until)."""
    match node:
        case WaitEvent():
            return None, None, node.timeout.after(at)
        case WaitInactive():
            return None, None, node.duration.after(at)
        case Delay():
            due = delay_due(node, at, ctx.timezone)
            return ("next", node.next, None) if due <= at else (None, None, due)
        case Branch():
            for index, (condition, target) in enumerate(node.branches):
                if evaluate(condition, now=at, event=instance.trigger, subject=ctx.subject):
                    return f"branches[{index}]", target, None
            return "else", node.otherwise, None
        case Split():
            arm = split_arm(node, ctx.journey_key, ctx.profile_key)
            return arm.name, arm.next, None
        case Send():
            effects.append(SendMessage(node.id, node.channel, node.template, at))
            return "next", node.next, None
        case UpdateProfile():
            change = ChangeProfile(node.id, node.traits, node.add_tags, node.remove_tags, at)
            effects.append(change)
            if ctx.on_profile_change is not None:
                ctx.on_profile_change(change)
            return "next", node.next, None
        case Webhook():
            effects.append(CallWebhook(node.id, node.url, node.method, node.headers, node.body, at))
            return "next", node.next, None
        case RecordActivity():
            effects.append(Recorded(node.id, node.name, dict(instance.trigger), at))
            return "next", node.next, None
        case Exit():
            return None, None, None
    raise AssertionError(f"unknown node {node!r}")


def _take(instance: Instance, node: Node, outcome: str, at: datetime) -> list[Effect]:
    instance.path.append(Step(at, node.id, outcome))
    return [EdgeTaken(node.id, outcome, at)]


def _leave_wait(instance: Instance) -> list[Effect]:
    if instance.due_at is None:
        return []
    instance.node, instance.wait_started, instance.due_at = None, None, None
    return [ClearTimer()]


def _exit(instance: Instance, reason: str, at: datetime) -> list[Effect]:
    instance.node, instance.exit_at, instance.exit_reason = None, at, reason
    return [Exited(reason, at)]


def split_arm(node: Split, journey_key: str, profile_key: str) -> SplitArm:
    """The arm of a profile: a stable hash of journey, node and profile into 0–99."""
    digest = hashlib.sha256(f"{journey_key}:{node.id}:{profile_key}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % 100
    total = 0
    for arm in node.arms:
        total += arm.percent
        if bucket < total:
            return arm
    return node.arms[-1]


def delay_due(node: Delay, at: datetime, timezone: str) -> datetime:
    """When a delay entered at `at` ends."""
    if node.duration is not None:
        return node.duration.after(at)
    if node.until_date is not None:
        return node.until_date
    assert node.until_time is not None
    return next_local_time(at, node.until_time, timezone)


def next_local_time(after: datetime, clock: time, timezone: str) -> datetime:
    """The first moment strictly after `after` when the clock reads `clock` in `timezone`, in UTC.

    DST: on the day clocks go back the first of the two readings is used; on the day they go forward a
    time that does not exist is moved forward by the gap (02:30 becomes 03:30).
    """
    zone = zone_named(timezone) or UTC_ZONE
    local_day = after.astimezone(zone).date()
    for offset in range(3):
        day = local_day + timedelta(days=offset)
        candidate = datetime(day.year, day.month, day.day, clock.hour, clock.minute, tzinfo=zone, fold=0)
        moment = candidate.astimezone(UTC)
        if moment > after:
            return moment
    raise AssertionError("a local time of day recurs within three days")
