"""The embedded default: every message appended as one JSON line to `var/outbox/<channel>.jsonl`, so a
quick start sends nothing anywhere but shows exactly what would have gone out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from django.conf import settings

from messaging.providers.base import Outgoing


class FileProvider:
    def __init__(self, options: Mapping[str, Any], secret: str) -> None:
        self.folder = settings.VAR_DIR / "outbox"

    def send(self, outgoing: Outgoing) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        line = {
            "idempotency_key": outgoing.idempotency_key,
            "channel": outgoing.channel,
            "to": outgoing.to,
            "content": outgoing.content,
            "headers": outgoing.headers,
        }
        with (self.folder / f"{outgoing.channel}.jsonl").open("ab") as out:
            out.write(orjson.dumps(line) + b"\n")
        return outgoing.idempotency_key
