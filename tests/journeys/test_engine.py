"""The pure engine: entry rules with their reasons, every node type and edge, conversion, late events,
local-time delays across DST, stable splits, and stopping."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from journeys.document import Delay, Split, SplitArm, parse_journey
from journeys.engine import (
    ActivityInput,
    Context,
    Exited,
    PastEntry,
    enter,
    entry_refusal,
    next_local_time,
    on_activity,
    on_timer,
    split_arm,
    stop,
)
from journeys.simulator import SimulatedProfile, simulate
from tests.journeys.documents import discounts, view

T0 = datetime(2024, 12, 17, 12, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# --- Entry rules ----------------------------------------------------------------------------------

ENTRY_CASES: list[tuple[str, dict[str, Any], dict[str, Any], list[PastEntry], datetime, str | None]] = [
    ("enters", {}, {}, [], at(0), None),
    ("filters", {}, {"screen_name": "Home"}, [], at(0), "filters"),
    ("before the schedule", {"schedule": {"start_at": iso(at(1))}}, {}, [], at(0), "schedule"),
    ("at the schedule start", {"schedule": {"start_at": iso(at(0))}}, {}, [], at(0), None),
    ("at the schedule end", {"schedule": {"end_at": iso(at(0))}}, {}, [], at(0), "schedule"),
    ("audience: not in a listed segment", {"audience": {"segments": ["vip"]}}, {}, [], at(0), "audience"),
    ("audience: in a listed segment", {"audience": {"segments": ["loyal", "new"]}}, {}, [], at(0), None),
    ("audience: excluded", {"audience": {"exclude_segments": ["new"]}}, {}, [], at(0), "audience"),
    ("already inside", {}, {}, [PastEntry(at(-1), True)], at(0), "active"),
    ("once", {"reentry": {"mode": "once"}}, {}, [PastEntry(at(-500), False)], at(0), "once"),
    ("lock: inside", {"reentry": {"lock": "P7D"}}, {}, [PastEntry(at(-24 * 7 + 1), False)], at(0), "lock"),
    ("lock: exactly over", {"reentry": {"lock": "P7D"}}, {}, [PastEntry(at(-24 * 7), False)], at(0), None),
    (
        "cap: full",
        {"reentry": {"cap": {"max_entries": 2, "period": "P30D"}}},
        {},
        [PastEntry(at(-24 * 29), False), PastEntry(at(-24), False)],
        at(0),
        "cap",
    ),
    (
        "cap: oldest exactly a period ago",
        {"reentry": {"cap": {"max_entries": 2, "period": "P30D"}}},
        {},
        [PastEntry(at(-24 * 30), False), PastEntry(at(-24), False)],
        at(0),
        None,
    ),
    ("cap: lifetime", {"reentry": {"cap": {"max_entries": 1}}}, {}, [PastEntry(at(-24 * 900), False)], at(0), "cap"),
]


@pytest.mark.parametrize(
    ("case", "changes", "properties", "past", "moment", "reason"), ENTRY_CASES, ids=[c[0] for c in ENTRY_CASES]
)
def test_entry_rules(case, changes, properties, past, moment, reason):
    journey = parse_journey(discounts(**{"reentry": {}, "schedule": {}, **changes}))
    activity = ActivityInput("screen_view", properties or {"screen_name": "Spring Discounts"}, moment)
    person = SimulatedProfile("p", segments=frozenset({"new", "loyal"}))
    assert entry_refusal(journey, at=moment, activity=activity, subject=person, entries=past) == reason


# --- Nodes, edges, conversion ---------------------------------------------------------------------


def run(document: dict, events: list[dict], until: str = "2025-03-01T00:00:00Z", **profile: Any) -> dict:
    profiles = [{"user_id": "p", "timezone": "UTC", **profile}]
    result = simulate(parse_journey(document), profiles=profiles, events=events, until=until)
    return result["profiles"]["p"]


def event(name: str, hours: float, **properties: Any) -> dict:
    return {"user_id": "p", "event": name, "properties": properties, "timestamp": iso(at(hours))}


def start(**extra: Any) -> dict:
    return view("p", iso(at(0)))


def test_every_node_type_and_edge():
    document = discounts(
        reentry={},
        start="wait",
        nodes={
            "wait": {
                "type": "wait_event",
                "event": "open",
                "timeout": "PT1H",
                "on_performed": "branch",
                "on_timeout": None,
            },
            "branch": {
                "type": "branch",
                "branches": [
                    {"if": {"trait": "plan", "op": "eq", "value": "pro"}, "next": "tag"},
                    {"if": {"property": "screen_name", "op": "contains", "value": "x"}, "next": None},
                ],
                "else": None,
            },
            "tag": {"type": "update_profile", "traits": {"nudged": True}, "add_tags": ["nudged"], "next": "split"},
            "split": {
                "type": "split",
                "arms": [{"name": "all", "percent": 100, "next": "hook"}, {"name": "none", "percent": 0, "next": None}],
            },
            "hook": {"type": "webhook", "url": "https://crm.example/hook", "body": "{}", "next": "pause"},
            "pause": {"type": "delay", "duration": "PT2H", "next": "again"},
            "again": {"type": "branch", "branches": [{"if": {"tag": "nudged"}, "next": "mail"}], "else": None},
            "mail": {"type": "send", "channel": "email", "template": "welcome", "next": "bye"},
            "bye": {"type": "exit"},
        },
    )
    result = run(document, [start(), event("open", 0.5)], traits={"plan": "pro"})
    (entry,) = result["entries"]
    assert [(s["node"], s["outcome"]) for s in entry["path"]] == [
        ("wait", "on_performed"),
        ("branch", "branches[0]"),
        ("tag", "next"),
        ("split", "all"),
        ("hook", "next"),
        ("pause", "next"),
        ("again", "branches[0]"),
        ("mail", "next"),
        ("bye", "exit"),
    ]
    assert entry["path"][5]["at"] == iso(at(2.5))  # the delay ended two hours after it began
    assert entry["messages"] == [{"at": iso(at(2.5)), "node": "mail", "channel": "email", "template": "welcome"}]
    assert entry["exit"] == {"at": iso(at(2.5)), "reason": "completed"}


def test_a_branch_falls_to_else():
    document = discounts(
        reentry={},
        start="b",
        nodes={
            "b": {
                "type": "branch",
                "branches": [{"if": {"trait": "plan", "op": "eq", "value": "pro"}, "next": None}],
                "else": "s",
            },
            "s": {"type": "send", "channel": "push", "template": "t", "next": None},
        },
    )
    (entry,) = run(document, [start()], traits={"plan": "free"})["entries"]
    assert [(s["node"], s["outcome"]) for s in entry["path"]] == [("b", "else"), ("s", "next")]


def test_a_wait_filter_must_match():
    document = discounts(
        nodes={
            "fav": {
                "type": "wait_event",
                "event": "add_to_favorites",
                "where": [{"property": "n", "op": "gt", "value": 1}],
                "timeout": "P3D",
                "on_performed": "thanks",
                "on_timeout": "nudge",
            },
            "thanks": {"type": "send", "channel": "sms", "template": "a", "next": None},
            "nudge": {"type": "send", "channel": "push", "template": "b", "next": None},
        }
    )
    (entry,) = run(document, [start(), event("add_to_favorites", 1, n=1)])["entries"]
    assert entry["path"][0]["outcome"] == "on_timeout"


def test_conversion_inside_the_window_exits_a_waiting_profile():
    (entry,) = run(discounts(), [start(), event("purchase", 5, price=150)])["entries"]
    assert entry["converted_at"] == iso(at(5))
    assert entry["exit"] == {"at": iso(at(5)), "reason": "converted"}
    assert entry["messages"] == []  # it left before its timeout


def test_conversion_filters_and_window():
    cheap = run(discounts(), [start(), event("purchase", 5, price=50)])["entries"][0]
    assert cheap["converted_at"] is None
    late = run(discounts(), [start(), event("purchase", 24 * 31, price=500)])["entries"][0]
    assert late["converted_at"] is None
    assert late["exit"]["reason"] == "completed"


def test_conversion_without_exit_keeps_the_profile_waiting():
    document = discounts(conversion={"event": "purchase", "window": "P30D", "exit_on_conversion": False})
    (entry,) = run(document, [start(), event("purchase", 5, price=150)])["entries"]
    assert entry["converted_at"] == iso(at(5))
    assert entry["exit"]["reason"] == "completed" and entry["messages"][0]["template"] == "liked-this-item"


def test_an_event_stamped_inside_the_wait_but_processed_after_the_timeout_is_late():
    journey = parse_journey(discounts())
    person = SimulatedProfile("p")
    ctx = Context(subject=person, profile_key="p", journey_key="j")
    instance, _ = enter(journey, at=at(0), trigger={}, ctx=ctx)
    fired = on_timer(journey, instance, now=at(72), ctx=ctx)
    assert any(isinstance(e, Exited) for e in fired)
    late = on_activity(journey, instance, ActivityInput("add_to_favorites", {}, at(71)), ctx)
    assert late == []
    assert [s.outcome for s in instance.path] == ["on_timeout", "next"]


def test_an_event_stamped_exactly_at_the_timeout_is_outside_the_window():
    (entry,) = run(discounts(), [start(), event("add_to_favorites", 72)])["entries"]
    assert entry["path"][0] == {"at": iso(at(72)), "node": "fav", "outcome": "on_timeout"}


def test_an_out_of_order_event_inside_the_window_still_counts():
    journey = parse_journey(discounts())
    ctx = Context(subject=SimulatedProfile("p"), profile_key="p", journey_key="j")
    instance, _ = enter(journey, at=at(0), trigger={}, ctx=ctx)
    on_activity(journey, instance, ActivityInput("add_to_favorites", {}, at(70)), ctx)  # arrives at hour 71
    assert instance.path[0].outcome == "on_performed" and instance.path[0].at == at(70)


def test_a_stale_timer_does_nothing():
    journey = parse_journey(discounts())
    ctx = Context(subject=SimulatedProfile("p"), profile_key="p", journey_key="j")
    instance, _ = enter(journey, at=at(0), trigger={}, ctx=ctx)
    assert on_timer(journey, instance, now=at(71), ctx=ctx) == []  # not due yet
    on_activity(journey, instance, ActivityInput("add_to_favorites", {}, at(1)), ctx)
    assert on_timer(journey, instance, now=at(72), ctx=ctx) == []  # the wait already ended


def test_stop_exits_with_its_reason_once():
    journey = parse_journey(discounts())
    ctx = Context(subject=SimulatedProfile("p"), profile_key="p", journey_key="j")
    instance, _ = enter(journey, at=at(0), trigger={}, ctx=ctx)
    assert stop(instance, at=at(1), reason="journey_stopped")[-1] == Exited("journey_stopped", at(1))
    assert stop(instance, at=at(2), reason="profile_deleted") == []
    assert instance.exit_reason == "journey_stopped" and instance.due_at is None


# --- Time of day, splits ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "clock", "zone", "expected"),
    [
        ("2025-01-10T08:00:00+00:00", "10:00", "UTC", "2025-01-10T10:00:00+00:00"),
        ("2025-01-10T10:00:00+00:00", "10:00", "UTC", "2025-01-11T10:00:00+00:00"),
        ("2025-01-10T06:00:00+00:00", "10:00", "Europe/Istanbul", "2025-01-10T07:00:00+00:00"),
        # New York springs forward on 2025-03-09: 10:00 is EDT (UTC−4) that day, EST (UTC−5) the day before.
        ("2025-03-08T16:00:00+00:00", "10:00", "America/New_York", "2025-03-09T14:00:00+00:00"),
        ("2025-03-08T12:00:00+00:00", "10:00", "America/New_York", "2025-03-08T15:00:00+00:00"),
        # 02:30 does not exist on 2025-03-09 in New York: moved forward by the gap, to 03:30 EDT.
        ("2025-03-09T05:00:00+00:00", "02:30", "America/New_York", "2025-03-09T07:30:00+00:00"),
        # 01:30 happens twice on 2025-11-02 in New York: the first (EDT) is used.
        ("2025-11-02T04:00:00+00:00", "01:30", "America/New_York", "2025-11-02T05:30:00+00:00"),
        ("2025-01-10T08:00:00+00:00", "10:00", "Not/AZone", "2025-01-10T10:00:00+00:00"),
    ],
)
def test_next_local_time_is_dst_safe(after, clock, zone, expected):
    hours, minutes = map(int, clock.split(":"))
    moment = next_local_time(datetime.fromisoformat(after), time(hours, minutes), zone)
    assert moment == datetime.fromisoformat(expected)


def test_delay_until_uses_the_profiles_timezone():
    document = discounts(
        reentry={},
        start="d",
        nodes={
            "d": {"type": "delay", "until": "10:00", "next": "s"},
            "s": {"type": "send", "channel": "push", "template": "morning", "next": None},
        },
    )
    (entry,) = run(document, [start()], timezone="Asia/Tokyo")["entries"]  # 12:00 UTC = 21:00 in Tokyo
    assert entry["messages"][0]["at"] == "2024-12-18T01:00:00Z"  # 10:00 next morning in Tokyo


def test_delay_until_a_past_date_continues_at_once():
    assert Delay("d", None, until_date=at(-1)).until_date == at(-1)
    document = discounts(
        reentry={},
        start="d",
        nodes={
            "d": {"type": "delay", "until": iso(at(-1)), "next": "s"},
            "s": {"type": "send", "channel": "push", "template": "t", "next": None},
        },
    )
    (entry,) = run(document, [start()])["entries"]
    assert entry["messages"][0]["at"] == iso(at(0))


def test_split_arms_are_stable_and_follow_the_percentages():
    node = Split("s", (SplitArm("A", 30, None), SplitArm("B", 70, None)))
    arms = [split_arm(node, "journey-1", f"user-{i}").name for i in range(2000)]
    assert arms == [split_arm(node, "journey-1", f"user-{i}").name for i in range(2000)]
    assert 500 < arms.count("A") < 700
