"""Activities Nudge records about known profiles (a behavior's match, a journey's record_activity step),
written in one statement: who it lands on, once per message id, and what reaches the pipeline."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from activities.models import Activity, EvaluationBatch, Profile
from activities.recorded import RecordedActivity, recorded_write
from tests.conftest import SegmentClient
from tests.personas import Tenant

AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def record(tenant: Tenant, *rows: tuple[Profile, str], historical: bool = False, context=None) -> int:
    return recorded_write(
        tenant.workspace.pk,
        [RecordedActivity(profile.pk, "behavior:abandoned_cart", {"cart": 3}, AT, key) for profile, key in rows],
        received_at=NOW,
        historical=historical,
        context=context,
    )


@pytest.fixture
def ann(acme: Tenant, segment: SegmentClient) -> Profile:
    segment.post("/v1/identify", {"userId": "ann"})
    return Profile.objects.get(user_id="ann")


@pytest.mark.django_db
def test_live_activities_are_stored_on_their_profiles_with_one_pipeline_batch(acme, segment, ann):
    segment.post("/v1/identify", {"anonymousId": "anon-9"})
    anonymous = Profile.objects.get(identities__value="anon-9")
    before = set(EvaluationBatch.objects.values_list("pk", flat=True))

    assert record(acme, (ann, "k1"), (anonymous, "k2"), context={"nudge": {"behavior": 1}}) == 2

    stored = Activity.objects.filter(name="behavior:abandoned_cart").order_by("pk")
    assert [
        (a.profile_id, a.message_id, a.type, a.properties, a.context, a.timestamp, a.received_at) for a in stored
    ] == [
        (ann.pk, "k1", "track", {"cart": 3}, {"nudge": {"behavior": 1}}, AT, NOW),
        (anonymous.pk, "k2", "track", {"cart": 3}, {"nudge": {"behavior": 1}}, AT, NOW),
    ]
    (batch,) = EvaluationBatch.objects.exclude(pk__in=before)
    assert (batch.workspace_id, sorted(batch.activity_ids)) == (acme.workspace.pk, [a.pk for a in stored])


@pytest.mark.django_db
def test_a_message_id_is_stored_once_also_within_one_call(acme, ann):
    assert record(acme, (ann, "k1"), (ann, "k1")) == 1
    batches = EvaluationBatch.objects.count()
    assert record(acme, (ann, "k1")) == 1  # about a profile that exists, but nothing new
    assert Activity.objects.filter(message_id="k1").count() == 1
    assert EvaluationBatch.objects.count() == batches  # nothing new: no batch for the pipeline


@pytest.mark.django_db
def test_an_activity_for_a_merged_profile_lands_on_the_profile_it_was_merged_into(acme, segment, ann):
    segment.post("/v1/track", {"anonymousId": "anon-1", "event": "browse"})
    anonymous = Profile.objects.get(identities__value="anon-1")
    segment.post("/v1/identify", {"anonymousId": "anon-1", "userId": "ann"})
    anonymous.refresh_from_db()
    assert anonymous.merged_into_id == ann.pk

    assert record(acme, (anonymous, "k1")) == 1
    assert Activity.objects.get(message_id="k1").profile_id == ann.pk


@pytest.mark.django_db
def test_profiles_of_another_workspace_or_deleted_ones_record_nothing(acme, globex, ann):
    SegmentClient(Client(), globex.write_key).post("/v1/identify", {"userId": "gus"})
    gus = Profile.objects.get(user_id="gus")
    gone = Profile.objects.create(workspace=acme.workspace, user_id="gone")
    gone_pk = gone.pk
    gone.delete()

    assert record(acme, (gus, "k1"), (Profile(pk=gone_pk), "k2")) == 0
    assert not Activity.objects.filter(message_id__in=("k1", "k2")).exists()
    assert not Activity.objects.filter(profile=gus, name="behavior:abandoned_cart").exists()


@pytest.mark.django_db
def test_historical_activities_are_not_handed_to_the_pipeline(acme, ann):
    batches = EvaluationBatch.objects.count()
    assert record(acme, (ann, "k1"), historical=True) == 1
    assert Activity.objects.filter(message_id="k1").exists()
    assert EvaluationBatch.objects.count() == batches


def test_nothing_to_record_is_no_statement():
    assert recorded_write(1, [], received_at=NOW) == 0
