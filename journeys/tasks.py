"""Celery tasks for journeys: thin, named, time-limited."""

from celery import shared_task

from journeys import runtime, scheduling


@shared_task(name="journeys.fire_timers", time_limit=60, soft_time_limit=50)
def fire_timers() -> int:
    return runtime.timers_fire(max_batches=40)


@shared_task(name="journeys.enter_scheduled", time_limit=120, soft_time_limit=100)
def enter_scheduled() -> int:
    return scheduling.journeys_enter_scheduled()
