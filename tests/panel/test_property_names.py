"""Properties and data named like a mapping's methods (`items`, `keys`, `values`) are shown as any other
name on every page that lists them: a template's `mapping.items` would have looked the key up first — a
cart's `items` made the demo's "Abandoned cart" behavior and every journey triggered by `update_cart` a 500."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from activities.models import Profile, TrackedActivity
from behaviors.models import Behavior
from journeys.services import journey_create
from messaging.models import Message
from tests.personas import Tenant
from workspaces.models import Role

pytestmark = pytest.mark.django_db

NAMES = {"items": ["array"], "keys": ["string"], "values": ["number"], "total": ["number"]}


@pytest.fixture
def shop(acme: Tenant) -> Tenant:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    TrackedActivity.objects.create(
        workspace=acme.workspace, name="update_cart", count=1, first_seen=now, last_seen=now, properties=NAMES
    )
    return acme


def marketer(tenant: Tenant) -> Client:
    client = Client()
    client.force_login(tenant.members[Role.MARKETER])
    return client


def offered(html: str) -> list[str]:
    """The property names a filter row's datalist offers."""
    return [name for name in NAMES if f'<option value="{name}">' in html]


def test_the_wizard_offers_them_as_trigger_and_conversion_filters(shop):
    journey = journey_create(workspace=shop.workspace, actor=shop.owner, document={"name": "Cart"})
    client = marketer(shop)
    entry = client.post(
        reverse("panel:journeys_journey_entry", args=[journey.pk]),
        {
            "revision": str(journey.draft_revision),
            "type": "event",
            "event": "update_cart",
            "mode": "multiple",
            "trigger-TOTAL_FORMS": "0",
            "trigger-INITIAL_FORMS": "0",
            "add_filter": "1",
        },
    )
    assert entry.status_code == 200 and offered(entry.content.decode()) == list(NAMES)
    setup = client.post(
        reverse("panel:journeys_journey_setup", args=[journey.pk]),
        {
            "revision": str(journey.draft_revision),
            "name": "Cart",
            "conversion_event": "update_cart",
            "conversion-TOTAL_FORMS": "0",
            "conversion-INITIAL_FORMS": "0",
            "add_filter": "1",
        },
    )
    assert setup.status_code == 200 and offered(setup.content.decode()) == list(NAMES)


def test_the_abandoned_cart_behavior_opens_for_editing(shop):
    cart = Behavior.objects.get(workspace=shop.workspace, slug="abandoned_cart")
    page = marketer(shop).get(reverse("panel:behaviors_behavior_edit", args=[cart.pk]))
    assert page.status_code == 200 and offered(page.content.decode()) == list(NAMES)


def test_a_message_shows_its_events_items_and_a_push_preview_its_data(shop):
    ayse = Profile.objects.create(workspace=shop.workspace, user_id="ayse")
    event = {"items": ["sku-1", "sku-2"], "keys": "k", "values": 3}
    message = Message.objects.create(
        workspace=shop.workspace,
        profile=ayse,
        channel="sms",
        template="t",
        idempotency_key="k1",
        payload={"event": event},
    )
    client = marketer(shop)
    page = client.get(reverse("panel:messaging_message_change", args=[message.pk])).content.decode()
    assert all(f"<dt>{name}</dt>" in page for name in event) and "sku-2" in page
    preview = client.post(
        reverse("panel:messaging_template_preview"),
        {"channel": "push", "c-title": "Hi", "c-body": "Cart", "c-data": "items: 2\nkeys: k"},
    )
    assert preview.status_code == 200
    assert "<dt>items</dt><dd>2</dd>" in preview.content.decode()
