"""`wait_inactive`: rest until the profile has been quiet for a duration; any activity (but `behavior:`
ones) starts the quiet period again. The simulator and the live path (pipeline, real sweep) agree."""

from __future__ import annotations

from datetime import datetime

import pytest
import time_machine
from django.db import transaction

from activities.models import EvaluationBatch, Profile
from activities.pipeline import batch_process
from activities.recorded import RecordedActivity, recorded_write
from journeys.document import DocumentError, parse_journey
from journeys.models import Enrollment
from journeys.runtime import timers_fire
from journeys.selectors import enrollments_report
from journeys.services import journey_create, journey_publish
from journeys.simulator import simulate
from segments.conditions import as_datetime
from tests.conftest import SegmentClient

QUIET = {
    "name": "quiet after login",
    "entry": {"type": "event", "event": "login"},
    "start": "quiet",
    "nodes": {
        "quiet": {"type": "wait_inactive", "duration": "P2D", "next": "nudge"},
        "nudge": {"type": "send", "channel": "push", "template": "liked-this-item", "next": None},
    },
}
EVENTS = [
    {"user_id": "ana", "event": "login", "timestamp": "2025-01-01T00:00:00Z"},
    {"user_id": "ana", "event": "search", "timestamp": "2025-01-02T00:00:00Z"},
    {"user_id": "ana", "event": "behavior:anything", "timestamp": "2025-01-03T12:00:00Z"},  # ignored
    {"user_id": "ana", "event": "purchase", "timestamp": "2025-01-03T12:00:00Z"},
    {"user_id": "ben", "event": "login", "timestamp": "2025-01-01T00:00:00Z"},
]
UNTIL = "2025-01-10T00:00:00Z"


def _at(text: str) -> datetime:
    moment = as_datetime(text)
    assert moment is not None
    return moment


def test_the_quiet_period_restarts_on_any_activity_in_the_simulator():
    result = simulate(parse_journey(QUIET), profiles=[], events=EVENTS, until=UNTIL)["profiles"]
    assert result["ana"]["entries"][0]["messages"][0]["at"] == "2025-01-05T12:00:00Z"  # 2 days after the purchase
    assert result["ben"]["entries"][0]["messages"][0]["at"] == "2025-01-03T00:00:00Z"
    assert [s["outcome"] for s in result["ana"]["entries"][0]["path"]] == ["next", "next"]


def test_a_duration_is_required():
    document = {**QUIET, "nodes": {**QUIET["nodes"], "quiet": {"type": "wait_inactive", "next": "nudge"}}}
    with pytest.raises(DocumentError) as raised:
        parse_journey(document)
    assert [p.field for p in raised.value.problems] == ["nodes.quiet.duration"]


@pytest.mark.django_db
def test_the_live_path_matches_the_simulator(acme, client):
    with time_machine.travel(_at("2024-12-31T00:00:00Z"), tick=False):
        journey = journey_create(workspace=acme.workspace, actor=acme.owner, document=QUIET)
        journey_publish(journey=journey, actor=acme.owner)
    segment = SegmentClient(client, acme.write_key)
    for event in EVENTS:
        moment = _at(event["timestamp"])
        _fire_until(moment)
        with time_machine.travel(moment, tick=False):
            if event["event"].startswith("behavior:"):  # recorded by Nudge (apps may not send it), not tracked
                with transaction.atomic():
                    profile = Profile.objects.get(workspace=acme.workspace, user_id=event["user_id"])
                    mark = RecordedActivity(profile.pk, event["event"], {}, moment, f"test:{event['event']}")
                    recorded_write(acme.workspace.pk, [mark], received_at=moment)
            else:
                body = {"userId": event["user_id"], "event": event["event"], "timestamp": event["timestamp"]}
                assert segment.post("/v1/track", body).status_code == 200
            for batch in EvaluationBatch.objects.order_by("pk"):
                batch_process(batch.pk)
    _fire_until(_at(UNTIL))
    simulated = simulate(parse_journey(QUIET), profiles=[], events=EVENTS, until=UNTIL)["profiles"]
    for user in ("ana", "ben"):
        profile = Profile.objects.get(workspace=acme.workspace, user_id=user)
        assert enrollments_report(journey_id=journey.pk, profile_id=profile.pk) == simulated[user]["entries"], user


def _fire_until(moment: datetime) -> None:
    while (
        due := Enrollment.objects.filter(due_at__isnull=False)
        .order_by("due_at")
        .values_list("due_at", flat=True)
        .first()
    ) and due <= moment:
        with time_machine.travel(due, tick=False):
            timers_fire()
