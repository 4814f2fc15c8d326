"""Webhooks (a journey's webhook step, or a webhook template) through httpx: the rendered method, URL,
headers and body, an `Idempotency-Key` header, a timeout, no redirects followed, and private or
loopback addresses refused unless the workspace allows them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from messaging.providers.base import Outgoing, http_send, public_address_check


class WebhookProvider:
    def __init__(self, options: Mapping[str, Any], secret: str) -> None:
        self.timeout = float(options.get("timeout", 10))

    def send(self, outgoing: Outgoing) -> str:
        content = outgoing.content
        url = str(content.get("url", ""))
        public_address_check(url, allow_private=outgoing.allow_private)
        headers = {"Idempotency-Key": outgoing.idempotency_key, **dict(content.get("headers") or {})}
        body = content.get("body") or ""
        method = str(content.get("method") or "POST")
        response = http_send(
            method,
            url,
            timeout=self.timeout,
            headers=headers,
            content=str(body).encode() if method != "GET" else None,
        )
        return str(response.headers.get("x-request-id", ""))
