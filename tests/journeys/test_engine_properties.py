"""Property test: random journeys and event streams never crash the engine, and when time runs far
enough every entry has ended at an exit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeys.document import parse_journey
from journeys.engine import ActivityInput, Context, enter, on_activity, on_timer, reads_profile
from journeys.simulator import simulate

EVENTS = ["open", "view", "buy"]
T0 = datetime(2025, 1, 1, tzinfo=UTC)


@st.composite
def journeys(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(1, 7))
    ids = [f"n{i}" for i in range(count)]

    def target(i: int) -> str | None:  # edges only go forward, so the graph has no cycles
        return draw(st.sampled_from([None, *ids[i + 1 :]]))

    nodes: dict[str, Any] = {}
    for i, node_id in enumerate(ids):
        kind = draw(st.sampled_from(["wait_event", "delay", "branch", "split", "send", "update_profile", "exit"]))
        if kind == "wait_event":
            nodes[node_id] = {
                "type": kind,
                "event": draw(st.sampled_from(EVENTS)),
                "timeout": draw(st.sampled_from(["PT1H", "P1D", "P3D"])),
                "on_performed": target(i),
                "on_timeout": target(i),
            }
        elif kind == "delay":
            nodes[node_id] = {
                "type": kind,
                "next": target(i),
                **draw(st.sampled_from([{"duration": "PT6H"}, {"until": "09:30"}])),
            }
        elif kind == "branch":
            nodes[node_id] = {
                "type": kind,
                "branches": [{"if": {"tag": "t"}, "next": target(i)}, {"if": {"performed": "buy"}, "next": target(i)}],
                "else": target(i),
            }
        elif kind == "split":
            nodes[node_id] = {
                "type": kind,
                "arms": [
                    {"name": "a", "percent": 50, "next": target(i)},
                    {"name": "b", "percent": 50, "next": target(i)},
                ],
            }
        elif kind == "send":
            nodes[node_id] = {"type": kind, "channel": "push", "template": "t", "next": target(i)}
        elif kind == "update_profile":
            nodes[node_id] = {"type": kind, "add_tags": ["t"], "next": target(i)}
        else:
            nodes[node_id] = {"type": "exit"}
    reachable, frontier = {"n0"}, ["n0"]
    while frontier:  # keep only what start reaches, so every generated document is valid
        spec = nodes[frontier.pop()]
        targets = [spec.get(k) for k in ("next", "on_performed", "on_timeout", "else")]
        targets += [item.get("next") for item in spec.get("branches", []) + spec.get("arms", [])]
        for node_id in targets:
            if node_id is not None and node_id not in reachable:
                reachable.add(node_id)
                frontier.append(node_id)
    nodes = {node_id: spec for node_id, spec in nodes.items() if node_id in reachable}
    return {
        "name": "random",
        "entry": {"type": "event", "event": draw(st.sampled_from(EVENTS))},
        "conversion": draw(
            st.sampled_from([None, {"event": "buy", "window": "P2D", "exit_on_conversion": draw(st.booleans())}])
        ),
        "reentry": draw(
            st.sampled_from([{}, {"mode": "once"}, {"lock": "P1D"}, {"cap": {"max_entries": 2, "period": "P7D"}}])
        ),
        "start": "n0",
        "nodes": nodes,
    }


streams = st.lists(
    st.tuples(st.sampled_from(["p1", "p2"]), st.sampled_from(EVENTS), st.integers(0, 10 * 24 * 60)), max_size=25
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=journeys(), stream=streams)
def test_random_journeys_always_end(document: dict[str, Any], stream: list[tuple[str, str, int]]):
    journey = parse_journey(document)
    events = [
        {"user_id": user, "event": name, "timestamp": (T0 + timedelta(minutes=minute)).isoformat()}
        for user, name, minute in stream
    ]
    result = simulate(
        journey,
        profiles=[{"user_id": "p1", "timezone": "America/New_York"}],
        events=events,
        until=(T0 + timedelta(days=60)).isoformat(),
    )
    for person in result["profiles"].values():
        for entry in person["entries"]:
            assert entry["exit"] is not None, entry
            assert entry["exit"]["reason"] in ("completed", "converted")
            assert entry["entered_at"] <= entry["exit"]["at"]
        for refusal in person["not_entered"]:
            assert refusal["reason"] in ("filters", "audience", "schedule", "once", "lock", "cap", "active")


class _Unread:
    """A subject that must not be asked: the engine was told the version never reads the profile."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the profile was read ({name}) by a version that does not read it")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=journeys(), stream=streams)
def test_versions_that_do_not_read_the_profile_never_ask_it(document: dict[str, Any], stream: list):
    """`reads_profile` is what lets the timer sweep skip reading profiles: for a version it answers
    False for, entries and every timer run on a context whose subject and time zone cannot be read."""
    journey = parse_journey(document)
    if reads_profile(journey):
        return
    ctx = Context(subject=_Unread(), profile_key="p1", journey_key="j", timezone="Invalid/Unread")
    instance, _ = enter(journey, at=T0, trigger={}, ctx=ctx)
    for user, name, minute in stream:
        at = T0 + timedelta(minutes=minute)
        if user == "p1" and instance.active:
            on_activity(journey, instance, ActivityInput(name, {}, at), ctx)
    for _ in range(50):
        if instance.due_at is None:
            break
        on_timer(journey, instance, now=instance.due_at, ctx=ctx)
    assert not instance.active


def test_reads_profile_names_the_nodes_that_do() -> None:
    def one(node: dict[str, Any]) -> bool:
        return reads_profile(
            parse_journey(
                {"name": "n", "entry": {"type": "event", "event": "open"}, "start": "a", "nodes": {"a": node}}
            )
        )

    assert one({"type": "branch", "branches": [{"if": {"tag": "t"}, "next": None}], "else": None})
    assert one({"type": "update_profile", "add_tags": ["t"], "next": None})
    assert one({"type": "delay", "until": "09:30", "next": None})
    assert not one({"type": "delay", "duration": "PT6H", "next": None})
    assert not one({"type": "wait_event", "event": "buy", "timeout": "P1D", "on_performed": None, "on_timeout": None})
    assert not one({"type": "send", "channel": "push", "template": "t", "next": None})
    assert not one(
        {
            "type": "split",
            "arms": [{"name": "a", "percent": 60, "next": None}, {"name": "b", "percent": 40, "next": None}],
        }
    )
