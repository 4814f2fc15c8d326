"""`manage.py seed_demo`: a demo workspace with a panel login, profiles and activities. Idempotent."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.utils import timezone

from activities.segment_spec import parse_batch
from activities.store import messages_store
from workspaces.models import Workspace
from workspaces.services import workspace_create

DEMO_SLUG = "demo-store"
DEMO_EMAIL = "demo@nudge.local"
DEMO_PASSWORD = "nudge-demo"  # noqa: S105 - the embedded demo only; never seeded in production

PEOPLE = [
    ("ann", {"first_name": "Ann", "email": "ann@example.com", "country": "TR", "plan": "pro"}, "Europe/Istanbul"),
    ("bob", {"first_name": "Bob", "email": "bob@example.com", "country": "US"}, "America/New_York"),
    ("cem", {"first_name": "Cem", "email": "cem@example.com", "country": "TR"}, "Europe/Istanbul"),
    ("dee", {"first_name": "Dee", "email": "dee@example.com", "country": "GB"}, "Europe/London"),
    ("eve", {"first_name": "Eve", "email": "eve@example.com", "country": "DE"}, "Europe/Berlin"),
]


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
]


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
    if not Journey.objects.filter(workspace=workspace, name=DISCOUNTS["name"]).exists():
        journey_publish(journey=journey_create(workspace=workspace, actor=owner, document=DISCOUNTS), actor=owner)


def _events(now: Any) -> list[dict]:
    def at(hours_ago: float) -> str:
        return (now - timedelta(hours=hours_ago)).isoformat()

    events: list[dict] = []
    for user_id, traits, tz in PEOPLE:
        events.append(
            {
                "type": "identify",
                "userId": user_id,
                "traits": traits,
                "timestamp": at(72),
                "context": {"timezone": tz},
                "messageId": f"demo-identify-{user_id}",
            }
        )
    story: list[tuple[str, str, dict[str, Any], float]] = [
        ("ann", "screen", {"name": "Spring Discounts"}, 50),
        ("ann", "track", {"event": "add_to_favorites", "properties": {"product_id": "sku-1"}}, 30),
        ("ann", "track", {"event": "purchase", "properties": {"price": 150, "currency": "EUR"}}, 5),
        ("bob", "screen", {"name": "Home"}, 40),
        ("cem", "screen", {"name": "Spring Discounts"}, 48),
        ("dee", "track", {"event": "update_cart", "properties": {"items": 2, "value": 80}}, 60),
        ("dee", "track", {"event": "update_cart", "properties": {"items": 3, "value": 95}}, 20),
        ("eve", "track", {"event": "update_cart", "properties": {"items": 1, "value": 30}}, 26),
        ("eve", "track", {"event": "purchase", "properties": {"price": 30, "currency": "EUR"}}, 24),
        ("eve", "page", {"name": "Pricing", "properties": {"url": "https://shop.example/pricing"}}, 10),
    ]
    for index, (user_id, kind, fields, hours) in enumerate(story):
        events.append({"type": kind, "userId": user_id, "timestamp": at(hours), "messageId": f"demo-{index}", **fields})
    return events


class Command(BaseCommand):
    help = "Create (once) the demo workspace, its panel login, profiles and activities."

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
                    "stored_activities": len(result.activity_ids),
                }
            )
        )
