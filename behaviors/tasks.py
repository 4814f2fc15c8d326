"""Celery tasks for behaviors: thin, named, time-limited."""

import logging

from celery import shared_task

from behaviors import backfill

logger = logging.getLogger(__name__)


@shared_task(name="behaviors.backfill", time_limit=120, soft_time_limit=100)
def run_backfills() -> int:
    return backfill.backfills_run(budget_seconds=50.0)


def backfill_soon() -> None:
    """After a backfill is asked for: start now rather than at the next beat tick. A broker outage only
    delays it (the periodic task resumes every running backfill)."""
    try:
        run_backfills.apply_async(retry=False)
    except Exception:  # the broker's errors are many (kombu, redis, OS); all mean "the beat will"
        logger.warning("could not enqueue the backfill; the periodic task will", exc_info=True)
