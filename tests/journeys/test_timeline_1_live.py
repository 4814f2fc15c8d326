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
from journeys.models import Journey, JourneyStatus, Timer
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
        due := Timer.objects.filter(held=False).order_by("due_at").values_list("due_at", flat=True).first()
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
    assert not Timer.objects.filter(enrollment__journey=journey, enrollment__exit_at__isnull=False).exists()
