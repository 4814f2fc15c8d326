"""Journey lifecycle on the live path: publish (validated), versions, pause/resume, stop, conversion."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from activities.models import EvaluationBatch
from activities.pipeline import batch_process
from journeys.document import DocumentError
from journeys.models import Enrollment, JourneyStatus
from journeys.runtime import timers_fire
from journeys.services import (
    TransitionError,
    journey_create,
    journey_pause,
    journey_publish,
    journey_resume,
    journey_stop,
    journey_update_draft,
)
from messaging.models import Message, MessageStatus
from tests.conftest import SegmentClient
from tests.journeys.documents import discounts
from workspaces.models import AuditLogEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def send(acme):
    segment = SegmentClient(Client(), acme.write_key)

    def post(user: str, event: str, **properties):
        assert segment.post("/v1/track", {"userId": user, "event": event, "properties": properties}).status_code == 200
        for batch in EvaluationBatch.objects.order_by("pk"):
            batch_process(batch.pk)

    return post


def live(acme, **changes):
    journey = journey_create(
        workspace=acme.workspace, actor=acme.owner, document=discounts(schedule={}, reentry={}, **changes)
    )
    journey_publish(journey=journey, actor=acme.owner)
    return journey


def time_out_everyone() -> int:
    Enrollment.objects.filter(due_at__isnull=False).update(due_at=timezone.now() - timedelta(seconds=1))
    Enrollment.objects.filter(due_at__isnull=False).update(due_at=timezone.now() - timedelta(seconds=1))
    return timers_fire()


def test_publishing_validates_the_whole_draft(acme):
    journey = journey_create(workspace=acme.workspace, actor=acme.owner, document=discounts(start="nowhere"))
    with pytest.raises(DocumentError) as caught:
        journey_publish(journey=journey, actor=acme.owner)
    assert [p.field for p in caught.value.problems] == ["start"]
    assert journey.versions.count() == 0


def test_publishing_refuses_segments_that_do_not_exist(acme, globex):
    theirs = globex.workspace.segments.get(slug="known-users")
    audience = {"segments": ["known-users", "vip"], "exclude_segments": [str(theirs.pk)]}
    journey = journey_create(workspace=acme.workspace, actor=acme.owner, document=discounts(audience=audience))
    with pytest.raises(DocumentError) as caught:
        journey_publish(journey=journey, actor=acme.owner)
    assert [(p.field, p.message) for p in caught.value.problems] == [
        ("audience.segments[1]", "no segment 'vip' in this workspace"),
        ("audience.exclude_segments[0]", f"no segment '{theirs.pk}' in this workspace"),  # another workspace's
    ]


def test_a_new_version_applies_to_new_entries_while_profiles_inside_finish_on_theirs(acme, send):
    journey = live(acme)
    send("early", "screen_view", screen_name="Spring Discounts")
    v2 = discounts(schedule={}, reentry={})
    v2["nodes"]["nudge"]["template"] = "liked-this-item-v2"
    journey_update_draft(journey=journey, actor=acme.owner, document=v2)
    journey_publish(journey=journey, actor=acme.owner)
    send("late", "screen_view", screen_name="Spring Discounts")
    assert time_out_everyone() == 2
    templates = dict(Message.objects.values_list("profile__user_id", "template"))
    assert templates == {"early": "liked-this-item", "late": "liked-this-item-v2"}
    assert {e.version.number for e in Enrollment.objects.select_related("version")} == {1, 2}
    assert AuditLogEntry.objects.filter(action="published", object_id=str(journey.pk)).count() == 2


def test_pause_holds_timers_and_sends_and_resume_releases_them(acme, send):
    journey = live(acme)
    send("ann", "screen_view", screen_name="Spring Discounts")
    send("bob", "screen_view", screen_name="Spring Discounts")
    journey_pause(journey=journey, actor=acme.owner)
    send("ann", "add_to_favorites")  # the path moves; the SMS waits
    assert Message.objects.get(profile__user_id="ann").status == MessageStatus.HELD
    assert time_out_everyone() == 0  # bob's timeout is due but held
    assert not Message.objects.filter(profile__user_id="bob").exists()
    send("cem", "screen_view", screen_name="Spring Discounts")  # no entries while paused
    assert not Enrollment.objects.filter(profile__user_id="cem").exists()
    journey_resume(journey=journey, actor=acme.owner)
    assert Message.objects.get(profile__user_id="ann").status == MessageStatus.QUEUED
    assert timers_fire() == 1  # bob's timeout, due during the pause, fires on resume
    assert Message.objects.get(profile__user_id="bob").template == "liked-this-item"


def test_stop_exits_everyone(acme, send):
    journey = live(acme)
    send("ann", "screen_view", screen_name="Spring Discounts")
    assert journey_stop(journey=journey, actor=acme.owner) == 1
    enrollment = Enrollment.objects.get()
    assert (enrollment.exit_reason, enrollment.node) == ("journey_stopped", None)
    assert not Enrollment.objects.filter(due_at__isnull=False).exists()
    send("bob", "screen_view", screen_name="Spring Discounts")
    assert Enrollment.objects.count() == 1


@pytest.mark.parametrize(
    ("action", "status"),
    [
        (journey_resume, JourneyStatus.LIVE),
        (journey_pause, JourneyStatus.DRAFT),
        (journey_publish, JourneyStatus.STOPPED),
    ],
)
def test_illegal_transitions_are_refused(acme, action, status):
    journey = journey_create(workspace=acme.workspace, actor=acme.owner, document=discounts())
    journey.status = status
    journey.save(update_fields=["status"])
    with pytest.raises(TransitionError):
        action(journey=journey, actor=acme.owner)


def test_conversion_exits_a_waiting_profile_and_clears_its_timer(acme, send):
    live(acme)
    send("ann", "screen_view", screen_name="Spring Discounts")
    send("ann", "purchase", price=150)
    enrollment = Enrollment.objects.get()
    assert enrollment.exit_reason == "converted" and enrollment.converted_at is not None
    assert not Enrollment.objects.filter(due_at__isnull=False).exists() and not Message.objects.exists()


def test_deleting_a_profile_exits_its_journeys_as_profile_deleted(acme, send, client):
    journey = live(acme)
    send("ann", "screen_view", screen_name="Spring Discounts")
    ann = Enrollment.objects.get().profile
    assert client.delete(f"/api/v1/profiles/{ann.pk}/", **acme.auth("owner")).status_code == 204
    assert not Enrollment.objects.exists() and not Enrollment.objects.filter(due_at__isnull=False).exists()
    analytics = client.get(f"/api/v1/journeys/{journey.pk}/analytics", **acme.auth()).json()
    assert analytics["totals"]["exits"] == {"profile_deleted": 1}


def test_journey_state_follows_a_merge(acme, send):
    live(acme)
    segment = SegmentClient(Client(), acme.write_key)
    segment.post(
        "/v1/track", {"anonymousId": "anon", "event": "screen_view", "properties": {"screen_name": "Spring Discounts"}}
    )
    segment.post("/v1/identify", {"anonymousId": "anon", "userId": "ann"})
    for batch in EvaluationBatch.objects.order_by("pk"):
        batch_process(batch.pk)
    enrollment = Enrollment.objects.get()
    assert enrollment.profile.user_id == "ann" and enrollment.exit_at is None
    send("ann", "add_to_favorites")
    assert Message.objects.get().template == "post-purchase-survey"


def test_a_merge_of_two_profiles_inside_one_journey_keeps_one_entry(acme, send):
    live(acme)
    send("ann", "screen_view", screen_name="Spring Discounts")
    segment = SegmentClient(Client(), acme.write_key)
    segment.post(
        "/v1/track", {"anonymousId": "anon", "event": "screen_view", "properties": {"screen_name": "Spring Discounts"}}
    )
    for batch in EvaluationBatch.objects.order_by("pk"):
        batch_process(batch.pk)
    assert Enrollment.objects.filter(exit_at__isnull=True).count() == 2
    segment.post("/v1/identify", {"anonymousId": "anon", "userId": "ann"})
    active = Enrollment.objects.filter(exit_at__isnull=True)
    assert active.count() == 1 and active.get().profile.user_id == "ann"
    assert Enrollment.objects.get(exit_at__isnull=False).exit_reason == "profile_deleted"


def test_publishing_refuses_webhook_steps_to_private_addresses(acme, settings):
    settings.NUDGE_OUTBOUND_ALLOW = []
    nodes = {
        "call": {"type": "webhook", "url": "http://169.254.169.254/latest/meta-data", "next": "local"},
        "local": {"type": "webhook", "url": "http://127.0.0.1:8080/hook", "next": "ok"},
        "ok": {"type": "webhook", "url": "https://hooks.example.com/{{ profile.user_id }}", "next": None},
    }
    document = {**discounts(), "start": "call", "nodes": nodes}
    journey = journey_create(workspace=acme.workspace, actor=acme.owner, document=document)
    with pytest.raises(DocumentError) as caught:
        journey_publish(journey=journey, actor=acme.owner)
    assert [p.field for p in caught.value.problems] == ["nodes.call.url", "nodes.local.url"]
    acme.workspace.allow_private_webhooks = True  # an operator's switch: private networks, never metadata
    acme.workspace.save(update_fields=["allow_private_webhooks"])
    journey.refresh_from_db()
    with pytest.raises(DocumentError) as caught:
        journey_publish(journey=journey, actor=acme.owner)
    assert [p.field for p in caught.value.problems] == ["nodes.call.url"]


def test_a_draft_saved_from_an_old_revision_is_a_conflict_not_an_overwrite(acme):
    from journeys.services import DraftConflict

    journey = journey_create(workspace=acme.workspace, actor=acme.owner, document=discounts())
    read = journey.draft_revision
    marketer = acme.members["marketer"]
    journey_update_draft(journey=journey, actor=marketer, document=discounts(name="Theirs"), revision=read)
    with pytest.raises(DraftConflict, match="marketer@acme.test saved this journey since you opened it"):
        journey_update_draft(journey=journey, actor=acme.owner, document=discounts(name="Mine"), revision=read)
    journey.refresh_from_db()
    assert (journey.name, journey.draft_revision, journey.updated_by) == ("Theirs", read + 1, marketer)


def test_a_journey_is_duplicated_as_a_draft_and_archived_once_stopped(acme):
    from journeys.models import Journey
    from journeys.services import TransitionError, journey_archive, journey_duplicate, journey_stop

    journey = journey_create(workspace=acme.workspace, actor=acme.owner, document=discounts(name="Spring"))
    copy = journey_duplicate(journey=journey, actor=acme.owner)
    assert (copy.name, copy.status, copy.draft["nodes"]) == ("Spring (copy)", "draft", journey.draft["nodes"])
    with pytest.raises(TransitionError):
        journey_archive(journey=journey, actor=acme.owner)
    journey_publish(journey=journey, actor=acme.owner)
    journey_stop(journey=journey, actor=acme.owner)
    assert journey_archive(journey=journey, actor=acme.owner).status == "archived"
    assert Journey.objects.get(pk=journey.pk).status == JourneyStatus.ARCHIVED
