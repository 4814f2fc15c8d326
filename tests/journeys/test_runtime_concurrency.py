"""Concurrency on the live path: parallel trigger events for one profile enter once; two sweepers on
the same due timers fire each exactly once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from activities.models import EvaluationBatch, Profile
from activities.pipeline import batch_process
from journeys.examples import DISCOUNTS
from journeys.models import Enrollment
from journeys.runtime import timers_fire
from journeys.services import journey_create, journey_publish
from messaging.models import Message
from tests.conftest import SegmentClient, in_parallel
from tests.journeys.documents import discounts

pytestmark = pytest.mark.django_db(transaction=True)


def _live(acme, **changes):
    journey = journey_create(
        workspace=acme.workspace, actor=acme.owner, document=discounts(schedule={}, reentry={}, **changes)
    )
    journey_publish(journey=journey, actor=acme.owner)
    return journey


def test_parallel_trigger_events_for_one_profile_enter_once(acme):
    journey = _live(acme)
    segment = SegmentClient(Client(), acme.write_key)
    for i in range(8):
        segment.post(
            "/v1/track",
            {
                "userId": "zed",
                "event": "screen_view",
                "messageId": f"v{i}",
                "properties": {"screen_name": "Spring Discounts"},
            },
        )
    batches = list(EvaluationBatch.objects.values_list("pk", flat=True))
    assert len(batches) == 8
    in_parallel(8, lambda i: batch_process(batches[i]))
    assert Enrollment.objects.filter(journey=journey).count() == 1
    assert not EvaluationBatch.objects.exists()


def test_two_sweepers_fire_each_due_timer_exactly_once(acme):
    journey = _live(acme)
    segment = SegmentClient(Client(), acme.write_key)
    for i in range(60):
        segment.post(
            "/v1/track", {"userId": f"u{i}", "event": "screen_view", "properties": {"screen_name": "Spring Discounts"}}
        )
    for batch in EvaluationBatch.objects.order_by("pk"):
        batch_process(batch.pk)
    assert Enrollment.objects.filter(due_at__isnull=False).count() == 60
    Enrollment.objects.filter(due_at__isnull=False).update(due_at=timezone.now() - timedelta(minutes=1))
    Enrollment.objects.update(due_at=timezone.now() - timedelta(minutes=1))
    fired = in_parallel(2, lambda i: timers_fire(batch_size=7))
    assert sum(fired) == 60
    assert not Enrollment.objects.filter(due_at__isnull=False).exists()
    assert Message.objects.filter(enrollment__journey=journey, template="liked-this-item").count() == 60
    for enrollment in Enrollment.objects.filter(journey=journey):
        assert [step["outcome"] for step in enrollment.path] == ["on_timeout", "next"]
        assert enrollment.exit_reason == "completed"


# The timeout path changes the profile (update_profile), so its timers lock the profile row.
UPDATING = {
    **DISCOUNTS["nodes"],
    "fav": {**DISCOUNTS["nodes"]["fav"], "on_timeout": "tag"},
    "tag": {"type": "update_profile", "add_tags": ["nudged"], "next": "nudge"},
}


def test_sweep_skips_a_profile_an_evaluation_holds_and_fires_it_next_pass(acme):
    """A step may change the profile, so the sweep must not wait for one an evaluation has locked
    (it holds the enrollment meanwhile: a deadlock). It skips it; the next pass fires it."""
    journey = _live(acme, nodes=UPDATING)
    segment = SegmentClient(Client(), acme.write_key)
    for user in ("held", "free"):
        segment.post(
            "/v1/track", {"userId": user, "event": "screen_view", "properties": {"screen_name": "Spring Discounts"}}
        )
    for batch in EvaluationBatch.objects.order_by("pk"):
        batch_process(batch.pk)
    past = timezone.now() - timedelta(minutes=1)
    Enrollment.objects.filter(due_at__isnull=False).update(due_at=past)
    held = Enrollment.objects.get(journey=journey, profile__identities__value="held").profile_id
    locked, release = threading.Event(), threading.Event()

    def evaluation_holding_the_profile() -> None:
        with transaction.atomic():
            Profile.objects.select_for_update(no_key=True).filter(pk=held).get()
            locked.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=evaluation_holding_the_profile)
    holder.start()
    try:
        assert locked.wait(10)
        assert timers_fire() == 1
        assert list(Enrollment.objects.filter(due_at__isnull=False).values_list("profile_id", flat=True)) == [held]
    finally:
        release.set()
        holder.join()
    assert timers_fire() == 1
    assert not Enrollment.objects.filter(due_at__isnull=False).exists()


def test_a_timer_that_never_reads_the_profile_fires_while_an_evaluation_holds_it(acme):
    """The §8.1 journey's timeout only sends and ends (`engine.reads_profile` is false), so its timer
    neither reads nor locks the profile: it fires at once, and the evaluation holding the profile then
    finds the entry ended."""
    journey = _live(acme)
    segment = SegmentClient(Client(), acme.write_key)
    segment.post(
        "/v1/track", {"userId": "held", "event": "screen_view", "properties": {"screen_name": "Spring Discounts"}}
    )
    for batch in EvaluationBatch.objects.order_by("pk"):
        batch_process(batch.pk)
    Enrollment.objects.filter(due_at__isnull=False).update(due_at=timezone.now() - timedelta(minutes=1))
    enrollment = Enrollment.objects.get(journey=journey)
    locked, release, seen = threading.Event(), threading.Event(), []

    def evaluation_holding_the_profile() -> None:
        with transaction.atomic():
            Profile.objects.select_for_update(no_key=True).filter(pk=enrollment.profile_id).get()
            locked.set()
            release.wait(10)
            seen.append(Enrollment.objects.select_for_update(no_key=True).get(pk=enrollment.pk).exit_reason)
        connection.close()

    holder = threading.Thread(target=evaluation_holding_the_profile)
    holder.start()
    try:
        assert locked.wait(10)
        assert timers_fire() == 1
    finally:
        release.set()
        holder.join()
    assert seen == ["completed"]
    assert Message.objects.filter(enrollment=enrollment, channel="push").count() == 1
