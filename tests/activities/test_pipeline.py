"""The evaluation pipeline: stored batches reach every consumer exactly once, through a real worker,
and survive a broker outage, a lost task and a consumer that fails halfway."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.db import OperationalError, connection
from django.test import override_settings
from django.utils import timezone

from activities import pipeline, tasks
from activities.models import Activity, DedupeKey, EvaluationBatch, IngestionError, Profile, TrackedActivity
from journeys.services import journey_create, journey_publish
from tests.conftest import SegmentClient, basic_auth, free_port, gunicorn_server, held_by_another_session, wait_until


def _events(n: int, name: str = "purchase") -> dict:
    return {
        "batch": [
            {
                "type": "track",
                "userId": f"u{i}",
                "event": name,
                "properties": {"price": i, "sku": f"s{i}", "gift": i % 2 == 0},
                "timestamp": f"2025-01-0{1 + i % 5}T00:00:00Z",
            }
            for i in range(n)
        ]
    }


POISON_SEEN: list[str] = []


def poisoned_consumer(workspace_id: int, activities: list) -> None:
    """A consumer with a bug that one activity sets off."""
    if any(a.properties.get("poison") for a in activities):
        raise RuntimeError("poisoned")
    POISON_SEEN.extend(a.properties["sku"] for a in activities)


def database_away_consumer(workspace_id: int, activities: list) -> None:
    raise OperationalError("the database is away")


@pytest.mark.django_db
class TestBatchProcessing:
    def test_a_batch_updates_the_tracked_activities_registry_and_is_deleted(self, segment: SegmentClient):
        segment.post("/v1/batch", _events(5))
        segment.post("/v1/track", {"userId": "u", "event": "purchase", "properties": {"price": "12.5", "note": None}})
        for batch in EvaluationBatch.objects.all():
            assert pipeline.batch_process(batch.pk) is True
        tracked = TrackedActivity.objects.get(name="purchase")
        assert tracked.count == 6
        assert tracked.properties == {
            "gift": ["boolean"],
            "note": ["null"],
            "price": ["number", "string"],
            "sku": ["string"],
        }
        assert tracked.first_seen.isoformat() == "2025-01-01T00:00:00+00:00"
        assert EvaluationBatch.objects.count() == 0

    def test_a_batch_widens_the_profiles_first_and_last_seen(self, segment: SegmentClient):
        segment.post(
            "/v1/batch",
            {
                "batch": [
                    {"type": "track", "userId": "u", "event": "a", "timestamp": "2025-01-02T00:00:00Z"},
                    {"type": "track", "userId": "u", "event": "b", "timestamp": "2025-01-01T00:00:00Z"},
                ]
            },
        )
        segment.post("/v1/track", {"userId": "u", "event": "c", "timestamp": "2025-01-01T12:00:00Z"})
        for batch in EvaluationBatch.objects.order_by("pk"):
            pipeline.batch_process(batch.pk)
        profile = Profile.objects.get(user_id="u")
        assert profile.first_seen.isoformat() == "2025-01-01T00:00:00+00:00"
        assert profile.last_seen.isoformat() == "2025-01-02T00:00:00+00:00"

    def test_a_batch_is_processed_once(self, segment: SegmentClient):
        segment.post("/v1/batch", _events(3))
        batch = EvaluationBatch.objects.get()
        assert pipeline.batch_process(batch.pk) is True
        assert pipeline.batch_process(batch.pk) is False
        assert TrackedActivity.objects.get(name="purchase").count == 3

    @override_settings(
        NUDGE_ACTIVITY_CONSUMERS=[
            "activities.tracking.tracked_activities_record",
            "tests.activities.test_pipeline.poisoned_consumer",
        ]
    )
    def test_an_activity_a_consumer_fails_on_is_quarantined_and_holds_back_nothing(self, segment: SegmentClient, acme):
        pipeline.consumers.cache_clear()
        try:
            events = _events(3)
            events["batch"][1]["properties"]["poison"] = True
            segment.post("/v1/batch", events)
            batch = EvaluationBatch.objects.get()
            assert pipeline.batch_process(batch.pk) is True
            assert not EvaluationBatch.objects.exists()  # done: never retried forever
            assert TrackedActivity.objects.get(name="purchase").count == 3  # the other consumer saw all three
            assert sorted(POISON_SEEN) == ["s0", "s2"]  # the failing one still saw the others
            (kept,) = IngestionError.objects.filter(workspace=acme.workspace)
            assert (kept.kind, kept.endpoint, kept.activity.properties["sku"]) == (
                "quarantined",
                "poisoned_consumer",
                "s1",
            )
            assert "RuntimeError: poisoned" in kept.error
        finally:
            POISON_SEEN.clear()
            pipeline.consumers.cache_clear()

    @override_settings(NUDGE_ACTIVITY_CONSUMERS=["tests.activities.test_pipeline.database_away_consumer"])
    def test_a_batch_is_left_for_retry_while_the_database_is_away(self, segment: SegmentClient):
        pipeline.consumers.cache_clear()
        try:
            segment.post("/v1/batch", _events(3))
            batch = EvaluationBatch.objects.get()
            with pytest.raises(OperationalError):
                pipeline.batch_process(batch.pk)
            assert EvaluationBatch.objects.filter(pk=batch.pk).exists()
            assert not IngestionError.objects.exists()
        finally:
            pipeline.consumers.cache_clear()

    def test_a_stored_row_the_engine_cannot_handle_stops_nothing(self, segment: SegmentClient, acme):
        """An activity stored before times were bounded (year 1) beside good ones: the good ones enter the
        journey, the bad one is quarantined, the batch is done."""
        journey = journey_create(
            workspace=acme.workspace,
            actor=acme.owner,
            document={
                "name": "Tag buyers",
                "entry": {"type": "event", "event": "purchase"},
                "reentry": {"mode": "multiple", "lock": "P1D"},
                "start": "tag",
                "nodes": {"tag": {"type": "update_profile", "add_tags": ["buyer"], "next": None}},
            },
        )
        journey_publish(journey=journey, actor=acme.owner)
        segment.post("/v1/batch", _events(2))
        batch = EvaluationBatch.objects.get()
        ancient = Activity.objects.order_by("pk").first()
        Activity.objects.filter(pk=ancient.pk).update(timestamp=datetime(1, 1, 1, tzinfo=UTC))
        assert pipeline.batch_process(batch.pk) is True
        assert not EvaluationBatch.objects.exists()
        assert set(Profile.objects.filter(tags__contains=["buyer"]).values_list("user_id", flat=True)) == {"u1"}
        (kept,) = IngestionError.objects.filter(workspace=acme.workspace, kind="quarantined")
        assert (kept.activity_id, kept.endpoint) == (ancient.pk, "activities_evaluate")

    def test_dedupe_keys_older_than_the_window_are_pruned(self, segment: SegmentClient, settings):
        segment.post("/v1/track", {"userId": "u", "event": "a", "messageId": "old"})
        segment.post("/v1/track", {"userId": "u", "event": "b", "messageId": "new"})
        DedupeKey.objects.filter(message_id="old").update(
            received_at=timezone.now() - timedelta(days=settings.NUDGE_DEDUPE_WINDOW_DAYS + 1)
        )
        assert pipeline.dedupe_keys_prune() == 1
        assert list(DedupeKey.objects.values_list("message_id", flat=True)) == ["new"]
        segment.post("/v1/track", {"userId": "u", "event": "a", "messageId": "old"})  # outside the window
        assert Activity.objects.filter(message_id="old").count() == 2


@pytest.mark.slow
def test_a_real_worker_drains_ingested_batches(live_nudge: str, acme, celery_worker_process):
    for _ in range(3):
        response = httpx.post(
            f"{live_nudge}/v1/batch", json=_events(20), headers={"Authorization": basic_auth(acme.write_key)}
        )
        assert response.status_code == 200
    wait_until(lambda: not EvaluationBatch.objects.exists())
    assert TrackedActivity.objects.get(workspace=acme.workspace, name="purchase").count == 60


def _tracks(segment: SegmentClient, names: list[str]) -> list[int]:
    """One /v1/track call per name (each its own batch); the batches' ids, oldest first."""
    for i, name in enumerate(names):
        response = segment.post("/v1/track", {"userId": f"g{i}", "event": name, "messageId": f"{name}-{i}"})
        assert response.status_code == 200
    return list(EvaluationBatch.objects.order_by("pk").values_list("pk", flat=True))


@pytest.mark.django_db
def test_a_task_takes_the_oldest_pending_batches_along_up_to_its_group(segment: SegmentClient, settings):
    settings.NUDGE_PIPELINE_GROUP = 3
    ids = _tracks(segment, ["a", "b", "c", "d", "e"])
    assert len(ids) == 5
    assert tasks.process_batch(ids[1]) is True  # its own batch and the two oldest others
    assert list(EvaluationBatch.objects.order_by("pk").values_list("pk", flat=True)) == ids[3:]
    assert sorted(TrackedActivity.objects.values_list("name", flat=True)) == ["a", "b", "c"]
    assert pipeline.batch_process(ids[4]) is True  # outside the tasks: the batch given, alone
    assert list(EvaluationBatch.objects.values_list("pk", flat=True)) == [ids[3]]
    assert tasks.process_batches([ids[3]]) == 1
    assert tasks.process_batch(ids[0]) is False  # done already: nothing else is taken
    assert TrackedActivity.objects.count() == 5


@pytest.mark.django_db
def test_a_task_whose_batch_is_done_takes_nothing_else(segment: SegmentClient, settings):
    settings.NUDGE_PIPELINE_GROUP = 10
    ids = _tracks(segment, ["a", "b"])
    assert pipeline.batch_process(ids[0]) is True
    assert tasks.process_batch(ids[0]) is False
    assert list(EvaluationBatch.objects.values_list("pk", flat=True)) == [ids[1]]


@pytest.mark.django_db(transaction=True)
def test_a_task_skips_the_batches_another_worker_holds_and_does_not_wait(segment: SegmentClient, settings):
    settings.NUDGE_PIPELINE_GROUP = 10
    ids = _tracks(segment, ["a", "b", "c"])
    # another worker, in the middle of the second batch
    with held_by_another_session(f"SELECT 1 FROM {EvaluationBatch._meta.db_table} WHERE id = %s FOR UPDATE", [ids[1]]):
        assert tasks.process_batch(ids[0]) is True
        assert list(EvaluationBatch.objects.values_list("pk", flat=True)) == [ids[1]]
        assert sorted(TrackedActivity.objects.values_list("name", flat=True)) == ["a", "c"]
    assert tasks.process_batch(ids[1]) is True
    assert not EvaluationBatch.objects.exists()


@pytest.mark.django_db
def test_grouped_batches_reach_a_journey_in_time_order(segment: SegmentClient, acme, settings):
    """Two batches of one person taken into one transaction: the journey sees the older activity
    first, whichever batch holds it (the entry comes from `open`, the wait it starts ends on `pay`)."""
    settings.NUDGE_PIPELINE_GROUP = 10
    document = {
        "name": "order",
        "entry": {"type": "event", "event": "open"},
        "start": "wait",
        "nodes": {
            "wait": {"type": "wait_event", "event": "pay", "timeout": "P1D", "on_performed": None, "on_timeout": None}
        },
    }
    journey = journey_create(workspace=acme.workspace, actor=None, document=document)
    journey_publish(journey=journey, actor=None)
    now = timezone.now()
    later = {"userId": "o", "event": "pay", "timestamp": now.isoformat(), "messageId": "pay-1"}
    earlier = {
        "userId": "o",
        "event": "open",
        "timestamp": (now - timedelta(minutes=5)).isoformat(),
        "messageId": "o-1",
    }
    assert segment.post("/v1/track", later).status_code == 200
    assert segment.post("/v1/track", earlier).status_code == 200
    ids = list(EvaluationBatch.objects.order_by("pk").values_list("pk", flat=True))
    assert len(ids) == 2
    assert tasks.process_batch(ids[0]) is True
    assert not EvaluationBatch.objects.exists()
    enrollment = journey.enrollments.get()
    assert (enrollment.exit_reason, enrollment.node) == ("completed", None)


@pytest.mark.slow
def test_a_broker_outage_at_ingest_loses_no_evaluation(acme, celery_worker_process, transactional_db):
    """The web process cannot reach the broker: events are still acknowledged and stored, and the
    retry sweep hands their batches to the worker once the broker is reachable."""
    with gunicorn_server(CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0") as base:
        response = httpx.post(
            f"{base}/v1/batch", json=_events(10), headers={"Authorization": basic_auth(acme.write_key)}, timeout=30
        )
        assert response.status_code == 200
        health = httpx.get(f"{base}/health")
        assert health.status_code == 503 and health.json()["broker"].startswith("error")
    assert Activity.objects.count() == 10
    assert EvaluationBatch.objects.count() == 1
    EvaluationBatch.objects.update(created_at=timezone.now() - timedelta(minutes=5))
    assert pipeline.batches_retry_stale() == 1
    wait_until(lambda: not EvaluationBatch.objects.exists())
    assert TrackedActivity.objects.get(name="purchase").count == 10


@pytest.mark.django_db
def test_the_migration_quarantines_activities_stored_before_times_were_bounded(segment: SegmentClient, acme):
    import importlib

    from django.apps import apps

    segment.post("/v1/batch", _events(2))
    old, kept = Activity.objects.order_by("pk")
    with connection.cursor() as cursor:  # what an older release let in: year 1 at +14:00 is year 0 in UTC
        cursor.execute(
            "UPDATE activities_activity SET timestamp = '0001-01-01 00:00:00+14'::timestamptz WHERE id = %s", [old.pk]
        )
    migration = importlib.import_module("activities.migrations.0004_quarantine_out_of_range_activities")
    with connection.schema_editor() as editor:
        migration.quarantine(apps, editor)
    assert list(Activity.objects.values_list("pk", flat=True)) == [kept.pk]
    (moved,) = IngestionError.objects.filter(workspace=acme.workspace)
    assert (moved.kind, moved.message_id, moved.field) == ("quarantined", old.message_id, "timestamp")
    assert "out of range" in moved.error and '"sku": "s0"' in moved.excerpt
