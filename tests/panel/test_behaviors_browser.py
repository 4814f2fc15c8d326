"""Behaviors in real headless chromium against gunicorn: the list with the five shipped behaviors in
words; a marketer builds the abandoned-cart behavior in the form (a missing window named at its field
first), starts it, backfills the last week with the progress on the page, and sees it fire in the
simulator on typed events."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from activities.models import Activity, Profile, TrackedActivity
from behaviors.backfill import backfills_run
from behaviors.models import Behavior
from tests.panel.conftest import choose, log_in, screenshot
from workspaces.models import Role

pytestmark = pytest.mark.slow


def test_create_the_abandoned_cart_in_the_form_and_see_it_fire_in_the_simulator(live_nudge: str, acme, page: Page):
    base = live_nudge
    now = datetime(2026, 11, 1, tzinfo=UTC)
    for name, properties in (("update_cart", {"total": ["number"]}), ("purchase", {"price": ["number"]})):
        TrackedActivity.objects.create(
            workspace=acme.workspace, name=name, count=1, first_seen=now, last_seen=now, properties=properties
        )
    moment = timezone.now()
    for user, days_ago in (("gus", 5), ("hal", 1)):  # gus's window closed two days ago; hal's is open
        profile = Profile.objects.create(workspace=acme.workspace, user_id=user, first_seen=moment, last_seen=moment)
        at = moment - timedelta(days=days_ago)
        Activity.objects.create(
            workspace=acme.workspace,
            profile=profile,
            name="update_cart",
            properties={"total": 30},
            timestamp=at,
            received_at=at,
            message_id=f"{user}-cart",
        )
    log_in(page, base, acme.members[Role.MARKETER].username)

    page.goto(f"{base}/behaviors/behavior/")
    expect(page.locator("#result_list")).to_contain_text("update_cart not followed by purchase within 3 days")
    expect(page.locator("#result_list")).to_contain_text("failed_payment, fires at once")
    screenshot(page, "behaviors-list")

    page.goto(f"{base}/behaviors/behavior/add/")
    page.fill("input[name=name]", "Cart left behind")
    choose(page, "select[name=steps-0-activity]", "update_cart")
    page.click("button[data-add-filter='0']")
    page.fill("input[name=where0-0-property]", "total")
    page.select_option("select[name=where0-0-op]", "gt")
    page.fill("input[name=where0-0-value]", "20")
    page.click("button[data-add-step]")
    expect(page.locator("[data-step='1']")).to_be_visible()
    choose(page, "select[name=steps-1-kind]", "not_performed")
    choose(page, "select[name=steps-1-activity]", "purchase")
    page.click("button[data-save]")  # no window yet: named at the field, nothing saved
    expect(page.locator("[data-step='1'] [data-field=within]")).to_contain_text(
        "Is required: how long the activity must not happen."
    )
    assert not Behavior.objects.filter(slug="cart_left_behind").exists()
    screenshot(page, "behaviors-form-error")
    page.fill("input[name=steps-1-within_0]", "3")
    page.select_option("select[name=steps-1-within_1]", "days")
    page.click("button[data-save]")
    page.wait_for_url(re.compile(r"/behaviors/behavior/\d+/change/$"))
    expect(page.locator("[data-sentence]")).to_have_text(
        "update_cart where total is greater than 20, not followed by purchase within 3 days"
    )
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "live")

    # Backfill the last week: the card shows its progress, then what it found (the backfill's batches run
    # here rather than on a worker; the page polls as it would).
    page.fill("#backfill input[name=days]", "7")
    page.click("button[data-run-backfill]")
    expect(page.locator("#backfill")).to_have_attribute("data-backfill", "running")
    screenshot(page, "behaviors-backfill-running")
    backfills_run(budget_seconds=10)
    expect(page.locator("#backfill")).to_have_attribute("data-backfill", "done", timeout=20_000)
    expect(page.locator("[data-number=opened]")).to_have_text("1")
    expect(page.locator("[data-number=fired]")).to_have_text("1")
    page.reload()
    expect(page.locator("[data-matches]")).to_contain_text("hal")
    expect(page.locator("[data-kpi=fired-30-days]")).to_have_text("1")
    screenshot(page, "behaviors-page")

    page.click("a[data-simulate]")
    expect(page.locator("select[name=events-0-event]")).to_have_value("update_cart")  # the first step, now
    page.fill("input[name=events-0-properties]", "total = 45")
    page.click("button[data-add-event]")
    page.fill("input[name=events-1-who]", "eve")
    page.select_option("select[name=events-1-event]", "update_cart")
    page.fill("input[name=events-1-at]", page.input_value("input[name=events-0-at]"))
    page.fill("input[name=events-1-properties]", "total = 45")
    page.click("button[data-add-event]")
    page.fill("input[name=events-2-who]", "eve")
    page.select_option("select[name=events-2-event]", "purchase")
    page.fill("input[name=events-2-at]", page.input_value("input[name=events-0-at]"))
    page.click("button[data-run]")
    expect(page.locator("[data-profile=ann] [data-fired]")).to_contain_text("Fired")
    expect(page.locator("[data-profile=eve] [data-not-fired]")).to_be_visible()
    screenshot(page, "behaviors-simulator")

    page.goto(f"{base}/behaviors/behavior/")
    expect(page.locator("[data-fired-chart] canvas")).to_be_visible()
    screenshot(page, "behaviors-list-firing")

    # A shipped one with an inactive step reads back into the form: no activity to choose, a duration "For".
    page.click("a[data-behavior=slipping_away]")
    page.click("a[data-edit]")
    inactive = page.locator("[data-step='3']")
    expect(inactive).to_have_attribute("data-kind", "inactive")
    expect(inactive.locator("select[name=steps-3-activity]")).to_have_count(0)
    expect(inactive.locator("input[name=steps-3-within_0]")).to_have_value("30")
    expect(page.locator("select[name=steps-2-activity]")).to_have_value("*")
    screenshot(page, "behaviors-form-slipping-away")
