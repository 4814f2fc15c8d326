"""Journey documents used across the journey tests (PRODUCT.md §8.1 and variations)."""

from __future__ import annotations

import copy
from typing import Any

from journeys.examples import DISCOUNTS


def discounts(**changes: Any) -> dict[str, Any]:
    """The §8.1 document with top-level keys replaced."""
    document = copy.deepcopy(DISCOUNTS)
    document.update(copy.deepcopy(changes))
    return document


# Timeline 1 of §13 runs with this re-entry rule.
TIMELINE_1 = discounts(reentry={"mode": "multiple", "lock": "P7D", "cap": {"max_entries": 2, "period": "P30D"}})


def view(user: str, at: str, screen: str = "Spring Discounts") -> dict[str, Any]:
    return {"user_id": user, "event": "screen_view", "properties": {"screen_name": screen}, "timestamp": at}


TIMELINE_1_EVENTS = [
    view("ann", "2024-12-17T12:00:00Z"),
    {
        "user_id": "ann",
        "event": "add_to_favorites",
        "properties": {"product_id": "p1"},
        "timestamp": "2024-12-18T09:00:00Z",
    },
    {"user_id": "ann", "event": "purchase", "properties": {"price": 150}, "timestamp": "2024-12-20T10:00:00Z"},
    view("bob", "2024-12-17T12:30:00Z", screen="Home"),
    view("cem", "2024-12-17T13:00:00Z"),
    view("cem", "2024-12-21T13:00:00Z"),
    view("cem", "2024-12-26T13:00:00Z"),
    view("cem", "2025-01-03T13:00:00Z"),
    view("cem", "2025-01-17T13:00:00Z"),
]
TIMELINE_1_PROFILES = [{"user_id": name, "timezone": "UTC"} for name in ("ann", "bob", "cem")]
