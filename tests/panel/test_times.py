"""Every panel page shows times in the workspace's zone, with the zone: list columns (journeys,
templates, the message log, segments, people) and what templates render with `date` (a journey's
versions). A workspace in Istanbul (UTC+3) reads 12:00 UTC as 15:00 +03."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from activities.models import Profile
from journeys.models import Journey
from journeys.services import journey_create, journey_publish
from messaging.models import Message, Template
from segments.models import Segment
from tests.personas import Tenant
from workspaces.models import Role

pytestmark = pytest.mark.django_db

NOON = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def istanbul(acme: Tenant) -> Tenant:
    acme.workspace.timezone = "Europe/Istanbul"
    acme.workspace.save(update_fields=["timezone"])
    return acme


def page(tenant: Tenant, name: str, *args: int) -> str:
    client = Client()
    client.force_login(tenant.members[Role.ANALYST])
    answer = client.get(reverse(f"panel:{name}", args=args))
    assert answer.status_code == 200
    return answer.content.decode()


def test_list_columns_are_in_the_workspaces_zone_with_the_zone_shown(istanbul):
    journey = journey_create(workspace=istanbul.workspace, actor=None, document={"name": "Welcome"})
    Journey.objects.filter(pk=journey.pk).update(updated_at=NOON)
    template = Template.objects.create(workspace=istanbul.workspace, name="hi", channel="sms", content={"body": "Hi"})
    Template.objects.filter(pk=template.pk).update(updated_at=NOON)
    ayse = Profile.objects.create(workspace=istanbul.workspace, user_id="ayse", last_seen=NOON)
    message = Message.objects.create(
        workspace=istanbul.workspace, profile=ayse, channel="sms", template="hi", idempotency_key="k"
    )
    Message.objects.filter(pk=message.pk).update(created_at=NOON)
    Segment.objects.create(workspace=istanbul.workspace, name="All", slug="all", refreshed_at=NOON)
    for name in (
        "journeys_journey_changelist",
        "messaging_template_changelist",
        "activities_profile_changelist",
        "segments_segment_changelist",
    ):
        assert "2026-11-02 15:00 +03" in page(istanbul, name), name
    assert "2026-11-02 15:00:00 +03" in page(istanbul, "messaging_message_changelist")


def test_a_journeys_versions_are_dated_in_the_workspaces_zone(istanbul):
    Template.objects.create(workspace=istanbul.workspace, name="hi", channel="sms", content={"body": "Hi"})
    document = {
        "name": "Welcome",
        "entry": {"type": "event", "event": "signup"},
        "start": "send",
        "nodes": {"send": {"type": "send", "channel": "sms", "template": "hi", "next": None}},
    }
    journey = journey_create(workspace=istanbul.workspace, actor=None, document=document)
    version = journey_publish(journey=journey, actor=None)
    type(version).objects.filter(pk=version.pk).update(published_at=NOON)
    assert "v1 · 2026-11-02 15:00 (live)" in page(istanbul, "journeys_journey_live", journey.pk)
