"""`manage.py seed_demo`: a demo workspace with a panel login, profiles and activities (idempotent), and a
fresh management token for it on every run (the previous demo token is revoked: tokens are stored
hashed, so the only honest way to print one is to make it)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from activities.segment_spec import parse_batch
from activities.store import messages_store
from workspaces.models import ApiToken, Membership, Workspace
from workspaces.services import api_token_create, key_revoke, workspace_create

DEMO_SLUG = "demo-store"
DEMO_EMAIL = "demo@nudge.local"
DEMO_PASSWORD = "nudge-demo"  # noqa: S105 - the embedded demo only; never seeded in production

DEMO_TOKEN_NAME = "make run demo"  # noqa: S105 - a label, not a secret

# Every demo person can be reached on every channel (an email, a phone, an iOS push token) and has opted
# out of nothing, so what the demo journeys send shows up in var/outbox/ (the embedded file provider).
PEOPLE: list[tuple[str, dict[str, Any], str]] = [
    ("ann", {"first_name": "Ann", "country": "TR", "plan": "pro"}, "Europe/Istanbul"),
    ("bob", {"first_name": "Bob", "country": "US"}, "America/New_York"),
    ("cem", {"first_name": "Cem", "country": "TR"}, "Europe/Istanbul"),
    ("dee", {"first_name": "Dee", "country": "GB"}, "Europe/London"),
    ("eve", {"first_name": "Eve", "country": "DE"}, "Europe/Berlin"),
    ("hal", {"first_name": "Hal", "country": "US"}, "America/Chicago"),
]


def _reachable(index: int, user_id: str, traits: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(traits, context.device) giving the person an email, a phone and a push token."""
    traits = {**traits, "email": f"{user_id}@example.com", "phone": f"+1202555{100 + index:04d}"}
    return traits, {"type": "ios", "token": f"demo-push-token-{user_id}"}


TEMPLATES: list[tuple[str, str, str, dict[str, Any]]] = [
    (
        "push",
        "liked-this-item",
        "promotional",
        {
            "title": "Still thinking, {{ profile.first_name | default: 'friend' }}?",
            "body": "The items in your favorites are on discount.",
        },
    ),
    (
        "sms",
        "post-purchase-survey",
        "promotional",
        {"body": "Hi {{ profile.first_name }}, how do you like it? Reply 1-5."},
    ),
    (
        "email",
        "welcome",
        "promotional",
        {
            "subject": "Welcome, {{ profile.first_name | default: 'friend' }}",
            "html": "<p>Hi {{ profile.first_name }}, welcome to the Demo Store.</p>"
            '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
            "text": "Hi {{ profile.first_name }}, welcome to the Demo Store.",
        },
    ),
    (
        "email",
        "payment-failed",
        "transactional",
        {
            "subject": "Your payment did not go through",
            "text": "Hi {{ profile.first_name }}, we could not take your last payment. Please check your card.",
        },
    ),
]

# §13.4: a failed payment fires the `skips_payment` behavior at once; this journey, entered on it, emails.
PAYMENT_FAILED: dict[str, Any] = {
    "name": "Skipped payment → email",
    "description": "Tell people at once when a payment fails",
    "entry": {"type": "event", "event": "behavior:skips_payment"},
    "start": "email",
    "nodes": {"email": {"type": "send", "channel": "email", "template": "payment-failed", "next": None}},
}


def _journeys(workspace: Workspace, owner: Any) -> None:
    """The demo's templates and its live journey (once)."""
    from behaviors.models import Behavior
    from behaviors.services import behavior_resume
    from journeys.examples import DISCOUNTS
    from journeys.models import Journey
    from journeys.services import journey_create, journey_publish
    from messaging.models import Template

    for channel, name, category, content in TEMPLATES:
        Template.objects.get_or_create(
            workspace=workspace, channel=channel, name=name, defaults={"category": category, "content": content}
        )
    for behavior in Behavior.objects.filter(workspace=workspace, journey__isnull=True):
        behavior_resume(behavior=behavior, actor=owner)  # the demo runs §7's behaviors
    for document in (DISCOUNTS, PAYMENT_FAILED):
        if not Journey.objects.filter(workspace=workspace, name=document["name"]).exists():
            journey_publish(journey=journey_create(workspace=workspace, actor=owner, document=document), actor=owner)


@transaction.atomic
def _fresh_token(workspace: Workspace, owner: Any) -> str:
    """A new owner token for this run; the one printed by the previous run stops working."""
    membership = Membership.objects.select_related("workspace", "user").get(workspace=workspace, user=owner)
    for previous in ApiToken.objects.active().filter(membership=membership, name=DEMO_TOKEN_NAME):
        key_revoke(key=previous, actor=owner)
    return api_token_create(membership=membership, name=DEMO_TOKEN_NAME).raw


def _events(now: Any) -> list[dict]:
    def at(hours_ago: float) -> str:
        return (now - timedelta(hours=hours_ago)).isoformat()

    events: list[dict] = []
    for index, (user_id, traits, tz) in enumerate(PEOPLE):
        traits, device = _reachable(index, user_id, traits)
        events.append(
            {
                "type": "identify",
                "userId": user_id,
                "traits": traits,
                "timestamp": at(100),
                "context": {"timezone": tz, "device": device},
                # "-2": demos seeded before people had a phone and a device take them on the next run
                "messageId": f"demo-identify-2-{user_id}",
            }
        )
    story: list[tuple[str, str, dict[str, Any], float]] = [
        ("ann", "screen", {"name": "Spring Discounts"}, 50),
        ("ann", "track", {"event": "add_to_favorites", "properties": {"product_id": "sku-1"}}, 30),
        ("ann", "track", {"event": "purchase", "properties": {"price": 150, "currency": "EUR"}}, 5),
        ("bob", "screen", {"name": "Home"}, 40),
        ("cem", "screen", {"name": "Spring Discounts"}, 80),  # does nothing for 3 days: the push is due
        ("dee", "track", {"event": "update_cart", "properties": {"items": 2, "value": 80}}, 60),
        ("dee", "track", {"event": "update_cart", "properties": {"items": 3, "value": 95}}, 20),
        ("eve", "track", {"event": "update_cart", "properties": {"items": 1, "value": 30}}, 26),
        ("eve", "track", {"event": "purchase", "properties": {"price": 30, "currency": "EUR"}}, 24),
        ("eve", "page", {"name": "Pricing", "properties": {"url": "https://shop.example/pricing"}}, 10),
        ("hal", "track", {"event": "failed_payment", "properties": {"amount": 12}}, 1),
    ]
    for index, (user_id, kind, fields, hours) in enumerate(story):
        events.append({"type": kind, "userId": user_id, "timestamp": at(hours), "messageId": f"demo-{index}", **fields})
    return events


class Command(BaseCommand):
    help = "Create (once) the demo workspace, its panel login, profiles and activities; print a fresh token."

    def handle(self, *args: Any, **options: Any) -> None:
        key_file = settings.VAR_DIR / "demo_write_key.txt"
        workspace = Workspace.objects.filter(slug=DEMO_SLUG).first()
        if workspace is None:
            created = workspace_create(name="Demo Store", owner_email=DEMO_EMAIL)
            workspace = created.workspace
            key_file.write_text(created.write_key)
        user = get_user_model().objects.get(email=DEMO_EMAIL)
        if not user.has_usable_password():
            user.set_password(DEMO_PASSWORD)
            user.is_staff = True
            user.save(update_fields=["password", "is_staff"])
        _journeys(workspace, user)
        api_token = _fresh_token(workspace, user)
        now = timezone.now()
        parsed = parse_batch({"batch": _events(now)}, received_at=now, max_event_bytes=32 * 1024, size=0)
        assert not parsed.refused, parsed.refused
        messages = parsed.messages
        result = messages_store(workspace_id=workspace.pk, messages=messages, received_at=now)
        self.stdout.write(
            json.dumps(
                {
                    "workspace": workspace.slug,
                    "login": {"email": DEMO_EMAIL, "password": DEMO_PASSWORD},
                    "write_key": key_file.read_text() if key_file.exists() else None,
                    "api_token": api_token,
                    "stored_activities": len(result.activity_ids),
                }
            )
        )
