"""The write keys' rate limit for ingestion, on the shared limiter's Redis counters (config/ratelimit.py)
but told in steps: a web process counts requests itself and adds them to the window's counter in Redis
once it holds 1 % of the limit or every SYNC_SECONDS, so a busy key costs one Redis round trip per
hundreds of requests instead of one per request. Across N processes a key may pass its limit by at most
N × 1 % of it in a window; a limit under 100 is still counted in Redis request by request, exactly.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass

from config import ratelimit
from config.ratelimit import _client as redis_client  # the limiter's own Redis: same URL, same client
from config.ratelimit import _url as redis_url

logger = logging.getLogger(__name__)
SYNC_SECONDS = 0.1
STEP_SHARE = 100  # of the limit, a process counts this share before telling Redis


@dataclass
class _Window:
    slot: int
    pending: int = 0  # counted here, not yet added in Redis
    total: int = 0  # the window's count in Redis when last told
    told_at: float = 0.0


_windows: dict[str, _Window] = {}
_lock = threading.Lock()


def hit(key: str, *, limit: int, window: int) -> float | None:
    """As ratelimit.hit: count one request for `key`; the seconds to wait if it is over `limit` in this
    `window`, else None."""
    url = redis_url()
    if not url:
        return ratelimit.hit(key, limit=limit, window=window)
    now = time.time()
    slot = int(now // window)
    step = max(1, limit // STEP_SHARE)
    with _lock:
        counted = _windows.get(key)
        if counted is None or counted.slot != slot:
            if len(_windows) > 10_000:  # forget other keys' past windows
                _windows.clear()
            counted = _windows[key] = _Window(slot)
        counted.pending += 1
        send = 0
        if counted.pending >= step or now - counted.told_at >= SYNC_SECONDS:
            send, counted.pending = counted.pending, 0
        count = counted.total + counted.pending
    if send:
        name = f"nudge:rate:{key}:{slot}"
        try:
            pipe = redis_client(url).pipeline(transaction=False)
            pipe.set(name, 0, ex=window * 2, nx=True)  # the window's counter, expiring with it
            pipe.incrby(name, send)
            count = int(pipe.execute()[1])
        except ratelimit.STORE_ERRORS:
            logger.warning("rate limit store unavailable; letting %s through", key, exc_info=True)
            return None
        with _lock:
            if counted.slot == slot:
                counted.total = max(counted.total, count)
                counted.told_at = now
            count += counted.pending
    if count <= limit:
        return None
    return max(1.0, math.ceil((slot + 1) * window - now))
