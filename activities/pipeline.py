"""The evaluation pipeline: stored activities are handed, a batch at a time, to the consumers listed
in settings.NUDGE_ACTIVITY_CONSUMERS (the tracked-activities registry now; the journey and
behavior engines as they arrive).

A batch is an `EvaluationBatch` outbox row written with the activities. A worker locks it, runs every
consumer inside the same transaction and deletes it, so the consumers' writes commit exactly when the
batch is marked done: a worker that dies rolls both back and the periodic retry hands it out again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string

from activities.models import Activity, DedupeKey, EvaluationBatch

logger = logging.getLogger(__name__)

Consumer = Callable[[int, list[Activity]], None]


@cache
def consumers() -> tuple[Consumer, ...]:
    return tuple(import_string(path) for path in settings.NUDGE_ACTIVITY_CONSUMERS)


def batch_enqueue(batch_id: int) -> None:
    """Called after commit. A broker outage must not fail the request whose data is already stored:
    the batch row stays and the periodic retry picks it up."""
    from activities.tasks import process_batch

    try:
        process_batch.apply_async(args=(batch_id,), retry=False)
    except Exception:  # the broker's errors are many (kombu, redis, OS); all mean "later"
        logger.warning("could not enqueue evaluation batch %s; the retry sweep will", batch_id, exc_info=True)


def batch_process(batch_id: int) -> bool:
    """Run every consumer over one batch; False if another worker holds it or it is already done."""
    with transaction.atomic():
        batch = EvaluationBatch.objects.select_for_update(skip_locked=True).filter(pk=batch_id).first()
        if batch is None:
            return False
        activities = list(Activity.objects.filter(pk__in=batch.activity_ids).order_by("timestamp", "pk"))
        for consumer in consumers():
            consumer(batch.workspace_id, activities)
        batch.delete()
    return True


def batches_retry_stale(*, limit: int = 1000) -> int:
    """Hand out again batches that no worker finished (lost task, dead worker, broker outage)."""
    cutoff = timezone.now() - timedelta(seconds=settings.NUDGE_PIPELINE_RETRY_SECONDS)
    with transaction.atomic():
        stale = list(
            EvaluationBatch.objects.select_for_update(skip_locked=True)
            .filter(created_at__lt=cutoff)
            .order_by("created_at")
            .values_list("pk", flat=True)[:limit]
        )
        EvaluationBatch.objects.filter(pk__in=stale).update(attempts=F("attempts") + 1)
    for batch_id in stale:
        batch_enqueue(batch_id)
    return len(stale)


def dedupe_keys_prune(*, batch_size: int = 10_000) -> int:
    """Forget messageIds older than the dedupe window, in bounded deletes."""
    cutoff = timezone.now() - timedelta(days=settings.NUDGE_DEDUPE_WINDOW_DAYS)
    total = 0
    while True:
        ids = list(DedupeKey.objects.filter(received_at__lt=cutoff).values_list("pk", flat=True)[:batch_size])
        if not ids:
            return total
        total += DedupeKey.objects.filter(pk__in=ids).delete()[0]
