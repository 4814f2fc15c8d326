"""Celery tasks for journeys: thin, named, time-limited."""

from celery import shared_task

from journeys import runtime


@shared_task(name="journeys.fire_timers", time_limit=60, soft_time_limit=50)
def fire_timers() -> int:
    return runtime.timers_fire(max_batches=40)
