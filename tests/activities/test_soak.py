"""The ingestion soak: a stream of good events interleaved with every kind of bad payload the hardening
found reaches journeys completely — no good event held back, no bad one stored, each bad one visible."""

from __future__ import annotations

import json
from typing import Any

import pytest

from activities.models import Activity, EvaluationBatch, IngestionError
from activities.pipeline import batch_process
from journeys.models import Enrollment
from journeys.services import journey_create, journey_publish
from tests.conftest import SegmentClient

pytestmark = pytest.mark.django_db


def _deep(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels):
        value = {"a": value}
    return value


BAD: list[Any] = [
    {"type": "track", "userId": "x", "event": "signup", "timestamp": "0001-01-01T00:00:00+14:00"},
    {"type": "track", "userId": "x", "event": "signup", "timestamp": "9999-12-31T23:59:59-14:00"},
    {"type": "track", "userId": "x", "event": "signup", "properties": {"note": "a\x00b"}},
    {"type": "track", "userId": "x", "event": "signup", "properties": _deep(40)},
    {"type": "track", "userId": 1e308, "event": "signup"},
    {"type": "track", "userId": "x", "event": "signup", "properties": {"blob": "y" * 40_000}},
    {"type": "track", "userId": "x"},
    {"type": ["track"], "userId": "x", "event": "signup"},
    "not a message",
    {"type": "track", "userId": 2**70, "event": "signup"},  # read as a float: an id cannot be kept exactly
]


def test_good_events_among_bad_ones_all_reach_the_journey(segment: SegmentClient, acme):
    journey = journey_create(
        workspace=acme.workspace,
        actor=acme.owner,
        document={
            "name": "Welcome",
            "entry": {"type": "event", "event": "signup"},
            "start": "tag",
            "nodes": {"tag": {"type": "update_profile", "add_tags": ["welcomed"], "next": None}},
        },
    )
    journey_publish(journey=journey, actor=acme.owner)
    good = 0
    for round_ in range(20):
        batch: list[Any] = []
        for i, bad in enumerate(BAD):
            batch.append({"type": "track", "userId": f"u{round_}-{i}", "event": "signup"})
            batch.append(bad)
            good += 1
        # Good, if odd: a far offset (read in UTC) and a whole-number id.
        batch.append(
            {"type": "track", "userId": f"far-{round_}", "event": "signup", "timestamp": "2026-06-01T23:59:00+23:59"}
        )
        batch.append({"type": "track", "userId": 2**62 + round_, "event": "signup"})
        good += 2
        response = segment.post("/v1/batch", None, raw=json.dumps({"batch": batch}).encode())  # big ints: json
        assert response.status_code == 200, response.content
        assert [r["index"] for r in response.json()["refused"]] == list(range(1, 2 * len(BAD), 2))
        for pending in EvaluationBatch.objects.order_by("pk"):
            batch_process(pending.pk)

    assert Activity.objects.filter(workspace=acme.workspace, name="signup").count() == good
    assert Enrollment.objects.filter(journey=journey).count() == good  # none held back
    assert not EvaluationBatch.objects.exists()
    assert IngestionError.objects.filter(workspace=acme.workspace, kind="refused").count() == 20 * len(BAD)
    assert not IngestionError.objects.filter(kind="quarantined").exists()
    assert not Activity.objects.filter(profile__user_id="x").exists()  # no bad one stored
