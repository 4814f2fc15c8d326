"""Celery tasks for the activity pipeline: thin, named, time-limited; the work is in pipeline.py."""

from celery import shared_task
from django.conf import settings

from activities import pipeline


@shared_task(name="activities.process_batch", time_limit=120, soft_time_limit=100, acks_late=True)
def process_batch(batch_id: int) -> bool:
    return pipeline.batches_process([batch_id], group=settings.NUDGE_PIPELINE_GROUP) > 0


@shared_task(name="activities.process_batches", time_limit=120, soft_time_limit=100, acks_late=True)
def process_batches(batch_ids: list[int]) -> int:
    return pipeline.batches_process(batch_ids, group=settings.NUDGE_PIPELINE_GROUP)


@shared_task(name="activities.retry_stale_batches", time_limit=60, soft_time_limit=50)
def retry_stale_batches() -> int:
    return pipeline.batches_retry_stale()


@shared_task(name="activities.prune_dedupe_keys", time_limit=600, soft_time_limit=540)
def prune_dedupe_keys() -> int:
    return pipeline.dedupe_keys_prune()
