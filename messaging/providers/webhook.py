"""Webhooks (a journey's webhook step, or a webhook template) over HTTP: the rendered method, URL,
headers and body, an `Idempotency-Key` header, a timeout, no redirects followed, and only public
addresses — private networks too where the workspace allows them (`allow_private_webhooks`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from messaging.outbound import OutboundRefused
from messaging.providers.base import Exchange, HttpCall, HttpProvider, Outgoing, PermanentError


class WebhookProvider(HttpProvider):
    def __init__(self, options: Mapping[str, Any], secret: str) -> None:
        self.timeout = float(options.get("timeout", 10))

    def exchange(self, outgoing: Outgoing) -> Exchange:
        content = outgoing.content
        url = str(content.get("url", ""))
        if not url.startswith(("https://", "http://")):
            raise PermanentError("the webhook URL must be an http:// or https:// URL")
        headers = {"Idempotency-Key": outgoing.idempotency_key, **dict(content.get("headers") or {})}
        body = content.get("body") or ""
        method = str(content.get("method") or "POST")
        try:
            response = yield HttpCall(
                method,
                url,
                {"headers": headers, "content": str(body).encode() if method != "GET" else None},
                allow_private=outgoing.allow_private,
                timeout=self.timeout,
            )
        except PermanentError as error:
            refused = error.__cause__
            if isinstance(refused, OutboundRefused):
                raise PermanentError(refused.for_webhook(allow_private=outgoing.allow_private)) from refused
            raise
        return str(response.headers.get("x-request-id", ""))
