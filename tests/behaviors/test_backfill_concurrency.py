"""A backfill racing the live pipeline and a second worker: whichever reaches a profile first, every
profile ends with exactly one open match, and no profile is handled twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from activities.models import EvaluationBatch
from activities.pipeline import batch_process
from behaviors import backfill as backfill_module
from behaviors.backfill import backfill_start, backfills_run
from behaviors.examples import EXAMPLES
from behaviors.services import behavior_create
from journeys.models import Enrollment
from tests.conftest import SegmentClient, in_parallel

pytestmark = pytest.mark.django_db(transaction=True)

CART = {**next(e for e in EXAMPLES if e["slug"] == "abandoned_cart"), "name": "Cart left", "slug": "cart_left"}
USERS = [f"u{i}" for i in range(40)]


def test_a_backfill_racing_the_pipeline_and_another_worker(acme, monkeypatch):
    monkeypatch.setattr(backfill_module, "BATCH", 5)
    segment = SegmentClient(Client(), acme.write_key)
    earlier = (timezone.now() - timedelta(hours=5)).isoformat()
    for user in USERS:  # history: a cart five hours ago, evaluated before the behavior existed
        assert (
            segment.post("/v1/track", {"userId": user, "event": "update_cart", "timestamp": earlier}).status_code == 200
        )
    for batch in EvaluationBatch.objects.order_by("pk").values_list("pk", flat=True):
        batch_process(batch)
    behavior = behavior_create(workspace=acme.workspace, actor=acme.owner, document=CART)
    for user in USERS:  # news: a newer cart update each, waiting for the pipeline
        assert segment.post("/v1/track", {"userId": user, "event": "update_cart"}).status_code == 200
    pending = list(EvaluationBatch.objects.order_by("pk").values_list("pk", flat=True))
    backfill = backfill_start(behavior=behavior, actor=acme.owner, days=7)

    def work(index: int) -> int:
        if index < 2:
            return backfills_run()  # two backfill workers
        for batch in pending[index - 2 :: 2]:  # two pipeline workers
            batch_process(batch)
        return 0

    handled = in_parallel(4, work)
    backfills_run()  # whatever a worker that lost the row lock left to the next beat tick
    backfill.refresh_from_db()
    assert backfill.status == "done" and backfill.profiles_done == len(USERS)
    assert sum(handled) <= len(USERS)
    journey = behavior.journey
    open_matches = Enrollment.objects.filter(journey=journey, exit_at__isnull=True)
    assert sorted(str(user) for user in open_matches.values_list("profile__user_id", flat=True)) == sorted(USERS)
    for user in USERS:  # the newest cart update is the one the match counts from
        [match] = open_matches.filter(profile__user_id=user)
        latest = Enrollment.objects.filter(journey=journey, profile__user_id=user).order_by("-entered_at").first()
        assert match == latest and match.entered_at > timezone.now() - timedelta(hours=1)
    assert not EvaluationBatch.objects.exists()
