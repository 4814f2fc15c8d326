"""A marketer builds PRODUCT.md's seed journey in a fresh workspace through the wizard only, in real
headless chromium against gunicorn: Setup, Entry Rules, Audience, Build, Launch; then events sent
through Segment's Python client show up as counts on the live journey's flow. Every step is
photographed under var/screenshots/."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect
from segment.analytics import Client

from activities.models import EvaluationBatch
from activities.pipeline import batch_process
from journeys.models import Journey, JourneyStatus
from tests.panel.conftest import choose, log_in, screenshot
from workspaces.models import Role

pytestmark = pytest.mark.slow

SEED_NAME = "Discounts → favorites → purchase"


def _drain() -> None:
    """The evaluation pipeline, as the worker runs it."""
    for batch in EvaluationBatch.objects.order_by("pk"):
        batch_process(batch.pk)


def _send(write_key: str, base: str, calls: list[tuple[str, dict]]) -> None:
    errors: list[Exception] = []
    client = Client(write_key, host=base, max_retries=1, on_error=lambda error, batch: errors.append(error))
    for kind, arguments in calls:
        getattr(client, kind)(**arguments)
    client.flush()
    client.join()
    assert errors == []
    _drain()


def _templates(base: str, token: str) -> None:
    for body in (
        {"name": "post-purchase-survey", "channel": "sms", "content": {"body": "Thanks! How did we do?"}},
        {
            "name": "liked-this-item",
            "channel": "push",
            "content": {"title": "Still thinking?", "body": "It is on sale."},
        },
    ):
        answer = httpx.post(f"{base}/api/v1/templates/", json=body, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 201, answer.text


def _fill_filter(page: Page, prefix: str, row: int, name: str, op: str, value: str) -> None:
    page.fill(f"input[name={prefix}-{row}-property]", name)
    page.select_option(f"select[name={prefix}-{row}-op]", op)
    page.fill(f"input[name={prefix}-{row}-value]", value)


def test_a_marketer_builds_launches_and_watches_the_seed_journey(page: Page, live_nudge: str, acme):
    base = live_nudge
    _templates(base, acme.tokens[Role.OWNER])
    # What the app already tracks: the activities (and their properties) the wizard offers.
    _send(
        acme.write_key,
        base,
        [
            ("screen", {"user_id": "warmup", "name": "Home"}),
            ("track", {"user_id": "warmup", "event": "add_to_favorites", "properties": {"item": "shoe"}}),
            ("track", {"user_id": "warmup", "event": "purchase", "properties": {"price": 20}}),
        ],
    )
    marketer = acme.members[Role.MARKETER]
    log_in(page, base, marketer.username)
    screenshot(page, "00-dashboard")

    page.click("a[href='/journeys/journey/']")
    expect(page.locator("[data-empty]")).to_contain_text("No journeys yet")
    page.click("[data-empty] a.button-primary")

    # 1. Setup: the draft is made when it is saved, not when the page opens.
    page.wait_for_url(re.compile(r"/journeys/journey/add/$"))
    assert not Journey.objects.filter(workspace=acme.workspace).exists()
    page.fill("input[name=name]", SEED_NAME)
    page.fill("textarea[name=description]", "Engage users who look at discounts")
    choose(page, "select[name=conversion_event]", "purchase")
    page.click("button[name=add_filter]")
    page.wait_for_selector("input[name=conversion-0-property]")
    _fill_filter(page, "conversion", 0, "price", "gt", "100")
    page.fill("input[name=conversion_window_0]", "30")
    page.select_option("select[name=conversion_window_1]", "days")
    page.check("input[name=exit_on_conversion]")
    screenshot(page, "01-setup")
    page.click("button[name=next]")

    # 2. Entry Rules: Screen View whose screen_name contains "Discounts", the seed's entry schedule.
    page.wait_for_url(re.compile(r"/entry/$"))
    choose(page, "select[name=event]", "screen_view")
    page.click("button[name=add_filter]")
    page.wait_for_selector("input[name=trigger-0-property]")
    _fill_filter(page, "trigger", 0, "screen_name", "contains", "Discounts")
    page.check("input[name=mode][value=multiple]")
    page.fill("input[name=lock_0]", "1")
    page.select_option("select[name=lock_1]", "months")
    page.fill("input[name=cap_max]", "2")
    page.fill("input[name=cap_period_0]", "2")
    page.select_option("select[name=cap_period_1]", "months")
    screenshot(page, "02-entry-rules")
    page.click("button[name=next]")

    # 3. Audience: all users (the estimate counts the workspace's profiles).
    page.wait_for_url(re.compile(r"/audience/$"))
    expect(page.locator("[data-estimate]")).to_have_text("1")
    screenshot(page, "03-audience")
    page.click("button[name=next]")

    # 4. Build: State (add_to_favorites, 3 days), SMS on performed, push on timed out.
    page.wait_for_url(re.compile(r"/build/$"))
    page.click("g.add[data-from=trigger]")
    page.click("a.kind-choice[data-kind=wait_event]")
    page.click("#node-panel button[name=save_node]")  # nothing chosen: the errors show at their fields
    expect(page.locator("#node-panel")).to_contain_text("Choose the activity to wait for")
    expect(page.locator("g.node[data-node=state]")).to_have_count(0)
    choose(page, "#node-panel select[name=event]", "add_to_favorites")
    page.fill("#node-panel input[name=timeout_0]", "3")
    page.select_option("#node-panel select[name=timeout_1]", "days")
    page.click("#node-panel button[name=save_node]")
    expect(page.locator("g.node[data-node=state]")).to_be_visible()
    for key, channel, template in (
        ("on_performed", "sms", "post-purchase-survey"),
        ("on_timeout", "push", "liked-this-item"),
    ):
        page.click(f"g.add[data-from=state][data-key={key}]")
        page.click("a.kind-choice[data-kind=send]")
        choose(page, "#node-panel select[name=channel]", channel)
        page.select_option("#node-panel select[name=template]", template)
        page.click("#node-panel button[name=save_node]")
        page.wait_for_selector(f"g.edge[data-from=state][data-key={key}][data-to]")
    expect(page.locator("g.node.node-send")).to_have_count(2)
    screenshot(page, "04-build")
    page.click("a[data-next]")

    # 5. Launch: no problems; publish.
    page.wait_for_url(re.compile(r"/launch/$"))
    expect(page.locator("[data-problems]")).to_have_attribute("data-problems", "0")
    screenshot(page, "05-launch")
    page.click("button[data-publish]")
    page.wait_for_url(re.compile(r"/live/$"))

    journey = Journey.objects.get(workspace=acme.workspace, name=SEED_NAME)
    assert journey.status == JourneyStatus.LIVE
    assert journey.created_by == marketer
    version = journey.live_version
    assert version is not None
    assert version.document["conversion"] == {
        "event": "purchase",
        "where": {"property": "price", "op": "gt", "value": 100},
        "window": "P30D",
        "exit_on_conversion": True,
    }
    assert version.document["entry"] == {
        "type": "event",
        "event": "screen_view",
        "where": {"property": "screen_name", "op": "contains", "value": "Discounts"},
    }
    assert version.document["reentry"] == {
        "mode": "multiple",
        "lock": "P1M",
        "cap": {"max_entries": 2, "period": "P2M"},
    }
    assert version.document["audience"] == {"segments": [], "exclude_segments": []}
    nodes = version.document["nodes"]
    start = version.document["start"]
    assert nodes[start]["type"] == "wait_event" and nodes[start]["event"] == "add_to_favorites"
    assert nodes[start]["timeout"] == "P3D"
    assert nodes[nodes[start]["on_performed"]] == {
        "type": "send",
        "channel": "sms",
        "template": "post-purchase-survey",
        "next": None,
    }
    assert nodes[nodes[start]["on_timeout"]] == {
        "type": "send",
        "channel": "push",
        "template": "liked-this-item",
        "next": None,
    }

    # Two shoppers look at discounts; one of them adds a favourite (→ SMS); one looks at Home (no entry).
    _send(
        acme.write_key,
        base,
        [
            ("screen", {"user_id": "ann", "name": "Spring Discounts"}),
            ("screen", {"user_id": "bob", "name": "Discounts for you"}),
            ("screen", {"user_id": "cem", "name": "Home"}),
        ],
    )
    _send(
        acme.write_key,
        base,
        [("track", {"user_id": "ann", "event": "add_to_favorites", "properties": {"item": "hat"}})],
    )
    page.reload()
    expect(page.locator("[data-kpi=entries]")).to_have_text("2")
    expect(page.locator("[data-kpi=active-now]")).to_have_text("1")
    state = page.locator(f"g.node[data-node={start}]")
    expect(state).to_contain_text("2 entered")
    expect(state).to_contain_text("1 waiting now")
    performed = page.locator(f"g.edge[data-from={start}][data-key=on_performed]")
    expect(performed).to_contain_text("1")
    screenshot(page, "06-live")


def test_what_is_typed_while_the_setup_redraws_is_kept(page: Page, live_nudge: str, acme):
    """Picking the conversion event redraws the form (its filters follow the event); a window typed
    while that answer is on its way was wiped by it. The answer is held back here to make the race sure."""
    base = live_nudge
    log_in(page, base, acme.members[Role.MARKETER].username)
    page.goto(f"{base}/journeys/journey/add/")
    held: list = []
    page.route(
        "**/journeys/journey/add/",
        lambda route: held.append(route) if route.request.method == "POST" else route.continue_(),
    )
    page.select_option("select[name=conversion_event]", "screen_view")  # the redraw is asked for, and held
    while not held:
        page.wait_for_timeout(50)
    page.fill("input[name=conversion_window_0]", "7")
    page.select_option("select[name=conversion_window_1]", "days")
    page.fill("input[name=name]", "Typed meanwhile")
    with page.expect_response(lambda r: r.request.method == "POST"):
        held[0].continue_()
    expect(page.locator("select[name=conversion_event]")).to_have_value("screen_view")  # the redraw landed
    expect(page.locator("input[name=conversion_window_0]")).to_have_value("7")
    expect(page.locator("select[name=conversion_window_1]")).to_have_value("days")
    expect(page.locator("input[name=name]")).to_have_value("Typed meanwhile")
