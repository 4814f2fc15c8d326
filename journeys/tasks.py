"""Celery tasks for journeys: thin, named, time-limited."""

import logging

from celery import shared_task

from journeys import backtest, runtime, scheduling

logger = logging.getLogger(__name__)


@shared_task(name="journeys.fire_timers", time_limit=60, soft_time_limit=50)
def fire_timers() -> int:
    return runtime.timers_fire(max_batches=40)


@shared_task(name="journeys.enter_scheduled", time_limit=120, soft_time_limit=100)
def enter_scheduled() -> int:
    return scheduling.journeys_enter_scheduled()


@shared_task(name="journeys.backtest", time_limit=120, soft_time_limit=100)
def run_backtests() -> int:
    return backtest.backtests_run(budget_seconds=50.0)


def backtest_soon() -> None:
    """After a backtest is asked for (on commit): start now rather than at the next beat tick. A broker
    outage only delays it (the periodic task picks up every unfinished backtest)."""
    try:
        run_backtests.apply_async(retry=False)
    except Exception:  # the broker's errors are many (kombu, redis, OS); all mean "the beat will"
        logger.warning("could not enqueue the backtest; the periodic task will", exc_info=True)
