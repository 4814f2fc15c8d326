"""Property test: any behavior over any stream never crashes; it fires in time order, never twice within
max_once_per, never before the activity that started its match, and an open match always has a step
left to wait for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from behaviors.document import parse_behavior
from behaviors.matcher import Activity, State, due_at, on_activity, on_time

NAMES = ["a", "b", "c", "*", "segment_entered"]  # the last: recorded by Nudge, not done by the profile
START = datetime(2025, 1, 1, tzinfo=UTC)

step = st.one_of(
    st.builds(lambda n, d: {"performed": n, "within": f"PT{d}H"}, st.sampled_from(NAMES), st.integers(1, 72)),
    st.builds(lambda n: {"performed": n}, st.sampled_from(NAMES)),
    st.builds(lambda n, d: {"not_performed": n, "within": f"PT{d}H"}, st.sampled_from(NAMES[:3]), st.integers(1, 72)),
    st.builds(lambda d: {"inactive": f"PT{d}H"}, st.integers(1, 72)),
)
behaviors = st.builds(
    lambda first, rest, once: {
        "name": "p",
        "slug": "p",
        "steps": [{"performed": first}, *rest],
        **({"max_once_per": f"PT{once}H"} if once else {}),
    },
    st.sampled_from(NAMES),
    st.lists(step, max_size=4),
    st.one_of(st.none(), st.integers(1, 100)),
)
streams = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", "behavior:x", "segment_entered"]), st.integers(0, 24 * 20)), max_size=40
)


@settings(max_examples=300, deadline=None)
@given(behaviors, streams)
def test_any_behavior_over_any_stream(document, stream):
    behavior = parse_behavior(document)
    state = State()
    fired = []
    for name, minutes in sorted(stream, key=lambda item: item[1]):
        moment = START + timedelta(minutes=minutes * 60)
        fired += on_activity(behavior, state, Activity(name, {}, moment))
        if state.open is not None:
            assert state.open.step < len(behavior.steps)
            assert state.open.anchor <= moment or due_at(behavior, state) is not None
    fired += on_time(behavior, state, START + timedelta(days=60))
    times = [f.at for f in fired]
    assert times == sorted(times)
    assert all(f.started_at <= f.at for f in fired)
    if behavior.max_once_per is not None:
        for earlier, later in zip(times, times[1:], strict=False):
            assert later > behavior.max_once_per.after(earlier)
    # Far enough in time every window has closed: only a window-less `performed` step can stay open.
    if state.open is not None:
        assert behavior.steps[state.open.step].kind == "performed"
        assert behavior.steps[state.open.step].within is None
