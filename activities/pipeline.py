"""The evaluation pipeline: stored activities are handed, a batch at a time, to the consumers listed
in settings.NUDGE_ACTIVITY_CONSUMERS (the tracked-activities registry now; the journey and
behavior engines as they arrive).

A batch is an `EvaluationBatch` outbox row written with the activities. A worker locks it, runs every
consumer inside the same transaction and deletes it, so the consumers' writes commit exactly when the
batch is marked done: a worker that dies rolls both back and the periodic retry hands it out again.
A task may carry several batches (web processes hand single calls' batches out a few at a time): they
are locked, evaluated (each workspace's activities together) and deleted in one transaction.

No stored row can stop a batch: when a consumer fails on the batch (for any reason but the database
being away), the batch is run again one activity and one consumer at a time, and what fails alone is
quarantined — kept in the workspace's ingestion errors with the consumer and the error — while every
other activity is evaluated as usual.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string

from activities.models import Activity, DedupeKey, EvaluationBatch, IngestionError

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


class _Publisher:
    """Hands a web process's batches to the workers a few at a time: one task (`process_batches`) for
    every batch committed while the last one was being sent, and at most LINGER_SECONDS after the
    commit. A Celery publish costs about half a millisecond of the process's CPU, more than the rest of
    a single `/v1/track`; per batch it is a fraction of that under load. Ids still waiting when a process
    dies are not lost: their rows stay, and the retry sweep hands them out."""

    LINGER_SECONDS = 0.05
    MAX_IDS = 500  # per task

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[int] = []
        self._wake = threading.Event()
        self._pid = 0

    def add(self, batch_id: int) -> None:
        with self._lock:
            self._pending.append(batch_id)
            first = len(self._pending) == 1  # the others wait for the turn the first one wakes
            if self._pid != os.getpid():  # a forked child starts its own thread
                self._pid = os.getpid()
                self._pending = [batch_id]
                threading.Thread(target=self._run, name="nudge-batch-publisher", daemon=True).start()
        if first:
            self._wake.set()

    def flush(self) -> None:
        with self._lock:
            ids, self._pending = self._pending, []
        for start in range(0, len(ids), self.MAX_IDS):
            _batches_publish(ids[start : start + self.MAX_IDS])

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            time.sleep(self.LINGER_SECONDS)
            self.flush()  # an id added after this is the first of the next turn, and wakes it


def _batches_publish(batch_ids: list[int]) -> None:
    from activities.tasks import process_batches

    try:
        process_batches.apply_async(args=(batch_ids,), retry=False)
    except Exception:  # as in batch_enqueue: the sweep will
        logger.warning("could not enqueue %s evaluation batches; the retry sweep will", len(batch_ids), exc_info=True)


_publisher = _Publisher()
atexit.register(_publisher.flush)


def batch_enqueue_soon(batch_id: int) -> None:
    """Called after commit, from web processes' hot path: `batch_enqueue`, coalesced with the batches
    other requests of this process commit meanwhile (see _Publisher). Eager Celery runs it at once."""
    from config.celery import app

    if app.conf.task_always_eager:
        batch_enqueue(batch_id)
    else:
        _publisher.add(batch_id)


def batch_process(batch_id: int) -> bool:
    """Run every consumer over one batch; False if another worker holds it or it is already done."""
    return batches_process([batch_id]) > 0


def batches_process(batch_ids: list[int], *, group: int = 0) -> int:
    """Run every consumer over the given batches that no other worker holds and that are not done yet,
    in one transaction, each workspace's activities together (in time order); how many were run.

    `group` (the workers' tasks: NUDGE_PIPELINE_GROUP): when fewer batches than that are in hand, the
    transaction also takes the oldest other pending batches no worker holds, up to `group` in all. With
    nothing waiting this changes nothing; behind a backlog a transaction's fixed costs (its statements,
    the journey counters of a day, the commit) are shared by several batches, so the pipeline catches
    up faster. A batch taken here is simply gone when its own task comes (which then does nothing)."""
    with transaction.atomic():
        batches = list(
            EvaluationBatch.objects.select_for_update(skip_locked=True).filter(pk__any=batch_ids).order_by("pk")
        )
        if not batches:
            return 0
        if len(batches) < group:  # SKIP LOCKED: never waits, so it cannot deadlock with another worker
            others = EvaluationBatch.objects.select_for_update(skip_locked=True).exclude(pk__in=[b.pk for b in batches])
            batches += list(others.order_by("pk")[: group - len(batches)])
        by_workspace: dict[int, list[int]] = {}
        for batch in batches:
            by_workspace.setdefault(batch.workspace_id, []).extend(batch.activity_ids)
        for workspace_id, activity_ids in by_workspace.items():
            activities = list(Activity.objects.filter(pk__any=activity_ids).order_by("timestamp", "pk"))
            try:
                with transaction.atomic():
                    for consumer in consumers():
                        consumer(workspace_id, activities)
            except (OperationalError, InterfaceError):
                raise  # the database is away: every batch is retried later
            except Exception:  # a consumer failed on something here: find it, keep the rest going
                logger.exception(
                    "evaluation batches %s failed; evaluating their activities one by one", [b.pk for b in batches]
                )
                _one_by_one(workspace_id, activities)
        EvaluationBatch.objects.filter(pk__any=[batch.pk for batch in batches]).delete()
    return len(batches)


def _one_by_one(workspace_id: int, activities: list[Activity]) -> None:
    """Each activity through each consumer in its own savepoint, in time order; a failure is quarantined."""
    for activity in activities:
        for path, consumer in zip(settings.NUDGE_ACTIVITY_CONSUMERS, consumers(), strict=True):
            try:
                with transaction.atomic():
                    consumer(workspace_id, [activity])
            except (OperationalError, InterfaceError):
                raise
            except Exception as error:  # quarantined, visibly: never hidden, never holding others back
                logger.exception("quarantined activity %s (%s)", activity.pk, path)
                IngestionError.objects.create(
                    workspace_id=workspace_id,
                    kind=IngestionError.Kind.QUARANTINED,
                    endpoint=path.rsplit(".", 1)[-1][:40],
                    field=activity.name[:200],
                    error=f"{type(error).__name__}: {error}"[:2000],
                    message_id=activity.message_id,
                    activity=activity,
                    created_at=timezone.now(),
                )


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
    """Forget messageIds older than the dedupe window, and ingestion errors older than theirs, in
    bounded deletes."""
    now = timezone.now()
    total = 0
    for model, field, days in (
        (DedupeKey, "received_at", settings.NUDGE_DEDUPE_WINDOW_DAYS),
        (IngestionError, "created_at", settings.NUDGE_INGESTION_ERRORS_DAYS),
    ):
        cutoff = now - timedelta(days=days)
        while True:
            query = model.objects.filter(**{f"{field}__lt": cutoff})
            ids = list(query.values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            total += model.objects.filter(pk__in=ids).delete()[0]
    return total
