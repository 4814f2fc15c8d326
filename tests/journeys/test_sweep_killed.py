"""A sweep process killed (SIGKILL) in the middle of its work loses and doubles nothing: the batch it
was in rolls back, and the next sweep fires those timers exactly once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from activities.models import EvaluationBatch
from activities.pipeline import batch_process
from journeys.models import Enrollment
from journeys.runtime import timers_fire
from journeys.services import journey_create, journey_publish
from messaging.models import Message
from tests.conftest import ROOT, SegmentClient, server_env
from tests.journeys.documents import discounts

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PROFILES = 600


def test_a_killed_sweep_fires_every_timer_exactly_once(acme):
    journey = journey_create(workspace=acme.workspace, actor=acme.owner, document=discounts(schedule={}, reentry={}))
    journey_publish(journey=journey, actor=acme.owner)
    segment = SegmentClient(Client(), acme.write_key)
    for start in range(0, PROFILES, 200):
        batch = [
            {
                "type": "track",
                "userId": f"u{i}",
                "event": "screen_view",
                "properties": {"screen_name": "Spring Discounts"},
            }
            for i in range(start, start + 200)
        ]
        assert segment.post("/v1/batch", {"batch": batch}).status_code == 200
    for pending in EvaluationBatch.objects.order_by("pk"):
        batch_process(pending.pk)
    past = timezone.now() - timedelta(seconds=1)
    Enrollment.objects.filter(due_at__isnull=False).update(due_at=past)
    Enrollment.objects.update(due_at=past)

    sweeper = subprocess.Popen(
        [sys.executable, "manage.py", "fire_timers", "--batch-size", "20"],
        cwd=ROOT,
        env=server_env(),
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while Enrollment.objects.filter(due_at__isnull=False).count() == PROFILES:  # wait for the first committed batch …
        assert time.monotonic() < deadline and sweeper.poll() is None, "the sweep never committed a batch"
        time.sleep(0.01)
    sweeper.send_signal(signal.SIGKILL)  # … then kill it in the middle of the next ones
    sweeper.wait(timeout=10)
    left = Enrollment.objects.filter(due_at__isnull=False).count()
    assert 0 < left < PROFILES, f"the kill did not land mid-sweep ({left} timers left)"

    assert timers_fire() == left
    assert not Enrollment.objects.filter(due_at__isnull=False).exists()
    assert Message.objects.count() == PROFILES
    for enrollment in Enrollment.objects.all():
        assert [step["outcome"] for step in enrollment.path] == ["on_timeout", "next"]
        assert enrollment.exit_reason == "completed"
