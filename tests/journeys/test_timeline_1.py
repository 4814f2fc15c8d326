"""§13 timeline 1 — the action-based engagement journey — through the simulator."""

from __future__ import annotations

from journeys.document import parse_journey
from journeys.simulator import simulate
from tests.journeys.documents import TIMELINE_1, TIMELINE_1_EVENTS, TIMELINE_1_PROFILES


def run() -> dict:
    return simulate(
        parse_journey(TIMELINE_1), profiles=TIMELINE_1_PROFILES, events=TIMELINE_1_EVENTS, until="2025-02-01T00:00:00Z"
    )["profiles"]


def test_ann_favorites_gets_the_sms_and_converts_after_completing():
    (entry,) = run()["ann"]["entries"]
    assert entry["entered_at"] == "2024-12-17T12:00:00Z"
    assert entry["path"] == [
        {"at": "2024-12-18T09:00:00Z", "node": "fav", "outcome": "on_performed"},
        {"at": "2024-12-18T09:00:00Z", "node": "thanks", "outcome": "next"},
    ]
    assert entry["messages"] == [
        {"at": "2024-12-18T09:00:00Z", "node": "thanks", "channel": "sms", "template": "post-purchase-survey"}
    ]
    assert entry["exit"] == {"at": "2024-12-18T09:00:00Z", "reason": "completed"}
    assert entry["converted_at"] == "2024-12-20T10:00:00Z"  # inside the P30D attribution window


def test_bob_on_home_does_not_enter():
    assert run()["bob"] == {"entries": [], "not_entered": [{"at": "2024-12-17T12:30:00Z", "reason": "filters"}]}


def test_cem_times_out_gets_the_push_and_reenters_by_lock_and_cap():
    cem = run()["cem"]
    first, second, third = cem["entries"]
    assert first["entered_at"] == "2024-12-17T13:00:00Z"
    assert first["path"][0] == {"at": "2024-12-20T13:00:00Z", "node": "fav", "outcome": "on_timeout"}
    assert first["messages"] == [
        {"at": "2024-12-20T13:00:00Z", "node": "nudge", "channel": "push", "template": "liked-this-item"}
    ]
    assert first["exit"] == {"at": "2024-12-20T13:00:00Z", "reason": "completed"}
    assert first["converted_at"] is None
    assert second["entered_at"] == "2024-12-26T13:00:00Z"
    assert third["entered_at"] == "2025-01-17T13:00:00Z"
    assert cem["not_entered"] == [
        {"at": "2024-12-21T13:00:00Z", "reason": "lock"},
        {"at": "2025-01-03T13:00:00Z", "reason": "cap"},
    ]
