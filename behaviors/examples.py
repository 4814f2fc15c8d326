"""The five behaviors every workspace starts with (PRODUCT.md §7), as editable copies."""

from __future__ import annotations

from typing import Any

EXAMPLES: list[dict[str, Any]] = [
    {
        "name": "Abandoned cart",
        "slug": "abandoned_cart",
        "steps": [{"performed": "update_cart"}, {"not_performed": "purchase", "within": "P3D"}],
    },
    {
        "name": "Slipping away",
        "slug": "slipping_away",
        "steps": [
            {"performed": "viewed"},
            {"performed": "viewed", "within": "P7D"},
            {"performed": "*", "within": "P30D"},
            {"inactive": "P30D"},
        ],
    },
    {
        "name": "Fails to subscribe",
        "slug": "fails_to_subscribe",
        "steps": [{"performed": "trial_signup"}, {"not_performed": "completed_application", "within": "P35D"}],
    },
    {
        "name": "Dropped out of a course",
        "slug": "dropped_course",
        "steps": [
            {"performed": "subscribed_course"},
            {"performed": "completed_stage", "within": "P7D"},
            {"not_performed": "completed_course", "within": "P30D"},
        ],
    },
    {"name": "Skips a payment", "slug": "skips_payment", "steps": [{"performed": "failed_payment"}]},
]
