"""Rate limits that hold across every process: fixed windows counted in Redis (one INCR a request, the
key expiring with its window), by key — a write key for ingestion, a management token for the API.

Redis is `NUDGE_RATE_LIMIT_REDIS_URL`, else the Celery broker's when it is Redis; without one (the
embedded default) the counts are kept in this process. A limiter that cannot reach Redis lets requests
through (and says so in the log): losing events because a counter is away would be the worse failure.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from functools import cache

import redis
from django.conf import settings

logger = logging.getLogger(__name__)
_local: dict[str, int] = {}
_lock = threading.Lock()


# What a Redis call may raise when the store is away or a connection broke under it: redis-py's own
# errors, and — from a connection torn down while it was read (a reset found by the health check) — the
# OS's error or a ValueError of its closed read buffer. Any of them lets the request through.
STORE_ERRORS: tuple[type[Exception], ...] = (redis.RedisError, OSError, ValueError)


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=0.2, socket_connect_timeout=0.2, health_check_interval=30)


def _url() -> str:
    url = getattr(settings, "NUDGE_RATE_LIMIT_REDIS_URL", "") or ""
    broker = settings.CELERY_BROKER_URL
    if not url and broker.startswith(("redis://", "rediss://")):
        url = broker
    return url


def hit(key: str, *, limit: int, window: int) -> float | None:
    """Count one request for `key`; the seconds to wait if it is over `limit` in this `window`, else None."""
    now = time.time()
    slot = int(now // window)
    name = f"nudge:rate:{key}:{slot}"
    url = _url()
    if url:
        try:
            pipe = _client(url).pipeline(transaction=False)
            pipe.set(name, 0, ex=window * 2, nx=True)  # the window's counter, expiring with it
            pipe.incr(name)
            count = int(pipe.execute()[1])
        except STORE_ERRORS:
            logger.warning("rate limit store unavailable; letting %s through", key, exc_info=True)
            return None
    else:
        with _lock:
            count = _local[name] = _local.get(name, 0) + 1
            if len(_local) > 100_000:  # forget past windows
                for stale in [k for k in _local if not k.endswith(f":{slot}")]:
                    del _local[stale]
    if count <= limit:
        return None
    return max(1.0, math.ceil((slot + 1) * window - now))


def parse_rate(rate: str) -> tuple[int, int]:
    """A DRF-style rate, "1200/min", as (requests, seconds)."""
    count, _, period = rate.partition("/")
    seconds = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
    return int(count), seconds.get(period.strip().lower(), 60)
