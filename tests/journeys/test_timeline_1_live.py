"""§13 timeline 1 through the live path: events into /v1/batch, time travelled with time_machine,
the pipeline run as the worker runs it, timers fired by the real sweep. The result must equal the
simulator's, entry for entry."""

from __future__ import annotations

from datetime import datetime

import pytest
import time_machine

from activities.models import EvaluationBatch, Profile
from activities.pipeline import batch_process
from journeys.document import parse_journey
from journeys.models import Enrollment, Journey, JourneyStatus
from journeys.runtime import timers_fire
from journeys.selectors import enrollments_report
from journeys.services import journey_create, journey_publish
from journeys.simulator import simulate
from segments.conditions import as_datetime
from tests.conftest import SegmentClient
from tests.journeys.documents import TIMELINE_1, TIMELINE_1_EVENTS, TIMELINE_1_PROFILES

pytestmark = pytest.mark.django_db

UNTIL = "2025-02-01T00:00:00Z"


def _at(text: str) -> datetime:
    moment = as_datetime(text)
    assert moment is not None
    return moment


def _fire_until(moment: datetime) -> None:
    """The sweep, run at every due time up to `moment` (as beat would, every few seconds)."""
    while (
        due := Enrollment.objects.filter(due_at__isnull=False, timer_held=False)
        .order_by("due_at")
        .values_list("due_at", flat=True)
        .first()
    ) and due <= moment:
        with time_machine.travel(due, tick=False):
            assert timers_fire() >= 0


def _drain() -> None:
    for batch in EvaluationBatch.objects.order_by("pk"):
        batch_process(batch.pk)


def test_timeline_1_live_equals_the_simulator(acme, segment: SegmentClient):
    with time_machine.travel(_at("2024-12-17T10:00:00Z"), tick=False):
        journey = journey_create(workspace=acme.workspace, actor=acme.owner, document=TIMELINE_1)
        journey_publish(journey=journey, actor=acme.owner)
    assert Journey.objects.get(pk=journey.pk).status == JourneyStatus.SCHEDULED

    for event in sorted(TIMELINE_1_EVENTS, key=lambda e: e["timestamp"]):
        moment = _at(event["timestamp"])
        _fire_until(moment)
        with time_machine.travel(moment, tick=False):
            body = {
                "type": "track",
                "userId": event["user_id"],
                "event": event["event"],
                "properties": event["properties"],
                "timestamp": event["timestamp"],
            }
            assert segment.post("/v1/batch", {"batch": [body]}).status_code == 200
            _drain()
    _fire_until(_at(UNTIL))

    simulated = simulate(
        parse_journey(TIMELINE_1), profiles=TIMELINE_1_PROFILES, events=TIMELINE_1_EVENTS, until=UNTIL
    )["profiles"]
    for user_id in ("ann", "bob", "cem"):
        profile = Profile.objects.get(workspace=acme.workspace, user_id=user_id)
        assert enrollments_report(journey_id=journey.pk, profile_id=profile.pk) == simulated[user_id]["entries"], (
            user_id
        )
    assert not Enrollment.objects.filter(journey=journey, exit_at__isnull=False, due_at__isnull=False).exists()


def test_timeline_1_analytics(acme, segment: SegmentClient, client):
    test_timeline_1_live_equals_the_simulator(acme, segment)
    journey = Journey.objects.get(workspace=acme.workspace)
    answer = client.get(f"/api/v1/journeys/{journey.pk}/analytics", **acme.auth("analyst")).json()
    totals = answer["totals"]
    assert (totals["entered"], totals["converted"], totals["unique_profiles"], totals["active"]) == (4, 1, 2, 0)
    assert totals["exits"] == {"completed": 4} and totals["conversion_rate"] == 0.25
    assert answer["nodes"]["fav"] == {
        "entered": 4,
        "waiting": 0,
        "edges": {"on_performed": 1, "on_timeout": 3},
        "messages": 0,
        "message_statuses": {},
    }
    assert answer["nodes"]["thanks"]["messages"] == 1 and answer["nodes"]["nudge"]["messages"] == 3
    days = {row["day"]: row for row in answer["per_day"]}
    assert days["2024-12-17"]["entered"] == 2 and days["2024-12-20"]["converted"] == 1
    since = client.get(f"/api/v1/journeys/{journey.pk}/analytics?since=2025-01-01", **acme.auth("analyst")).json()
    assert since["totals"]["entered"] == 1
    assert client.get(f"/api/v1/journeys/{journey.pk}/analytics?since=soon", **acme.auth()).status_code == 400
