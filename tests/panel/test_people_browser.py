"""People in real headless chromium against gunicorn: an owner finds a profile by email, opens its
page and pages back through its timeline; then deletes another on a privacy request, after a wrong
confirmation is refused. Photographed under var/screenshots/people-*.png."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from activities.models import Activity, Profile
from behaviors.models import Behavior
from behaviors.services import behavior_resume
from messaging.models import Message
from tests.panel.conftest import log_in, screenshot
from tests.panel.test_activities_browser import _send
from workspaces.models import AuditLogEntry, Role

pytestmark = pytest.mark.slow


def test_find_a_profile_open_its_timeline_and_delete_one(django_db_setup, page: Page, live_nudge: str, acme):
    # django_db_setup first: the test database exists before chromium's event loop starts (run alone).
    base = live_nudge
    now = datetime.now(UTC)
    calls: list[tuple[str, dict]] = [
        (
            "identify",
            {
                "user_id": "ann",
                "anonymous_id": "anon-ann",
                "traits": {"email": "ann@shop.test", "first_name": "Ann", "plan": "pro", "phone": "+905551112233"},
                "context": {"timezone": "Europe/Istanbul", "device": {"token": "tok-ann-0123456789", "type": "ios"}},
            },
        ),
        ("identify", {"user_id": "bob", "traits": {"email": "bob@shop.test", "plan": "free"}}),
        ("track", {"user_id": "bob", "event": "purchase", "properties": {"price": 5}}),
    ]
    calls += [
        (
            "track",
            {
                "user_id": "ann",
                "event": "screen_view" if i % 3 else "add_to_cart",
                "properties": {"screen_name": f"Screen {i}", "i": i},
                "timestamp": now - timedelta(minutes=40 - i),
            },
        )
        for i in range(30)
    ]
    behavior_resume(behavior=Behavior.objects.get(workspace=acme.workspace, slug="abandoned_cart"), actor=acme.owner)
    calls.append(("track", {"user_id": "ann", "event": "update_cart", "properties": {"sku": "A1"}}))
    _send(acme.write_key, base, calls)
    Message.objects.create(
        workspace=acme.workspace,
        profile=Profile.objects.get(user_id="ann"),
        channel="email",
        template="welcome",
        idempotency_key="ann-welcome",
    )
    log_in(page, base, acme.members[Role.OWNER].username)

    page.click("a[href='/activities/profile/']")
    expect(page.locator("#result_list a[data-profile]")).to_have_count(2)
    page.fill("input[name=q]", "ANN@shop.test")
    page.keyboard.press("Enter")
    expect(page.locator("#result_list a[data-profile]")).to_have_count(1)
    screenshot(page, "people-search")
    page.locator("#result_list a[data-profile]").click()

    expect(page.locator("[data-traits]")).to_contain_text("Ann")
    expect(page.locator("[data-identities]")).to_contain_text("anon-ann")
    expect(page.locator("[data-devices]")).to_contain_text("ios")
    rows = page.locator("[data-timeline] .timeline-row")
    expect(page.locator("[data-matches]")).to_contain_text("Abandoned cart")
    expect(page.locator("[data-messages]")).to_contain_text("welcome")
    expect(rows).to_have_count(25)
    expect(rows.first).to_have_attribute("data-name", "update_cart")  # newest first
    expect(rows.nth(1)).to_have_attribute("data-name", "identify")
    expect(rows.nth(2)).to_contain_text("Screen 29")
    page.click("button[data-older]")
    expect(rows).to_have_count(32)  # 31 tracks and the identify, each once
    expect(rows.last).to_contain_text("Screen 0")
    expect(page.locator("button[data-older]")).to_have_count(0)
    screenshot(page, "people-profile")

    page.fill("#timeline-name", "add_to_cart")
    page.click("[data-timeline-filter] button")
    expect(rows).to_have_count(10)

    # A privacy request for Bob: the owner is told what goes, a wrong name deletes nothing.
    bob = Profile.objects.get(workspace=acme.workspace, user_id="bob")
    page.goto(f"{base}/activities/profile/{bob.pk}/change/")
    page.click("a[data-delete]")
    expect(page.locator("[data-doomed]")).to_contain_text("2 activities on the timeline")
    page.fill("input[name=confirm]", "Bob")
    page.click("button[data-confirm]")
    expect(page.locator("[data-error=confirm]")).to_contain_text("nothing was deleted")
    assert Profile.objects.filter(pk=bob.pk).exists()
    screenshot(page, "people-delete")
    page.fill("input[name=confirm]", "bob")
    page.click("button[data-confirm]")
    page.wait_for_url(f"{base}/activities/profile/")
    expect(page.locator("#result_list a[data-profile]")).to_have_count(1)
    assert not Profile.objects.filter(pk=bob.pk).exists() and not Activity.objects.filter(profile_id=bob.pk).exists()
    assert AuditLogEntry.objects.filter(action="deleted", object_type="profile", object_id=str(bob.pk)).exists()
