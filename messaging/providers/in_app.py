"""In-app messages are stored, not pushed: the message row itself is what `GET /v1/inapp` hands the SDK,
so sending only marks it available."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from messaging.providers.base import Outgoing


class InAppProvider:
    def __init__(self, options: Mapping[str, Any], secret: str) -> None:
        pass

    def send(self, outgoing: Outgoing) -> str:
        return ""
