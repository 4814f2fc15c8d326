"""The segments every workspace starts with (PRODUCT.md §6), as editable copies. Each is a plain segment
definition; `segments.services.builtins_install` writes them."""

from __future__ import annotations

from typing import Any

BUILTIN: tuple[dict[str, Any], ...] = (
    {
        "slug": "new-users-7d",
        "name": "New users (last 7 days)",
        "description": "First seen within the last 7 days.",
        "rule": {"attribute": "first_seen", "op": "within_last", "value": "P7D"},
    },
    {
        "slug": "active-7d",
        "name": "Active in the last 7 days",
        "description": "Did anything in the last 7 days.",
        "rule": {"attribute": "last_seen", "op": "within_last", "value": "P7D"},
    },
    {
        "slug": "inactive-30d",
        "name": "Inactive for 30 days",
        "description": "Seen before, but nothing in the last 30 days.",
        "rule": {
            "all": [
                {"attribute": "last_seen", "op": "exists"},
                {"not": {"attribute": "last_seen", "op": "within_last", "value": "P30D"}},
            ]
        },
    },
    {
        "slug": "known-users",
        "name": "Known users",
        "description": "Identified with a user id (signed up or logged in).",
        "rule": {"attribute": "user_id", "op": "exists"},
    },
    {
        "slug": "reachable-push",
        "name": "Reachable by push",
        "description": "Have an app device and have not opted out of push.",
        "rule": {"reachable": "push"},
    },
    {
        "slug": "reachable-sms",
        "name": "Reachable by SMS",
        "description": "Have a phone number and have not opted out of SMS.",
        "rule": {"reachable": "sms"},
    },
    {
        "slug": "reachable-email",
        "name": "Reachable by email",
        "description": "Have an email address and have not opted out of email.",
        "rule": {"reachable": "email"},
    },
    {
        "slug": "purchasers-30d",
        "name": "Purchasers (last 30 days)",
        "description": "Made a purchase in the last 30 days.",
        "rule": {"performed": "purchase", "within": "P30D"},
    },
    {
        "slug": "repeat-purchasers",
        "name": "Repeat purchasers",
        "description": "Made two purchases or more.",
        "rule": {"performed": "purchase", "count": {"op": "gte", "value": 2}},
    },
)
