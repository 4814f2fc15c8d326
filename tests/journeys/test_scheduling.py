"""Scheduled (segment) journeys: everyone enters at start_at, once per run, and again on the daily
recurrence in the workspace's time zone when the re-entry rules allow."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from activities.models import Profile
from journeys.document import parse_journey
from journeys.models import Enrollment, JourneyStatus, ScheduledRun
from journeys.scheduling import due_moment, journeys_enter_scheduled
from journeys.services import journey_create, journey_publish
from messaging.models import Message

pytestmark = pytest.mark.django_db

START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def document(**entry):
    return {
        "name": "Weekly digest",
        "entry": {"type": "segment", **entry},
        "schedule": {"start_at": START.isoformat()},
        "reentry": {"mode": "multiple"},
        "start": "s",
        "nodes": {"s": {"type": "send", "channel": "email", "template": "digest", "next": None}},
    }


@pytest.fixture
def people(acme):
    return [Profile.objects.create(workspace=acme.workspace, user_id=f"p{i}") for i in range(7)]


def test_everyone_enters_once_at_the_start(acme, people, monkeypatch):
    monkeypatch.setattr("journeys.scheduling.BATCH", 3)  # several committed batches
    journey = journey_create(workspace=acme.workspace, actor=acme.owner, document=document())
    journey_publish(journey=journey, actor=acme.owner)
    assert journeys_enter_scheduled(now=START.replace(hour=8)) == 0  # not yet
    assert journeys_enter_scheduled(now=START.replace(hour=10)) == 7
    assert journeys_enter_scheduled(now=START.replace(hour=11)) == 0  # the run is finished
    assert Enrollment.objects.filter(journey=journey).count() == 7
    assert Message.objects.filter(template="digest").count() == 7
    assert ScheduledRun.objects.get().entered == 7
    journey.refresh_from_db()
    assert journey.status == JourneyStatus.LIVE


def test_a_daily_recurrence_runs_in_the_workspace_timezone(acme, people):
    acme.workspace.timezone = "Europe/Istanbul"  # UTC+3
    acme.workspace.save(update_fields=["timezone"])
    journey = journey_create(workspace=acme.workspace, actor=acme.owner, document=document(every_day_at="10:00"))
    journey_publish(journey=journey, actor=acme.owner)
    journeys_enter_scheduled(now=START)
    assert journeys_enter_scheduled(now=datetime(2025, 1, 7, 6, 59, tzinfo=UTC)) == 0  # 09:59 in Istanbul
    assert journeys_enter_scheduled(now=datetime(2025, 1, 7, 7, 0, tzinfo=UTC)) == 7  # 10:00 in Istanbul
    assert sorted(ScheduledRun.objects.values_list("moment", flat=True)) == [
        START,
        datetime(2025, 1, 7, 7, 0, tzinfo=UTC),
    ]


def test_due_moment_skips_missed_days():
    journey = parse_journey(document(every_day_at="10:00"))
    assert due_moment(journey, datetime(2025, 1, 10, 12, tzinfo=UTC), "UTC") == datetime(2025, 1, 10, 10, tzinfo=UTC)
    assert due_moment(journey, datetime(2025, 1, 10, 9, tzinfo=UTC), "UTC") == datetime(2025, 1, 9, 10, tzinfo=UTC)
    assert due_moment(journey, datetime(2025, 1, 1, tzinfo=UTC), "UTC") is None
    assert parse_journey(document(every_day_at="10:00")).entry.every_day_at == time(10, 0)
