"""A version published before a check was added keeps running: the live path reads stored versions as
they were accepted (`parse_journey(stored=True)`). Here one holds what publishing now refuses — a key
its section does not have, a webhook body that is not Liquid — and still enters and sends."""

from __future__ import annotations

from typing import Any

import pytest

from activities.models import EvaluationBatch
from activities.pipeline import batch_process
from journeys.document import DocumentError, parse_journey
from journeys.models import Journey, JourneyVersion
from journeys.services import journey_create, journey_publish
from messaging.models import Message, Template
from tests.conftest import SegmentClient

pytestmark = pytest.mark.django_db

LATER_REFUSED: dict[str, Any] = {
    "name": "Published last year",
    "entry": {"type": "event", "event": "signup", "wehre": {"tag": "never"}},
    "start": "hi",
    "nodes": {
        "hi": {"type": "send", "channel": "sms", "template": "hello", "next": "hook"},
        "hook": {"type": "webhook", "url": "https://hooks.example.com/x", "body": "{{ profile.user_id ", "next": None},
    },
}


def test_a_version_accepted_then_runs_though_publishing_it_now_is_refused(acme, segment: SegmentClient):
    Template.objects.create(workspace=acme.workspace, name="hello", channel="sms", content={"body": "Hi"})
    with pytest.raises(DocumentError) as refused:
        parse_journey(LATER_REFUSED)
    assert {p.field for p in refused.value.problems} == {"entry.wehre", "nodes.hook.body"}
    journey = journey_create(workspace=acme.workspace, actor=None, document={"name": "x"})
    valid = {**LATER_REFUSED, "entry": {"type": "event", "event": "signup"}}
    valid["nodes"] = {**valid["nodes"], "hook": {**valid["nodes"]["hook"], "body": ""}}
    journey.draft = valid
    journey.save(update_fields=["draft"])
    version = journey_publish(journey=journey, actor=None)
    JourneyVersion.objects.filter(pk=version.pk).update(document=LATER_REFUSED)  # as stored back then
    assert segment.post("/v1/track", {"userId": "ann", "event": "signup"}).status_code == 200
    for batch in EvaluationBatch.objects.order_by("pk"):
        batch_process(batch.pk)
    assert Journey.objects.get(pk=journey.pk).enrollments.count() == 1
    assert sorted(Message.objects.values_list("channel", flat=True)) == ["sms", "webhook"]
