"""Messaging tests talk to real servers on loopback, which the outbound policy refuses: they are allowed
here as an operator would allow an on-premise provider (`NUDGE_OUTBOUND_ALLOW`). Tests of the policy
itself set it back."""

from __future__ import annotations

from typing import Any

import pytest

LOOPBACK = ["127.0.0.0/8", "::1/128"]


@pytest.fixture(autouse=True)
def _loopback_allowed(settings: Any) -> None:
    settings.NUDGE_OUTBOUND_ALLOW = LOOPBACK
