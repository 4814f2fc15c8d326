"""Activities in real headless chromium against gunicorn: a marketer reads the tracked activities and
one name's page, then watches events sent through Segment's Python client arrive in the live stream
(and not while it is paused). Photographed under var/screenshots/activities-*.png."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect
from segment.analytics import Client

from activities.models import EvaluationBatch
from activities.pipeline import batch_process
from tests.panel.conftest import log_in, screenshot
from workspaces.models import Role

pytestmark = pytest.mark.slow


def _send(write_key: str, base: str, calls: list[tuple[str, dict]]) -> None:
    errors: list[Exception] = []
    client = Client(write_key, host=base, max_retries=1, on_error=lambda error, batch: errors.append(error))
    for kind, arguments in calls:
        getattr(client, kind)(**arguments)
    client.flush()
    client.join()
    assert errors == []
    for batch in EvaluationBatch.objects.order_by("pk"):  # the pipeline, as the worker runs it
        batch_process(batch.pk)


def test_tracked_activities_and_the_live_stream(django_db_setup, page: Page, live_nudge: str, acme):
    # django_db_setup first: the test database exists before chromium's event loop starts (run alone).
    base = live_nudge
    _send(
        acme.write_key,
        base,
        [
            ("identify", {"user_id": "ann", "traits": {"email": "ann@shop.test", "plan": "pro"}}),
            ("track", {"user_id": "ann", "event": "purchase", "properties": {"price": 120, "currency": "EUR"}}),
            ("track", {"user_id": "bob", "event": "purchase", "properties": {"price": 15, "sku": "A1"}}),
            ("screen", {"user_id": "bob", "name": "Spring Discounts"}),
        ],
    )
    log_in(page, base, acme.members[Role.MARKETER].username)

    page.click("a[href='/activities/trackedactivity/']")
    expect(page.locator("#result_list")).to_contain_text("price (number)")
    screenshot(page, "activities-list")
    page.locator("#result_list a", has_text="purchase").first.click()
    expect(page.locator("[data-kpi=count]")).to_have_text("2")
    expect(page.locator("[data-properties]")).to_contain_text("currency")
    screenshot(page, "activities-name")

    # The live stream, filtered to nothing: every activity. An event sent now appears without a reload.
    page.click("a[data-watch]")
    expect(page.locator("#stream-rows .stream-row")).to_have_count(2)  # the purchases
    page.click("a.button-link")  # Every activity
    expect(page.locator("#stream-rows .stream-row")).to_have_count(4)
    _send(acme.write_key, base, [("track", {"user_id": "cem", "event": "checkout_started", "properties": {"n": 1}})])
    arrived = page.locator("#stream-rows .stream-row[data-name=checkout_started]")
    expect(arrived).to_have_count(1, timeout=10_000)
    expect(page.locator("#stream-rows .stream-row").first).to_have_attribute("data-name", "checkout_started")
    expect(arrived).to_contain_text("cem")
    screenshot(page, "activities-stream")

    # Paused, nothing is added; resumed, what came meanwhile appears once.
    page.click("button[data-pause]")
    expect(page.locator("[data-live-state]")).to_contain_text("Paused")
    _send(acme.write_key, base, [("track", {"user_id": "cem", "event": "checkout_done"})])
    time.sleep(4.5)
    expect(page.locator("#stream-rows .stream-row[data-name=checkout_done]")).to_have_count(0)
    screenshot(page, "activities-stream-paused")
    page.click("button[data-pause]")
    expect(page.locator("#stream-rows .stream-row[data-name=checkout_done]")).to_have_count(1, timeout=10_000)
    expect(page.locator("#stream-rows .stream-row")).to_have_count(6)

    # Filtered by profile: the profile's link opens their page.
    page.fill("input[name=profile]", "cem")
    page.click("#stream form button[type=submit]")
    expect(page.locator("#stream-rows .stream-row")).to_have_count(2)
    page.locator("#stream-rows a.stream-profile").first.click()
    expect(page.locator("[data-timeline]")).to_contain_text("checkout_done")
