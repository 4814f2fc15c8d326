"""Segments in live journeys: an audience and its exclusions checked at entry (through ingestion and the
pipeline), a profile that joins later entering on its next event, scheduled journeys entering exactly
their segment's members once each (also when the run is repeated or dies midway), and history that is
counted whole however long it is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from activities.models import Activity, EvaluationBatch, Profile
from activities.pipeline import batch_process
from journeys import scheduling
from journeys.engine import entry_refusal
from journeys.live import document_for
from journeys.models import Enrollment, ScheduledRun
from journeys.runtime import context_for
from journeys.scheduling import journeys_enter_scheduled
from journeys.services import journey_create, journey_publish
from journeys.subject import ProfileSubject
from messaging.models import Message, Template
from segments import services
from segments.conditions import parse_condition
from tests.conftest import SegmentClient

pytestmark = pytest.mark.django_db
START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


@pytest.fixture
def templates(acme):
    Template.objects.create(workspace=acme.workspace, channel="sms", name="hello", content={"body": "Hi"})
    Template.objects.create(
        workspace=acme.workspace, channel="email", name="digest", content={"subject": "S", "text": "T"}
    )


def _segment(acme, slug: str, rule: dict) -> None:
    services.segment_create(workspace=acme.workspace, actor=acme.owner, data={"name": slug, "slug": slug, "rule": rule})


def _drain() -> None:
    for batch in EvaluationBatch.objects.order_by("pk"):
        batch_process(batch.pk)


def _entered(journey) -> set[str]:
    return set(Enrollment.objects.filter(journey=journey).values_list("profile__user_id", flat=True))


def test_an_audience_and_its_exclusions_are_checked_at_entry_live(acme, templates):
    _segment(acme, "pro", {"trait": "plan", "op": "eq", "value": "pro"})
    _segment(acme, "blocked", {"tag": "blocked"})
    document = {
        "name": "Pro discounts",
        "entry": {"type": "event", "event": "screen_view"},
        "audience": {"segments": ["pro"], "exclude_segments": ["blocked"]},
        "start": "hi",
        "nodes": {"hi": {"type": "send", "channel": "sms", "template": "hello", "next": None}},
    }
    journey = journey_create(workspace=acme.workspace, actor=acme.owner, document=document)
    journey_publish(journey=journey, actor=acme.owner)
    segment = SegmentClient(Client(), acme.write_key)
    for user, plan in (("ann", "pro"), ("bob", "pro"), ("cem", "free")):
        assert segment.post("/v1/identify", {"userId": user, "traits": {"plan": plan}}).status_code == 200
    bob = Profile.objects.get(workspace=acme.workspace, user_id="bob")
    bob.tags = ["blocked"]
    bob.save(update_fields=["tags"])
    batch = [{"type": "track", "userId": user, "event": "screen_view"} for user in ("ann", "bob", "cem")]
    assert segment.post("/v1/batch", {"batch": batch}).status_code == 200
    _drain()
    assert _entered(journey) == {"ann"}
    journey.refresh_from_db()
    live = document_for(journey.live_version_id)
    for user in ("bob", "cem"):  # the reason each was kept out
        profile = Profile.objects.get(workspace=acme.workspace, user_id=user)
        subject = context_for(profile, journey.pk).subject
        assert entry_refusal(live, at=datetime.now(UTC), activity=None, subject=subject, entries=[]) == "audience"

    # Cem upgrades: his next event finds him in the segment (asked now, not at the last refresh).
    assert segment.post("/v1/identify", {"userId": "cem", "traits": {"plan": "pro"}}).status_code == 200
    assert segment.post("/v1/track", {"userId": "cem", "event": "screen_view"}).status_code == 200
    _drain()
    assert _entered(journey) == {"ann", "cem"}
    assert Message.objects.filter(enrollment__journey=journey).count() == 2


def test_journeys_enter_on_segment_entered_recorded_by_the_refresh(acme, templates):
    _segment(acme, "pro", {"trait": "plan", "op": "eq", "value": "pro"})
    pro = acme.workspace.segments.get(slug="pro")
    services.segment_update(segment=pro, actor=acme.owner, data={"record_changes": True})
    document = {
        "name": "Welcome to Pro",
        "entry": {
            "type": "event",
            "event": "segment_entered",
            "where": [{"property": "segment", "op": "eq", "value": "pro"}],
        },
        "start": "hi",
        "nodes": {"hi": {"type": "send", "channel": "sms", "template": "hello", "next": None}},
    }
    journey = journey_create(workspace=acme.workspace, actor=acme.owner, document=document)
    journey_publish(journey=journey, actor=acme.owner)
    segment = SegmentClient(Client(), acme.write_key)
    segment.post("/v1/identify", {"userId": "ann", "traits": {"plan": "pro"}})
    _drain()
    assert services.segment_refresh(segment_id=pro.pk).silent  # the first compute records nothing
    _drain()
    assert _entered(journey) == set()
    segment.post("/v1/identify", {"userId": "bob", "traits": {"plan": "pro"}})
    segment.post("/v1/identify", {"userId": "ann", "traits": {"plan": "free"}})
    _drain()
    refreshed = services.segment_refresh(segment_id=pro.pk)
    assert (refreshed.entered, refreshed.exited, refreshed.silent) == (1, 1, False)
    _drain()
    assert _entered(journey) == {"bob"}
    exited = Activity.objects.get(name="segment_exited")
    assert (exited.profile.user_id, exited.properties["segment"]) == ("ann", "pro")


def _scheduled(**extra) -> dict:
    return {
        "name": "Weekly digest for pros in Türkiye",
        "entry": {"type": "segment", "where": [{"trait": "country", "op": "eq", "value": "TR"}]},
        "schedule": {"start_at": START.isoformat()},
        "audience": {"segments": ["pro"], "exclude_segments": ["blocked"]},
        "reentry": {"mode": "multiple"},
        "start": "s",
        "nodes": {"s": {"type": "send", "channel": "email", "template": "digest", "next": None}},
        **extra,
    }


@pytest.fixture
def audience(acme):
    _segment(acme, "pro", {"trait": "plan", "op": "eq", "value": "pro"})
    _segment(acme, "blocked", {"tag": "blocked"})
    people = []
    for i in range(12):
        traits = {"plan": "pro" if i % 3 else "free", "country": "TR" if i % 4 else "US"}
        people.append(
            Profile(workspace=acme.workspace, user_id=f"p{i}", traits=traits, tags=["blocked"] if i == 5 else [])
        )
    Profile.objects.bulk_create(people)
    # pro (i % 3), in TR (i % 4), not blocked (5): p1 p2 p7 p10 p11
    return {"p1", "p2", "p7", "p10", "p11"}


def test_a_scheduled_journey_enters_exactly_its_audience_once_each(acme, templates, audience, monkeypatch):
    monkeypatch.setattr(scheduling, "BATCH", 2)  # several committed batches
    journey = journey_create(workspace=acme.workspace, actor=acme.owner, document=_scheduled())
    journey_publish(journey=journey, actor=acme.owner)
    assert journeys_enter_scheduled(now=START + timedelta(minutes=1)) == 5
    assert journeys_enter_scheduled(now=START + timedelta(minutes=2)) == 0  # the beat task again
    assert _entered(journey) == audience
    assert Enrollment.objects.filter(journey=journey).count() == 5
    run = ScheduledRun.objects.get(journey=journey)
    assert (run.audience, run.entered, run.finished_at is not None) == (5, 5, True)
    assert not scheduling.ScheduledEntrant.objects.exists()  # the selection is gone with the run


def test_a_scheduled_run_that_dies_midway_resumes_without_entering_anyone_twice(acme, templates, audience, monkeypatch):
    monkeypatch.setattr(scheduling, "BATCH", 2)
    journey = journey_create(workspace=acme.workspace, actor=acme.owner, document=_scheduled())
    journey_publish(journey=journey, actor=acme.owner)
    real_enter, calls = scheduling.enter, []

    def dies_on_the_fourth(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("worker killed")
        return real_enter(*args, **kwargs)

    monkeypatch.setattr(scheduling, "enter", dies_on_the_fourth)
    with pytest.raises(RuntimeError):
        journeys_enter_scheduled(now=START + timedelta(minutes=1))
    assert len(_entered(journey)) == 2  # one batch committed; the dying one rolled back whole
    monkeypatch.setattr(scheduling, "enter", real_enter)
    assert journeys_enter_scheduled(now=START + timedelta(minutes=2)) == 3
    assert journeys_enter_scheduled(now=START + timedelta(minutes=3)) == 0
    assert _entered(journey) == audience
    assert Enrollment.objects.filter(journey=journey).count() == 5
    assert Message.objects.filter(enrollment__journey=journey).count() == 5


def test_a_scheduled_journey_refuses_an_event_filter(acme, templates):
    from journeys.document import DocumentError, parse_journey

    document = _scheduled(entry={"type": "segment", "where": [{"property": "price", "op": "gt", "value": 1}]})
    with pytest.raises(DocumentError) as refused:
        parse_journey(document)
    assert [p.field for p in refused.value.problems] == ["entry.where[0].property"]


def test_a_history_condition_counts_all_of_twenty_thousand_matching_activities(acme):
    ann = Profile.objects.create(workspace=acme.workspace, user_id="ann")
    now = datetime.now(UTC)
    Activity.objects.bulk_create(
        Activity(
            workspace=acme.workspace,
            profile=ann,
            name="viewed",
            type="page",
            properties={"price": 100 + i % 50},
            timestamp=now - timedelta(seconds=i + 1),
            received_at=now,
            message_id=f"m{i}",
        )
        for i in range(20_000)
    )
    subject = ProfileSubject(ann)
    where = parse_condition([{"property": "price", "op": "gte", "value": 100}])
    assert subject.count("viewed", where, None, now) == 20_000
    assert subject.count("*", None, None, now) == 20_000
    _segment(
        acme,
        "heavy",
        {
            "performed": "viewed",
            "where": [{"property": "price", "op": "gte", "value": 100}],
            "count": {"op": "gte", "value": 20_000},
        },
    )
    assert ProfileSubject(ann).in_segment("heavy")
    _segment(
        acme,
        "heavier",
        {
            "performed": "viewed",
            "where": [{"property": "price", "op": "gte", "value": 100}],
            "count": {"op": "gt", "value": 20_000},
        },
    )
    assert not ProfileSubject(ann).in_segment("heavier")
