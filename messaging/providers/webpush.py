"""Web push through pywebpush: the payload encrypted for each browser subscription (RFC 8291) and sent
to its push service with a VAPID signature. Settings: `vapid_subject` (mailto: or https: URL); secret: the
VAPID private key. Subscriptions the push service reports gone (404/410) are removed. A subscription's
endpoint comes from a browser, so it goes through the outbound policy like any provider's address (the
workspace's `allow_private_webhooks` does not apply)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import requests
from py_vapid import Vapid02
from pywebpush import WebPushException, webpush

from messaging import outbound
from messaging.providers.base import (
    ANSWER_MAX,
    Device,
    GoneDevice,
    Outgoing,
    PermanentError,
    TransientError,
    each_device,
    exchange_send,
)

_session: outbound.CheckedSession | None = None


def _checked_session() -> outbound.CheckedSession:
    """One per process, so connections to a push service are kept alive between messages."""
    global _session
    if _session is None:
        _session = outbound.CheckedSession()
    return _session


class WebPushProvider:
    def __init__(self, options: Mapping[str, Any], secret: str) -> None:
        self.subject = str(options.get("vapid_subject") or "")
        if not self.subject.startswith(("mailto:", "https://")) or not secret:
            raise PermanentError("the web push provider needs vapid_subject (mailto: or https:) and a VAPID key")
        try:  # a PEM key, or the base64url DER string most VAPID tools print
            self.key: Vapid02 | str = (
                Vapid02.from_pem(secret.encode()) if secret.lstrip().startswith("-----") else secret
            )
        except (ValueError, TypeError) as error:
            raise PermanentError(f"the VAPID private key is unusable: {error}") from error

    def send(self, outgoing: Outgoing) -> str:
        """Blocking (pywebpush calls through requests): delivery runs it on its threads."""
        return exchange_send(each_device(outgoing, lambda device: self._one(outgoing, device)))

    def _one(self, outgoing: Outgoing, device: Device) -> str:
        subscription = dict(device.subscription)
        endpoint = str(subscription.get("endpoint", ""))
        if not endpoint or not isinstance(subscription.get("keys"), dict):
            raise PermanentError("the device has no web-push subscription")
        content = outgoing.content
        data = {k: content[k] for k in ("title", "body", "icon", "url") if content.get(k)}
        try:
            response = webpush(
                subscription,
                json.dumps(data),
                vapid_private_key=self.key,
                vapid_claims={"sub": self.subject},
                timeout=10,
                ttl=86400,
                requests_session=_checked_session(),
            )
        except WebPushException as error:
            answer = error.response
            status = answer.status_code if answer is not None else 0
            if status in (404, 410):
                raise GoneDevice("the subscription has expired") from error
            if answer is None:
                raise TransientError(f"push service: {error}") from error
            if 300 <= status < 400:
                where = outbound.location_host(answer.headers)
                raise PermanentError(
                    f"push service: HTTP {status}: redirected to {where}; redirects are not followed"
                ) from error
            reason = f"push service: HTTP {status}: {answer.text[:ANSWER_MAX]}"
            if status == 429 or status >= 500:
                raise TransientError(reason) from error
            raise PermanentError(reason) from error
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema):
            raise PermanentError("the subscription's endpoint is not a URL") from None
        except requests.RequestException as error:
            raise TransientError(f"push service: {type(error).__name__}") from error
        except (ValueError, TypeError) as error:
            raise PermanentError(f"cannot encrypt for this subscription: {error}") from error
        headers = getattr(response, "headers", {}) or {}
        return str(headers.get("Location", ""))
