"""The address a request comes from, for login lockout. Behind NUDGE_TRUSTED_PROXIES proxies (a load
balancer: 1), it is the entry the nearest of them appended to X-Forwarded-For, counted from the right:
entries further left are whatever the client wrote and cannot be trusted."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    proxies = settings.NUDGE_TRUSTED_PROXIES
    remote = request.META.get("REMOTE_ADDR")
    if not proxies:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    return forwarded[-proxies] if len(forwarded) >= proxies else remote
