"""Celery tasks for segments: thin, named, time-limited. The periodic ones are in config/schedule.py."""

import logging

from celery import shared_task
from django.db import transaction

from segments import lists, services

logger = logging.getLogger(__name__)


@shared_task(name="segments.refresh", time_limit=300, soft_time_limit=270)
def refresh_due() -> int:
    """Every rule segment whose members are stale, oldest first, for up to 50 s."""
    return services.segments_refresh_due(budget_seconds=50.0)


@shared_task(name="segments.refresh_segment", time_limit=300, soft_time_limit=270)
def refresh_segment(segment_id: int) -> int | None:
    refreshed = services.segment_refresh(segment_id=segment_id)
    return refreshed.size if refreshed is not None else None


@shared_task(name="segments.imports", time_limit=300, soft_time_limit=270)
def run_imports() -> int:
    """Every list import still running (a new one, or one whose worker died), for up to 50 s."""
    return lists.imports_run(budget_seconds=50.0)


def _enqueue(task: object, *args: object) -> None:
    try:
        task.apply_async(args=args, retry=False)  # type: ignore[attr-defined]
    except Exception:  # the broker's errors are many (kombu, redis, OS); all mean "the beat will"
        logger.warning("could not enqueue %s; the periodic task will", task, exc_info=True)


def refresh_soon(segment_id: int) -> None:
    """Once the caller's transaction commits: refresh now rather than at the next beat tick."""
    transaction.on_commit(lambda: _enqueue(refresh_segment, segment_id))


def imports_soon() -> None:
    transaction.on_commit(lambda: _enqueue(run_imports))
