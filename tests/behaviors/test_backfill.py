"""Backfill: a behavior evaluated over the last N days of stored activities. Open matches become live
enrollments with their timers (they fire, and journeys enter, when their window closes); past firings
become history that journeys do not act on; the live path and the backfill never match an activity
twice; batches commit with their cursor, so a failed batch is redone exactly once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine

from activities.models import Activity, Profile
from behaviors import backfill as backfill_module
from behaviors.backfill import backfill_start, backfills_run
from behaviors.examples import EXAMPLES
from behaviors.models import Backfill, Behavior
from behaviors.services import behavior_create
from journeys import runtime
from journeys.models import Enrollment, JourneyStat
from journeys.services import journey_create, journey_publish
from messaging.models import Message, Template
from segments.conditions import as_datetime
from tests.behaviors.test_live import _drain, _fire_until
from tests.conftest import SegmentClient, wait_until

pytestmark = pytest.mark.django_db

NOW = as_datetime("2025-03-01T12:00:00Z")
assert NOW is not None
CART = {**next(e for e in EXAMPLES if e["slug"] == "abandoned_cart"), "name": "Cart left", "slug": "cart_left"}
REMINDER = {
    "name": "Cart reminder",
    "entry": {"type": "event", "event": "behavior:cart_left"},
    "start": "remind",
    "nodes": {"remind": {"type": "send", "channel": "push", "template": "cart-reminder", "next": None}},
}


def ago(days: float) -> datetime:
    assert NOW is not None
    return NOW - timedelta(days=days)


def track(segment: SegmentClient, user: str, name: str, when: datetime, **properties: object) -> None:
    """An activity stored (and evaluated) at its own time, as it happened."""
    with time_machine.travel(when, tick=False):
        stamp = when.isoformat().replace("+00:00", "Z")
        body = {"userId": user, "event": name, "timestamp": stamp, "properties": properties}
        assert segment.post("/v1/track", body).status_code == 200
        _drain()


def fired(slug: str = "cart_left") -> list[tuple[str, datetime]]:
    rows = Activity.objects.filter(name=f"behavior:{slug}").order_by("timestamp", "profile__user_id")
    return list(rows.values_list("profile__user_id", "timestamp"))


@pytest.fixture
def history(acme, client) -> SegmentClient:
    """Thirty-odd days of carts, before the behavior exists."""
    segment = SegmentClient(client, acme.write_key)
    track(segment, "dan", "update_cart", ago(40))  # before the window
    track(segment, "bob", "update_cart", ago(5), sku="B-1")  # abandoned: fired at ago(2)
    track(segment, "ann", "update_cart", ago(2.5))
    track(segment, "ann", "update_cart", ago(2), sku="A-2")  # restarts the match: open until ago(-1)
    track(segment, "cat", "update_cart", ago(1))
    track(segment, "cat", "purchase", ago(0.5))  # bought: nothing
    track(segment, "gus", "page_viewed", ago(1))  # never started a match
    return segment


def test_open_matches_wait_live_and_past_firings_are_history(acme, client, history):
    Template.objects.create(
        workspace=acme.workspace, channel="push", name="cart-reminder", content={"title": "Cart", "body": "…"}
    )
    with time_machine.travel(NOW, tick=False):
        reminder = journey_create(workspace=acme.workspace, actor=acme.owner, document=REMINDER)
        journey_publish(journey=reminder, actor=acme.owner)
        behavior = behavior_create(workspace=acme.workspace, actor=acme.owner, document=CART)
        backfill = backfill_start(behavior=behavior, actor=acme.owner, days=30)
        backfills_run()
        _drain()
    backfill.refresh_from_db()
    assert (backfill.status, backfill.since, backfill.until) == ("done", ago(30), NOW)
    assert (backfill.profiles_total, backfill.profiles_done, backfill.progress) == (5, 5, 1.0)
    assert (backfill.matched, backfill.opened, backfill.fired, backfill.skipped_live) == (3, 1, 1, 0)

    # Bob's abandoned cart is history, at the moment it was abandoned, with the cart's properties.
    assert fired() == [("bob", ago(2))]
    bob = Activity.objects.get(name="behavior:cart_left")
    assert bob.properties == {"sku": "B-1"} and bob.context == {"nudge": {"backfill": backfill.pk}}
    assert not Message.objects.exists()  # journeys do not act on old news

    # Ann's match is open, from her last cart update, with its durable timer.
    [ann] = Enrollment.objects.filter(journey=behavior.journey, exit_at__isnull=True)
    assert (ann.profile.user_id, ann.node, ann.wait_started, ann.due_at) == ("ann", "step1", ago(2), ago(-1))
    assert not ann.timer_held  # its timer is due at ago(-1), unheld
    matches = client.get(f"/api/v1/profiles/{ann.profile_id}/behaviors", **acme.auth("analyst")).json()
    assert matches["open"] == [
        {
            "behavior": {"id": behavior.pk, "slug": "cart_left", "name": "Cart left"},
            "profile": {"id": ann.profile_id, "user_id": "ann"},
            "version": 1,
            "started_at": "2025-02-27T12:00:00Z",
            "waiting_for": {"step": 1, "kind": "not_performed", "activity": "purchase"},
            "since": "2025-02-27T12:00:00Z",
            "until": "2025-03-02T12:00:00Z",
        }
    ]

    # The window closes: Ann fires live, and the reminder journey sends her its message.
    _fire_until(ago(-3))
    assert fired() == [("bob", ago(2)), ("ann", ago(-1))]
    [message] = Message.objects.all()
    assert message.profile.user_id == "ann" and message.payload["event"] == {"sku": "A-2"}
    counts = client.get(f"/api/v1/behaviors/{behavior.pk}/counts", **acme.auth("analyst")).json()
    assert counts == {
        "open_matches": 0,
        "fired": [{"day": "2025-02-27", "count": 1}, {"day": "2025-03-02", "count": 1}],
    }
    entered = JourneyStat.objects.filter(journey=behavior.journey, metric="entered")
    assert sum(entered.values_list("count", flat=True)) == 4  # bob, ann twice (restarted), cat


def test_the_live_path_and_the_backfill_never_match_an_activity_twice(acme, client, history):
    with time_machine.travel(NOW, tick=False):
        behavior = behavior_create(workspace=acme.workspace, actor=acme.owner, document=CART)
        # Eve's cart update, stored just before the behavior started, reached the pipeline just after:
        # the live path matched it, and the backfill leaves her as she is.
        track(history, "eve", "update_cart", ago(1.5))
        # Fay's cart update is stored but still waiting for the pipeline: the pipeline will match it.
        body = {"userId": "fay", "event": "update_cart", "timestamp": ago(1).isoformat()}
        assert history.post("/v1/track", body).status_code == 200
        backfill = backfill_start(behavior=behavior, actor=acme.owner, days=30)
        backfills_run()
        assert not Enrollment.objects.filter(profile__user_id="fay").exists()
        _drain()
    backfill.refresh_from_db()
    assert (backfill.skipped_live, backfill.opened) == (1, 1)  # eve skipped; ann opened (fay is live's)
    open_now = Enrollment.objects.filter(journey=behavior.journey, exit_at__isnull=True)
    assert sorted(open_now.values_list("profile__user_id", "wait_started")) == [
        ("ann", ago(2)),
        ("eve", ago(1.5)),
        ("fay", ago(1)),
    ]
    assert Enrollment.objects.filter(profile__user_id__in=("eve", "fay")).count() == 2
    _fire_until(ago(-10))
    assert fired() == [("bob", ago(2)), ("ann", ago(-1)), ("eve", ago(-1.5)), ("fay", ago(-2))]


def test_a_batch_that_fails_is_redone_once_and_batches_show_progress(acme, history, monkeypatch):
    monkeypatch.setattr(backfill_module, "BATCH", 2)
    real_store = runtime.recorded_write
    failures: list[int] = []

    def store_once_failing(*args, **kwargs):  # the database goes away in the middle of a batch
        if not failures:
            failures.append(1)
            raise RuntimeError("connection lost")
        return real_store(*args, **kwargs)

    monkeypatch.setattr(runtime, "recorded_write", store_once_failing)
    with time_machine.travel(NOW, tick=False):
        behavior = behavior_create(workspace=acme.workspace, actor=acme.owner, document=CART)
        backfill = backfill_start(behavior=behavior, actor=acme.owner, days=30)
        dan, bob = Profile.objects.order_by("pk")[:2]
        assert (dan.user_id, bob.user_id) == ("dan", "bob")
        with pytest.raises(RuntimeError):
            backfills_run()  # the first batch (dan, bob) records bob's firing: it fails, and rolls back
        backfill.refresh_from_db()
        assert (backfill.cursor, backfill.profiles_done, backfill.fired) == (0, 0, 0)
        assert not Enrollment.objects.exists() and not JourneyStat.objects.filter(metric="entered").exists()
        assert backfill_module._batch(backfill.pk) == 2
        backfill.refresh_from_db()
        assert (backfill.status, backfill.cursor, backfill.progress) == ("running", bob.pk, 0.4)
        backfills_run()
    backfill.refresh_from_db()
    assert (backfill.status, backfill.profiles_done, backfill.fired, backfill.opened) == ("done", 5, 1, 1)
    assert fired() == [("bob", ago(2))]
    assert Enrollment.objects.filter(journey=behavior.journey).count() == 1  # ann's open match only


def test_max_once_per_counts_firings_before_the_window(acme, client):
    segment = SegmentClient(client, acme.write_key)
    skips = {
        "name": "Skips",
        "slug": "skips",
        "max_once_per": "P7D",
        "steps": [{"performed": "failed_payment"}],
    }
    behavior = behavior_create(workspace=acme.workspace, actor=acme.owner, document=skips, start=False)
    for days in (33, 29, 20, 16, 1):
        track(segment, "hal", "failed_payment", ago(days))
    # What it recorded 33 days ago (before the window) still holds back the failure four days later.
    Activity.objects.create(
        workspace=acme.workspace,
        profile=Profile.objects.get(user_id="hal"),
        name="behavior:skips",
        type="track",
        timestamp=ago(33),
        received_at=ago(33),
        message_id="earlier",
    )
    with time_machine.travel(NOW, tick=False):
        behavior_resume_and_backfill(acme, behavior, days=30)
    assert fired("skips") == [("hal", ago(33)), ("hal", ago(20)), ("hal", ago(1))]


def behavior_resume_and_backfill(acme, behavior: Behavior, *, days: int) -> Backfill:
    from behaviors.services import behavior_resume

    behavior_resume(behavior=behavior, actor=acme.owner)
    behavior.refresh_from_db()
    backfill = backfill_start(behavior=behavior, actor=acme.owner, days=days)
    backfills_run()
    return backfill


def test_any_and_inactive_steps_see_every_activity_of_the_window(acme, client):
    segment = SegmentClient(client, acme.write_key)
    track(segment, "ivy", "viewed", ago(80))
    track(segment, "ivy", "viewed", ago(78))
    track(segment, "ivy", "opened_app", ago(60))  # the `*` step; then 30 days of nothing
    track(segment, "joe", "viewed", ago(40))
    track(segment, "joe", "viewed", ago(38))
    track(segment, "joe", "opened_app", ago(25))
    track(segment, "joe", "settings_changed", ago(5))  # any activity starts the inactive window again
    behavior = Behavior.objects.get(workspace=acme.workspace, slug="slipping_away")
    with time_machine.travel(NOW, tick=False):
        backfill = behavior_resume_and_backfill(acme, behavior, days=90)
    backfill.refresh_from_db()
    assert fired("slipping_away") == [("ivy", ago(30))]
    [joe] = Enrollment.objects.filter(journey=behavior.journey, exit_at__isnull=True)
    assert (joe.profile.user_id, joe.node, joe.wait_started, joe.due_at) == ("joe", "step3", ago(5), ago(-25))
    assert (backfill.opened, backfill.fired) == (1, 1)


def test_a_paused_behavior_backfills_with_held_timers_and_a_stopped_one_cancels(acme, history):
    from behaviors.services import behavior_pause
    from journeys.services import journey_stop

    with time_machine.travel(NOW, tick=False):
        behavior = behavior_create(workspace=acme.workspace, actor=acme.owner, document=CART)
        behavior_pause(behavior=behavior, actor=acme.owner)
        backfill_start(behavior=behavior, actor=acme.owner, days=30)
        backfills_run()
    assert list(Enrollment.objects.filter(due_at__isnull=False).values_list("profile__user_id", "timer_held")) == [
        ("ann", True)
    ]

    other = behavior_create(workspace=acme.workspace, actor=acme.owner, document={**CART, "slug": "other"})
    stopped = backfill_start(behavior=other, actor=acme.owner, days=30)
    assert other.journey is not None
    journey_stop(journey=other.journey, actor=acme.owner)
    assert backfills_run() == 0
    stopped.refresh_from_db()
    assert stopped.status == "cancelled" and stopped.finished_at is not None
    assert not Enrollment.objects.filter(journey=other.journey).exists()


@pytest.mark.slow
def test_a_real_worker_runs_the_backfill_it_is_handed(acme, client, celery_worker_process):
    segment = SegmentClient(client, acme.write_key)
    for user in ("kim", "lee"):
        assert segment.post("/v1/track", {"userId": user, "event": "update_cart"}).status_code == 200
    _drain()
    behavior = behavior_create(workspace=acme.workspace, actor=acme.owner, document=CART)
    backfill = backfill_start(behavior=behavior, actor=acme.owner, days=7)  # committed: handed to the worker
    wait_until(lambda: Backfill.objects.get(pk=backfill.pk).status == "done", timeout=60)
    backfill.refresh_from_db()
    assert (backfill.profiles_done, backfill.opened) == (2, 2)
    assert Enrollment.objects.filter(due_at__isnull=False).filter(journey=behavior.journey).count() == 2


def test_an_edit_during_the_run_does_not_mix_in(acme, history):
    from behaviors.services import behavior_update

    longer = {**CART, "steps": [{"performed": "update_cart"}, {"not_performed": "checkout", "within": "P5D"}]}
    with time_machine.travel(NOW, tick=False):
        behavior = behavior_create(workspace=acme.workspace, actor=acme.owner, document=CART)
        backfill_start(behavior=behavior, actor=acme.owner, days=30)
        behavior_update(behavior=behavior, actor=acme.owner, document=longer)
        backfills_run()
    [ann] = Enrollment.objects.filter(journey=behavior.journey, exit_at__isnull=True)
    assert (ann.profile.user_id, ann.version.number, ann.due_at) == ("ann", 1, ago(-1))  # as asked for: P3D
    assert fired() == [("bob", ago(2))]  # cat's purchase cancelled hers, as version 1 says
