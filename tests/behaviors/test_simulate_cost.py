"""A simulate request at the limit (10,000 events of one profile) answers in about a second, not minutes:
the replay looks only at the entries that can still move (a cart behavior makes one entry per cart
update), and history conditions (`max_once_per`) read an index by name and time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from behaviors.examples import EXAMPLES
from behaviors.simulator import simulate_behavior
from journeys.simulator import MAX_EVENTS
from tests.behaviors.reference import reference_simulate

BY_SLUG = {e["slug"]: e for e in EXAMPLES}
START = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("document", "name"),
    [
        (BY_SLUG["abandoned_cart"], "update_cart"),  # every update restarts the match: 10,000 entries
        ({**BY_SLUG["skips_payment"], "max_once_per": "P1D"}, "failed_payment"),  # 10,000 history checks
        (BY_SLUG["slipping_away"], "viewed"),
    ],
    ids=["restarts", "max_once_per", "advances"],
)
def test_ten_thousand_events_of_one_profile(document, name):
    events = [
        {"user_id": "p", "event": name, "timestamp": (START + timedelta(seconds=i)).isoformat()}
        for i in range(MAX_EVENTS)
    ]
    started = time.monotonic()
    answer = simulate_behavior(document, events=events, until="2025-04-01T00:00:00Z")
    assert time.monotonic() - started < 15  # the restarts case took 176 s when every step looked at every entry
    assert answer == reference_simulate(document, events=events, until="2025-04-01T00:00:00Z")
