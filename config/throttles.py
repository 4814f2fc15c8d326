"""DRF throttling of the management API per token (and per member for the panel's session callers), on
the shared limiter (config/ratelimit.py), so the rate holds across every web process: `NUDGE_API_RATE`
(e.g. "1200/min"); past it, 429 with Retry-After."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from config import ratelimit
from workspaces.models import ApiToken, Membership


class TokenRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self.retry_after: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        credential = request.auth
        if isinstance(credential, ApiToken):
            key = f"api:{credential.token_hash[:16]}"
        elif isinstance(credential, Membership):
            key = f"api:member:{credential.user_id}"
        else:
            return True  # unauthenticated requests are refused before they cost anything
        limit, window = ratelimit.parse_rate(settings.NUDGE_API_RATE)
        self.retry_after = ratelimit.hit(key, limit=limit, window=window)
        return self.retry_after is None

    def wait(self) -> float | None:
        return self.retry_after
