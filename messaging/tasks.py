"""Celery tasks for messaging: thin, named, time-limited."""

import logging

from celery import shared_task
from django.conf import settings

from messaging import delivery

logger = logging.getLogger(__name__)


@shared_task(name="messaging.deliver", time_limit=120, soft_time_limit=100)
def deliver() -> int:
    # A batch's calls are what is in flight at once: a smaller batch would cap NUDGE_SEND_CONCURRENCY.
    return delivery.messages_deliver(batch_size=max(100, settings.NUDGE_SEND_CONCURRENCY))


@shared_task(name="messaging.recover", time_limit=60, soft_time_limit=50)
def recover() -> int:
    return delivery.messages_recover()


def deliver_soon() -> None:
    """After a commit that queued messages: deliver now rather than at the next beat tick. A broker
    outage only delays them (the periodic task finds them)."""
    try:
        deliver.apply_async(retry=False)
    except Exception:  # the broker's errors are many (kombu, redis, OS); all mean "the beat will"
        logger.warning("could not enqueue delivery; the periodic task will", exc_info=True)
