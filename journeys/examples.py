"""Journey documents shipped with Nudge: PRODUCT.md §8.1's example, which the demo workspace runs and
the tests build on."""

from __future__ import annotations

from typing import Any

DISCOUNTS: dict[str, Any] = {
    "name": "Discounts → favorites → purchase",
    "description": "Engage users who look at discounts",
    "conversion": {
        "event": "purchase",
        "where": [{"property": "price", "op": "gt", "value": 100}],
        "window": "P30D",
        "exit_on_conversion": True,
    },
    "entry": {
        "type": "event",
        "event": "screen_view",
        "where": [{"property": "screen_name", "op": "contains", "value": "Discounts"}],
    },
    "schedule": {"start_at": "2024-12-17T11:15:00Z", "end_at": None},
    "reentry": {"mode": "multiple", "lock": "P1M", "cap": {"max_entries": 2, "period": "P2M"}},
    "audience": {"segments": [], "exclude_segments": []},
    "start": "fav",
    "nodes": {
        "fav": {
            "type": "wait_event",
            "event": "add_to_favorites",
            "where": [],
            "timeout": "P3D",
            "on_performed": "thanks",
            "on_timeout": "nudge",
        },
        "thanks": {"type": "send", "channel": "sms", "template": "post-purchase-survey", "next": None},
        "nudge": {"type": "send", "channel": "push", "template": "liked-this-item", "next": None},
    },
}
