"""The simulator (PRODUCT.md §8.8): profiles, timestamped events and an end time in; per profile,
what would happen out — entries with their paths, messages, conversion and exit, and refused entries
with their reason. It drives the same engine as live traffic with a virtual clock; nothing is stored
or sent, and templates need not exist.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from activities.names import counts_as_any
from journeys.document import Journey
from journeys.engine import (
    ActivityInput,
    ChangeProfile,
    Context,
    Effect,
    Instance,
    PastEntry,
    Recorded,
    SendMessage,
    blocks_restart,
    enter,
    entry_refusal,
    is_trigger,
    on_activity,
    on_timer,
)
from journeys.engine import stop as engine_stop
from segments.conditions import ANY_ACTIVITY, Condition, as_datetime, event_matches, name_matches
from segments.zones import zone_named

MAX_PROFILES = 1000
MAX_EVENTS = 10_000
# Moments a simulation may run through (timers fired, events, scheduled entries), all profiles together:
# a one-minute delay looping for three months is 130,000 of them a profile — seconds of CPU and tens of MB
# of answer for one request, which an analyst may send.
MAX_MOMENTS = 50_000


class SimulationError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Budget:
    """What a simulation may still run through (MAX_MOMENTS); a request past it is refused at `until`."""

    def __init__(self, moments: int = MAX_MOMENTS) -> None:
        self.left = moments

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise SimulationError(
                "until",
                f"runs past {MAX_MOMENTS:,} steps (timers, events and scheduled entries of all profiles): "
                "choose an earlier end or fewer profiles",
            )


def _moment(activity: ActivityInput) -> datetime:
    return activity.timestamp


@dataclass
class SimulatedProfile:
    """A profile held in memory; answers the condition Subject protocol. `history` only grows (appended
    to, in any order); history conditions on a name read it through an index by name and time."""

    key: str
    traits: dict[str, Any] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    timezone: str = "UTC"
    segments: frozenset[str] = frozenset()
    history: list[ActivityInput] = field(default_factory=list)
    _by_name: dict[str, list[ActivityInput]] = field(default_factory=dict, init=False, repr=False, compare=False)
    _indexed: int = field(default=0, init=False, repr=False, compare=False)  # how much of history is in it

    def reachable(self, channel: str) -> bool:
        if channel == "email":
            return bool(self.traits.get("email"))
        if channel == "sms":
            return bool(self.traits.get("phone"))
        return channel in self.traits.get("channels", ())

    def in_segment(self, segment: str) -> bool:
        return segment in self.segments

    def attribute(self, name: str) -> str | None:
        """user_id is the profile's key; first/last seen follow its simulated activities so far."""
        if name == "user_id":
            return self.key
        if name == "timezone":
            return self.timezone
        seen = [a.timestamp for a in self.history if counts_as_any(a.name)]
        if name in ("first_seen", "last_seen") and seen:
            return (min(seen) if name == "first_seen" else max(seen)).isoformat()
        return None

    def count(self, name: str, where: Condition | None, since: datetime | None, until: datetime) -> int:
        if name == ANY_ACTIVITY:
            window = [
                a
                for a in self.history
                if name_matches(name, a.name) and (since is None or a.timestamp >= since) and a.timestamp <= until
            ]
        else:
            timeline = self._named(name)
            start = 0 if since is None else bisect_left(timeline, since, key=_moment)
            window = timeline[start : bisect_right(timeline, until, key=_moment)]
        if where is None:
            return len(window)
        return sum(1 for a in window if event_matches(where, a.properties, until))

    def _named(self, name: str) -> list[ActivityInput]:
        """The history of one name, in time order (activities appended since the last look indexed)."""
        for activity in self.history[self._indexed :]:
            insort(self._by_name.setdefault(activity.name, []), activity, key=_moment)
        self._indexed = len(self.history)
        return self._by_name.get(name, [])

    def apply(self, change: ChangeProfile) -> None:
        self.traits.update(change.traits)
        self.tags = (self.tags | set(change.add_tags)) - set(change.remove_tags)


@dataclass
class ReplayedEntry:
    instance: Instance
    effects: list[Effect] = field(default_factory=list)  # every effect, in order

    @property
    def messages(self) -> list[SendMessage]:
        return [effect for effect in self.effects if isinstance(effect, SendMessage)]

    @property
    def recorded(self) -> list[Recorded]:
        return [effect for effect in self.effects if isinstance(effect, Recorded)]


@dataclass
class Replay:
    entries: list[ReplayedEntry]
    refused: list[dict[str, Any]]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def _profile_key(raw: Mapping[str, Any], where: str) -> str:
    key = raw.get("user_id") or raw.get("anonymous_id")
    if not isinstance(key, str) or not key:
        raise SimulationError(f"{where}.user_id", "is required (or anonymous_id)")
    return key


def parse_inputs(
    profiles: Any, events: Any, until: Any
) -> tuple[dict[str, SimulatedProfile], list[tuple[str, ActivityInput]], datetime]:
    """Validate the simulator's request; errors name the field."""
    end = as_datetime(until)
    if end is None:
        raise SimulationError("until", "is required: an ISO 8601 date-time")
    if not isinstance(profiles, list) or len(profiles) > MAX_PROFILES:
        raise SimulationError("profiles", f"must be a list of at most {MAX_PROFILES} profiles")
    if not isinstance(events, list) or len(events) > MAX_EVENTS:
        raise SimulationError("events", f"must be a list of at most {MAX_EVENTS} events")
    people: dict[str, SimulatedProfile] = {}
    for i, raw in enumerate(profiles):
        where = f"profiles[{i}]"
        if not isinstance(raw, dict):
            raise SimulationError(where, "must be an object")
        key = _profile_key(raw, where)
        traits, tags, segments = raw.get("traits") or {}, raw.get("tags") or [], raw.get("segments") or []
        if not isinstance(traits, dict):
            raise SimulationError(f"{where}.traits", "must be an object")
        if not isinstance(tags, list) or not isinstance(segments, list):
            raise SimulationError(f"{where}.tags", "tags and segments must be lists")
        timezone = raw.get("timezone") or "UTC"
        if zone_named(timezone) is None:
            raise SimulationError(f"{where}.timezone", "must be an IANA time zone name")
        people[key] = SimulatedProfile(
            key, dict(traits), frozenset(map(str, tags)), timezone, frozenset(map(str, segments))
        )
    stream: list[tuple[str, ActivityInput]] = []
    for i, raw in enumerate(events):
        where = f"events[{i}]"
        if not isinstance(raw, dict):
            raise SimulationError(where, "must be an object")
        key = _profile_key(raw, where)
        name = raw.get("event")
        if not isinstance(name, str) or not name:
            raise SimulationError(f"{where}.event", "is required")
        moment = as_datetime(raw.get("timestamp"))
        if moment is None:
            raise SimulationError(f"{where}.timestamp", "is required: an ISO 8601 date-time")
        properties = raw.get("properties") or {}
        if not isinstance(properties, dict):
            raise SimulationError(f"{where}.properties", "must be an object")
        people.setdefault(key, SimulatedProfile(key))
        stream.append((key, ActivityInput(name, properties, moment)))
    stream.sort(key=lambda item: item[1].timestamp)
    return people, stream, end


def simulate(journey: Journey, *, profiles: Any, events: Any, until: Any, journey_key: str = "simulation") -> dict:
    """Run the journey for every profile up to `until`; answer in the §8.8 shape."""
    people, stream, end = parse_inputs(profiles, events, until)
    result: dict[str, Any] = {}
    budget = Budget()
    for key, person in people.items():
        own = [activity for owner, activity in stream if owner == key]
        result[key] = _simulate_one(journey, person, own, end, journey_key, budget)
    return {"profiles": result}


def replay(
    journey: Journey,
    person: SimulatedProfile,
    activities: list[ActivityInput],
    end: datetime,
    journey_key: str,
    budget: Budget | None = None,
) -> Replay:
    """One profile's activities (in timestamp order) through the engine, timers firing on the virtual
    clock up to `end`. `person.history` may hold earlier activities conditions should see.

    Each step looks only at the entries that can still move — the active ones, and those that left but
    may still convert (inside their conversion window, not converted yet) — so a profile with thousands
    of entries (a behavior restarted by every cart update) costs what its activities do, not their
    square."""
    ctx = Context(
        subject=person,
        profile_key=person.key,
        journey_key=journey_key,
        timezone=person.timezone,
        on_profile_change=person.apply,
    )
    entries: list[ReplayedEntry] = []  # every entry, in the order they entered
    current: list[ReplayedEntry] = []  # the active ones
    converting: deque[ReplayedEntry] = deque()  # left, not converted, their window maybe still open
    refused: list[dict[str, Any]] = []
    scheduled = _scheduled_entries(journey, end, budget)
    conversion = journey.conversion
    # once, lock and cap look at the newest entries only: at most this many of them can matter
    recent = max(1, journey.reentry.cap.max_entries if journey.reentry.cap is not None else 1)

    def collect(entry: ReplayedEntry, effects: list[Effect]) -> None:
        entry.effects += effects
        for effect in effects:
            if isinstance(effect, Recorded):  # the recorded activity joins the profile's history
                person.history.append(ActivityInput(effect.name, effect.properties, effect.at))
        if not entry.instance.active and any(e is entry for e in current):
            current[:] = [e for e in current if e is not entry]
            if conversion is not None and entry.instance.converted_at is None:
                converting.append(entry)

    def try_enter(at: datetime, activity: ActivityInput | None, moved: bool = False) -> None:
        newest = entries[-recent:]
        past = [PastEntry(e.instance.entered_at, e.instance.active) for e in newest]
        past += [PastEntry(e.instance.entered_at, True) for e in current if all(e is not n for n in newest)]
        reason = entry_refusal(journey, at=at, activity=activity, subject=person, entries=past)
        if reason is None and journey.reentry.mode == "restart" and moved:
            reason = "active"  # the activity advanced the instance: it does not also restart it
        if reason is not None:
            refused.append({"at": _iso(at), "reason": reason})
            return
        for entry in list(current):
            collect(entry, engine_stop(entry.instance, at=at, reason="restarted"))
        instance, effects = enter(journey, at=at, trigger=activity.properties if activity else {}, ctx=ctx)
        entry = ReplayedEntry(instance)
        entries.append(entry)
        current.append(entry)
        collect(entry, effects)

    index = 0
    while True:
        due = [(e.instance.due_at, n) for n, e in enumerate(current) if e.instance.due_at]
        next_timer = min(due) if due else None
        next_event = activities[index].timestamp if index < len(activities) else None
        next_schedule = scheduled[0] if scheduled else None
        moments = [m for m in (next_timer[0] if next_timer else None, next_event, next_schedule) if m is not None]
        if not moments or min(moments) > end:
            break
        if budget is not None:
            budget.spend()
        now = min(moments)
        if next_timer is not None and next_timer[0] == now:  # timers due at t fire before events at t
            entry = current[next_timer[1]]
            collect(entry, on_timer(journey, entry.instance, now=now, ctx=ctx))
        elif next_schedule is not None and next_schedule == now:
            scheduled.pop(0)
            try_enter(now, None)
        else:
            activity = activities[index]
            index += 1
            person.history.append(activity)
            moved = False
            if conversion is not None:
                # Windows end in the order entries began; one that has ended never converts again.
                while converting and conversion.window.after(converting[0].instance.entered_at) <= now:
                    converting.popleft()
                if activity.name == conversion.event:  # the only activity that moves an entry that left
                    for entry in converting:
                        effects = on_activity(journey, entry.instance, activity, ctx)
                        moved = moved or blocks_restart(entry.instance, effects)
                        collect(entry, effects)
                    waiting = [e for e in converting if e.instance.converted_at is None]
                    converting.clear()
                    converting.extend(waiting)
            for entry in list(current):
                effects = on_activity(journey, entry.instance, activity, ctx)
                moved = moved or blocks_restart(entry.instance, effects)
                collect(entry, effects)
            if is_trigger(journey, activity):
                try_enter(activity.timestamp, activity, moved)
    return Replay(entries, refused)


def _simulate_one(
    journey: Journey,
    person: SimulatedProfile,
    activities: list[ActivityInput],
    end: datetime,
    journey_key: str,
    budget: Budget,
) -> dict[str, Any]:
    replayed = replay(journey, person, activities, end, journey_key, budget)
    entries, refused = replayed.entries, replayed.refused
    return {
        "entries": [
            {
                "entered_at": _iso(e.instance.entered_at),
                "converted_at": _iso(e.instance.converted_at),
                "exit": {"at": _iso(e.instance.exit_at), "reason": e.instance.exit_reason}
                if e.instance.exit_at is not None
                else None,
                "path": [{"at": _iso(s.at), "node": s.node, "outcome": s.outcome} for s in e.instance.path],
                "messages": [
                    {"at": _iso(m.at), "node": m.node, "channel": m.channel, "template": m.template} for m in e.messages
                ],
                # Only journeys with record_activity nodes carry this key.
                **({"recorded": [{"at": _iso(r.at), "name": r.name} for r in e.recorded]} if e.recorded else {}),
            }
            for e in entries
        ],
        "not_entered": refused,
    }


def _scheduled_entries(journey: Journey, end: datetime, budget: Budget | None = None) -> list[datetime]:
    """Entry moments of a scheduled (segment) journey: start_at, then daily at every_day_at (UTC here);
    each one spends the budget (a start in year 1000 is 375,000 days of them)."""
    if journey.entry.type != "segment" or journey.schedule_start is None:
        return []
    moments = [journey.schedule_start]
    clock = journey.entry.every_day_at
    if clock is not None:
        day = journey.schedule_start.date()
        while True:
            moment = datetime(
                day.year, day.month, day.day, clock.hour, clock.minute, tzinfo=journey.schedule_start.tzinfo
            )
            if moment > end or (journey.schedule_end is not None and moment >= journey.schedule_end):
                break
            if moment > journey.schedule_start:
                if budget is not None:
                    budget.spend()
                moments.append(moment)
            day += timedelta(days=1)
    return moments
