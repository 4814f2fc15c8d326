"""A compiled behavior on the live path: events through ingestion, time travelled, the real sweep. §13
timeline 2 (Dee fires once at day 5 09:00, Eve never), and a journey entered on
`behavior:abandoned_cart` sends its message after the behavior fires (end to end, outbox included)."""

from __future__ import annotations

from datetime import datetime

import pytest
import time_machine

from activities.models import Activity, EvaluationBatch
from activities.pipeline import batch_process
from behaviors.compiler import compile_behavior
from behaviors.examples import EXAMPLES
from behaviors.models import Behavior
from behaviors.services import behavior_resume
from journeys.models import Enrollment
from journeys.runtime import timers_fire
from journeys.services import journey_create, journey_publish
from messaging.models import Message, Template
from segments.conditions import as_datetime
from tests.conftest import SegmentClient

pytestmark = pytest.mark.django_db

CART = next(e for e in EXAMPLES if e["slug"] == "abandoned_cart")
REMINDER = {
    "name": "Cart reminder",
    "entry": {"type": "event", "event": "behavior:abandoned_cart"},
    "start": "remind",
    "nodes": {"remind": {"type": "send", "channel": "push", "template": "cart-reminder", "next": None}},
}
EVENTS = [
    ("dee", "update_cart", "2025-01-01T10:00:00Z"),
    ("eve", "update_cart", "2025-01-01T10:00:00Z"),
    ("eve", "purchase", "2025-01-02T10:00:00Z"),
    ("dee", "update_cart", "2025-01-03T09:00:00Z"),
]


def _at(text: str) -> datetime:
    moment = as_datetime(text)
    assert moment is not None
    return moment


def _drain() -> None:
    while batches := list(EvaluationBatch.objects.order_by("pk").values_list("pk", flat=True)):
        for batch in batches:
            batch_process(batch)


def _fire_until(moment: datetime) -> None:
    while (
        due := Enrollment.objects.filter(due_at__isnull=False)
        .order_by("due_at")
        .values_list("due_at", flat=True)
        .first()
    ) and due <= moment:
        with time_machine.travel(due, tick=False):
            timers_fire()
            _drain()  # what the sweep recorded goes through the pipeline, as a worker would


def test_timeline_2_live_and_a_journey_entered_on_the_behavior(acme, client):
    Template.objects.create(
        workspace=acme.workspace, channel="push", name="cart-reminder", content={"title": "Your cart", "body": "…"}
    )
    with time_machine.travel(_at("2024-12-31T00:00:00Z"), tick=False):
        behavior = Behavior.objects.get(workspace=acme.workspace, slug="abandoned_cart")  # the ready-made draft
        behavior_resume(behavior=behavior, actor=acme.owner)
        reminder_journey = journey_create(workspace=acme.workspace, actor=acme.owner, document=REMINDER)
        journey_publish(journey=reminder_journey, actor=acme.owner)
    segment = SegmentClient(client, acme.write_key)
    for user, name, when in EVENTS:
        _fire_until(_at(when))
        with time_machine.travel(_at(when), tick=False):
            assert segment.post("/v1/track", {"userId": user, "event": name, "timestamp": when}).status_code == 200
            _drain()
    _fire_until(_at("2025-01-20T00:00:00Z"))

    fired = list(Activity.objects.filter(name="behavior:abandoned_cart").values_list("profile__user_id", "timestamp"))
    assert fired == [("dee", _at("2025-01-06T09:00:00Z"))]  # from the last cart update, once; Eve bought
    [reminder] = Message.objects.filter(template="cart-reminder")
    assert reminder.profile.user_id == "dee"
    assert reminder.enrollment is not None and reminder.enrollment.entered_at == _at("2025-01-06T09:00:00Z")
    counts = client.get(f"/api/v1/behaviors/{behavior.pk}/counts", **acme.auth("analyst")).json()
    assert counts == {"open_matches": 0, "fired": [{"day": "2025-01-06", "count": 1}]}


def test_timeline_4_a_skipped_payment_fires_at_once_and_its_journey_sends_an_email(acme, client):
    Template.objects.create(
        workspace=acme.workspace,
        channel="email",
        name="payment-failed",
        content={"subject": "Payment", "text": "Retry"},
    )
    skips = next(e for e in EXAMPLES if e["slug"] == "skips_payment")
    follow_up = {
        "name": "Payment follow-up",
        "entry": {"type": "event", "event": "behavior:skips_payment"},
        "start": "mail",
        "nodes": {"mail": {"type": "send", "channel": "email", "template": "payment-failed", "next": None}},
    }
    for document in (compile_behavior(skips), follow_up):
        journey_publish(
            journey=journey_create(workspace=acme.workspace, actor=acme.owner, document=document), actor=acme.owner
        )
    segment = SegmentClient(client, acme.write_key)
    assert segment.post("/v1/identify", {"userId": "hal", "traits": {"email": "hal@example.com"}}).status_code == 200
    assert segment.post("/v1/track", {"userId": "hal", "event": "failed_payment"}).status_code == 200
    _drain()  # the failed payment's batch, then the batch holding what the behavior recorded
    [fired] = Activity.objects.filter(name="behavior:skips_payment")
    failed = Activity.objects.get(name="failed_payment")
    assert fired.timestamp == failed.timestamp
    [mail] = Message.objects.filter(template="payment-failed")
    assert (mail.profile.user_id, mail.channel, mail.status) == ("hal", "email", "queued")


def _publish(acme, slug: str) -> None:
    document = compile_behavior(next(e for e in EXAMPLES if e["slug"] == slug))
    with time_machine.travel(_at("2024-12-31T00:00:00Z"), tick=False):
        journey_publish(
            journey=journey_create(workspace=acme.workspace, actor=acme.owner, document=document), actor=acme.owner
        )


def _play(client, acme, calls: list[dict], until: str) -> None:
    segment = SegmentClient(client, acme.write_key)
    for call in calls:
        when = call["timestamp"]
        _fire_until(_at(when))
        with time_machine.travel(_at(when), tick=False):
            path = "/v1/identify" if call.get("type") == "identify" else "/v1/track"
            assert segment.post(path, call).status_code == 200
            _drain()
    _fire_until(_at(until))


def test_timeline_3_live(acme, client):
    _publish(acme, "slipping_away")
    calls = [
        {"userId": "fay", "event": "viewed", "timestamp": "2025-01-01T00:00:00Z"},
        {"userId": "fay", "event": "viewed", "timestamp": "2025-01-06T00:00:00Z"},
        {"userId": "fay", "event": "purchase", "timestamp": "2025-01-21T00:00:00Z"},
        {"userId": "gus", "event": "viewed", "timestamp": "2025-01-01T00:00:00Z"},
        {"userId": "gus", "event": "viewed", "timestamp": "2025-01-10T00:00:00Z"},
    ]
    _play(client, acme, sorted(calls, key=lambda c: c["timestamp"]), "2025-03-31T00:00:00Z")
    fired = list(Activity.objects.filter(name="behavior:slipping_away").values_list("profile__user_id", "timestamp"))
    assert fired == [("fay", _at("2025-02-20T00:00:00Z"))]  # day 50; Gus's second view came too late


def test_a_profile_merged_from_an_anonymous_one_mid_match(acme, client):
    """The cart is updated anonymously; the person then signs in. The open match follows the merge and
    fires on the identified profile, once."""
    _publish(acme, "abandoned_cart")
    calls = [
        {"anonymousId": "anon-1", "event": "update_cart", "timestamp": "2025-01-01T10:00:00Z"},
        {"type": "identify", "userId": "ivy", "anonymousId": "anon-1", "timestamp": "2025-01-02T10:00:00Z"},
    ]
    _play(client, acme, calls, "2025-01-10T00:00:00Z")
    fired = list(Activity.objects.filter(name="behavior:abandoned_cart").values_list("profile__user_id", "timestamp"))
    assert fired == [("ivy", _at("2025-01-04T10:00:00Z"))]


def test_a_purchase_after_the_merge_cancels_the_anonymous_match(acme, client):
    _publish(acme, "abandoned_cart")
    calls = [
        {"anonymousId": "anon-2", "event": "update_cart", "timestamp": "2025-01-01T10:00:00Z"},
        {"type": "identify", "userId": "jay", "anonymousId": "anon-2", "timestamp": "2025-01-02T10:00:00Z"},
        {"userId": "jay", "event": "purchase", "timestamp": "2025-01-03T10:00:00Z"},
    ]
    _play(client, acme, calls, "2025-01-10T00:00:00Z")
    assert not Activity.objects.filter(name="behavior:abandoned_cart").exists()
