"""The journey pages beyond the wizard's happy path, in real headless chromium against gunicorn and a real
Celery worker: import a document with a dangling path, see it at Launch and fix it in Build; the
backtest's progress and numbers; the simulator; the list's actions with their confirmation; what an
analyst sees; switching workspaces."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from activities.models import Activity, Profile
from journeys.models import Journey, JourneyStatus
from messaging.models import Template
from tests.panel.conftest import choose, log_in, screenshot
from tests.personas import tenant_create
from workspaces.models import Role
from workspaces.services import membership_set

pytestmark = pytest.mark.slow

DANGLING = {
    "name": "Imported winback",
    "entry": {
        "type": "event",
        "event": "screen_view",
        "where": {"property": "screen_name", "op": "contains", "value": "Sale"},
    },
    "start": "fav",
    "nodes": {
        "fav": {
            "type": "wait_event",
            "event": "add_to_favorites",
            "timeout": "P1D",
            "on_performed": "thanks",
            "on_timeout": "gone",
        },
        "thanks": {"type": "send", "channel": "sms", "template": "post-purchase-survey", "next": None},
    },
}


@pytest.fixture
def shop(acme):
    Template.objects.get_or_create(
        workspace=acme.workspace, channel="sms", name="post-purchase-survey", defaults={"content": {"body": "Hi"}}
    )
    now = timezone.now()
    for user, screen in (("ann", "Big Sale"), ("bob", "Sale today"), ("cem", "Home")):
        profile = Profile.objects.create(workspace=acme.workspace, user_id=user, first_seen=now, last_seen=now)
        Activity.objects.create(
            workspace=acme.workspace,
            profile=profile,
            name="screen_view",
            properties={"screen_name": screen},
            timestamp=now - timedelta(days=2),
            received_at=now - timedelta(days=2),
            message_id=f"{user}-screen",
        )
    return acme


def test_import_fix_backtest_simulate_and_pause(page: Page, live_nudge: str, celery_worker_process, shop):
    base = live_nudge
    log_in(page, base, shop.members[Role.MARKETER].username)
    page.goto(f"{base}/journeys/journey/import/")
    page.fill("textarea[name=document]", "{not json")
    page.click("button[data-import]")
    expect(page.locator("[data-errors=import]")).to_contain_text("This is not JSON")
    page.fill("textarea[name=document]", json.dumps(DANGLING))
    page.click("button[data-import]")
    page.wait_for_url(re.compile(r"/setup/$"))
    journey = Journey.objects.get(workspace=shop.workspace, name="Imported winback")

    # Launch names the dangling path and links to the step; publishing is not offered.
    page.click("a[data-step=launch]")
    problem = page.locator("li[data-field='nodes.fav.on_timeout']")
    expect(problem).to_contain_text("points to no node")
    expect(page.locator("button[data-publish]")).to_be_disabled()
    screenshot(page, "10-launch-problems")
    problem.locator("a").click()
    page.wait_for_url(re.compile(r"/build/\?node=fav$"))
    expect(page.locator("g.node.missing[data-missing=gone]")).to_be_visible()
    expect(page.locator("g.node.invalid[data-node=fav]")).to_be_visible()
    # The marketer deletes the broken state (its SMS goes with it: only the state led there) …
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#node-panel button.button-danger")
    page.wait_for_url(re.compile(r"/build/$"))
    # … and starts again with an SMS right after the trigger.
    expect(page.locator("g.add[data-from=trigger]")).to_be_visible()
    page.click("g.add[data-from=trigger]")
    page.click("a.kind-choice[data-kind=send]")
    expect(page.locator("#node-panel[data-mode=edit]")).to_be_visible()
    choose(page, "#node-panel select[name=channel]", "sms")
    page.select_option("#node-panel select[name=template]", "post-purchase-survey")
    page.click("#node-panel button[name=save_node]")
    expect(page.locator("g.node.node-send")).to_have_count(1)
    journey.refresh_from_db()
    assert set(journey.draft["nodes"]) == {"send"} and journey.draft["start"] == "send"

    # The backtest runs on the worker: progress, then the numbers (ann and bob saw a Sale screen).
    page.goto(f"{base}/journeys/journey/{journey.pk}/launch/")
    expect(page.locator("[data-problems]")).to_have_attribute("data-problems", "0")
    page.click("button[data-run-backtest]")
    expect(page.locator("#backtest[data-backtest=done]")).to_be_visible(timeout=60_000)
    expect(page.locator("[data-number=would-have-entered]")).to_have_text("2")
    expect(page.locator("[data-number=messaged]")).to_have_text("2")
    page.reload()  # the result stays, and is drawn on the flow
    expect(page.locator("g.edge[data-from=trigger][data-count='2']")).to_be_visible()
    screenshot(page, "11-backtest")

    # The simulator, prefilled with the trigger event for one profile: typed rows, no JSON.
    page.goto(f"{base}/journeys/journey/{journey.pk}/simulate/")
    expect(page.locator("select[name=events-0-event]")).to_have_value("screen_view")
    page.fill("input[name=events-0-properties]", "screen_name = Sale")
    page.fill("input[name=events-0-at]", "2026-11-02T10:00")
    page.fill("input[name=until]", "2026-11-03T00:00")
    page.click("button[data-run]")
    expect(page.locator("[data-profile=ann] [data-message=send]")).to_contain_text("SMS · post-purchase-survey")
    expect(page.locator("g.node.taken[data-node=send]")).to_be_visible()
    screenshot(page, "12-simulator")

    # Publish, then pause from the list, confirmed on a page of its own.
    page.goto(f"{base}/journeys/journey/{journey.pk}/launch/")
    page.click("button[data-publish]")
    page.wait_for_url(re.compile(r"/live/$"))
    page.goto(f"{base}/journeys/journey/")
    expect(page.locator("#result_list")).to_contain_text("Imported winback")
    screenshot(page, "13-journeys")
    page.check(f"input[name=_selected_action][value='{journey.pk}']")
    page.select_option("select[name=action]", "pause_selected")
    page.click("#changelist-actions button[type=submit]")
    expect(page.locator("[data-confirm]")).to_be_visible()
    assert Journey.objects.get(pk=journey.pk).status == JourneyStatus.LIVE  # not before it is confirmed
    page.click("[data-confirm]")
    page.wait_for_url(re.compile(r"/journeys/journey/$"))
    assert Journey.objects.get(pk=journey.pk).status == JourneyStatus.PAUSED


def test_an_analyst_sees_no_buttons_that_change_things_and_a_member_switches_workspaces(page: Page, live_nudge, shop):
    base = live_nudge
    journey = Journey.objects.create(workspace=shop.workspace, name="Read me", draft=DANGLING)
    analyst = shop.members[Role.ANALYST]
    other = tenant_create("Globex")
    membership_set(workspace=other.workspace, user=analyst, role=Role.MARKETER, actor=other.owner)
    Journey.objects.create(workspace=other.workspace, name="Globex journey", draft={"name": "Globex journey"})
    log_in(page, base, analyst.username)

    page.goto(f"{base}/journeys/journey/")
    expect(page.locator("#result_list")).to_contain_text("Read me")
    expect(page.locator("#result_list")).not_to_contain_text("Globex journey")
    page.goto(f"{base}/journeys/journey/{journey.pk}/build/")
    expect(page.get_by_text("You can look at this journey")).to_be_visible()
    expect(page.locator("g.add a")).to_have_count(0)  # no "+ add step" to click
    expect(page.locator("g.add.end").first).to_contain_text("exit")  # where profiles leave instead
    page.goto(f"{base}/journeys/journey/{journey.pk}/launch/")
    expect(page.locator("button[data-publish]")).to_have_count(0)
    expect(page.locator("button[data-run-backtest]")).to_have_count(0)
    screenshot(page, "14-analyst")

    # The switcher: Globex, where the same person is a marketer.
    page.click("text=unfold_more >> nth=0")
    page.click(f"a[href^='/switch/{other.workspace.pk}/']")
    page.goto(f"{base}/journeys/journey/")
    expect(page.locator("#result_list")).to_contain_text("Globex journey")
    expect(page.locator("#result_list")).not_to_contain_text("Read me")
    assert page.goto(f"{base}/journeys/journey/{journey.pk}/build/").status == 404  # Acme's, from Globex
