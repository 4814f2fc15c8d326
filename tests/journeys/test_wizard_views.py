"""The journey wizard's pages through Django's test client: every step's bad input is an error at its
field with nothing saved, two marketers saving one draft get a conflict, and every page and action is
held to the member's role and workspace."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

import pytest
from django.test import Client
from django.urls import reverse

from activities.models import TrackedActivity
from journeys.backtest import backtests_run
from journeys.models import Journey, JourneyStatus
from journeys.services import journey_create, journey_publish
from messaging.models import Template
from tests.personas import Tenant
from workspaces.models import AuditLogEntry, Role

pytestmark = pytest.mark.django_db

SEED: dict[str, Any] = {
    "name": "Discounts → favorites → purchase",
    "conversion": {"event": "purchase", "where": {"property": "price", "op": "gt", "value": 100}, "window": "P30D"},
    "entry": {
        "type": "event",
        "event": "screen_view",
        "where": {"property": "screen_name", "op": "contains", "value": "Discounts"},
    },
    "reentry": {"mode": "multiple", "lock": "P1M", "cap": {"max_entries": 2, "period": "P2M"}},
    "audience": {"segments": [], "exclude_segments": []},
    "start": "fav",
    "nodes": {
        "fav": {
            "type": "wait_event",
            "event": "add_to_favorites",
            "timeout": "P3D",
            "on_performed": "thanks",
            "on_timeout": None,
        },
        "thanks": {"type": "send", "channel": "sms", "template": "post-purchase-survey", "next": None},
    },
}


@pytest.fixture
def shop(acme: Tenant) -> Tenant:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    for name, properties in (
        ("screen_view", {"screen_name": ["string"]}),
        ("purchase", {"price": ["number"], "currency": ["string"]}),
        ("add_to_favorites", {"item": ["string"]}),
    ):
        TrackedActivity.objects.create(
            workspace=acme.workspace, name=name, count=1, first_seen=now, last_seen=now, properties=properties
        )
    Template.objects.get_or_create(
        workspace=acme.workspace, name="post-purchase-survey", channel="sms", defaults={"content": {"body": "Hi"}}
    )
    return acme


def browser(tenant: Tenant, role: str = Role.MARKETER) -> Client:
    client = Client()
    client.force_login(tenant.members[role])
    return client


def draft(tenant: Tenant, document: dict[str, Any] | None = None) -> Journey:
    return journey_create(
        workspace=tenant.workspace, actor=tenant.owner, document=document or {"name": "Untitled journey"}
    )


def url(name: str, journey: Journey) -> str:
    return reverse(f"panel:journeys_journey_{name}", args=[journey.pk])


def management(prefix: str, rows: list[dict[str, str]]) -> dict[str, str]:
    data = {f"{prefix}-TOTAL_FORMS": str(len(rows)), f"{prefix}-INITIAL_FORMS": "0"}
    for i, row in enumerate(rows):
        data |= {f"{prefix}-{i}-{key}": value for key, value in row.items()}
    return data


def setup_post(journey: Journey, **fields: str) -> dict[str, str]:
    data = {"revision": str(journey.draft_revision), "name": "Seed", "description": "", "conversion_event": ""}
    data |= {"conversion_window_0": "", "conversion_window_1": "", "next": "1"}
    data |= management("conversion", [])
    return {**data, **fields}


def entry_post(journey: Journey, **fields: str) -> dict[str, str]:
    data = {"revision": str(journey.draft_revision), "type": "event", "event": "screen_view", "mode": "multiple"}
    data |= {
        "lock_0": "",
        "lock_1": "",
        "cap_max": "",
        "cap_period_0": "",
        "cap_period_1": "",
        "start_at": "",
        "end_at": "",
    }
    data |= management("trigger", [])
    return {**data, "next": "1", **fields}


def field_errors(response: Any, name: str) -> list[str]:
    form = response.context["form"]
    return [str(e) for e in form.errors.get(name, [])]


# --- Each step's bad input ------------------------------------------------------------------------


def test_setup_saves_the_name_conversion_and_its_filters(shop):
    journey = draft(shop)
    data = setup_post(
        journey, name="Seed", conversion_event="purchase", conversion_window_0="30", conversion_window_1="days"
    )
    data |= management("conversion", [{"property": "price", "op": "gt", "value": "100"}])
    response = browser(shop).post(url("setup", journey), data)
    assert response.status_code == 302 and response["Location"] == url("entry", journey)
    journey.refresh_from_db()
    assert journey.name == "Seed"
    assert journey.draft["conversion"] == {
        "event": "purchase",
        "where": {"property": "price", "op": "gt", "value": 100},
        "window": "P30D",
        "exit_on_conversion": False,
    }


@pytest.mark.parametrize(
    ("fields", "rows", "field", "message"),
    [
        ({"name": ""}, [], "name", "Give the journey a name."),
        ({"conversion_event": "refund"}, [], "conversion_event", "No activity named refund has been tracked"),
        ({"conversion_event": "purchase"}, [], "conversion_window", "needs a window"),
        (
            {"conversion_event": "purchase", "conversion_window_0": "30", "conversion_window_1": ""},
            [],
            "conversion_window",
            "Choose a unit",
        ),
        (
            {"conversion_event": "purchase", "conversion_window_0": "0", "conversion_window_1": "days"},
            [],
            "conversion_window",
            "greater than or equal to 1",
        ),
    ],
)
def test_bad_setup_input_is_an_error_at_its_field_and_saves_nothing(shop, fields, rows, field, message):
    journey = draft(shop)
    data = setup_post(journey, **fields) | management("conversion", rows)
    response = browser(shop).post(url("setup", journey), data)
    assert response.status_code == 400
    assert any(message in error for error in field_errors(response, field)), response.context["form"].errors
    assert Journey.objects.get(pk=journey.pk).draft == {"name": "Untitled journey"}


@pytest.mark.parametrize(
    ("row", "field", "message"),
    [
        ({"property": "price", "op": "gt", "value": "a lot"}, "value", "Enter a number for “is greater than”"),
        ({"property": "price", "op": "contains", "value": "1"}, "op", "does not fit price, a number property"),
        ({"property": "price", "op": "between", "value": "10"}, "value", "two numbers"),
        ({"property": "", "op": "eq", "value": "x"}, "property", "Choose a property"),
        ({"property": "price", "op": "", "value": "1"}, "op", "Choose an operator"),
        ({"property": "price", "op": "gt", "value": ""}, "value", "Enter a value"),
    ],
)
def test_a_bad_filter_row_is_an_error_at_its_cell(shop, row, field, message):
    journey = draft(shop)
    data = setup_post(journey, conversion_event="purchase", conversion_window_0="7", conversion_window_1="days")
    data |= management("conversion", [row])
    response = browser(shop).post(url("setup", journey), data)
    assert response.status_code == 400
    errors = response.context["filters"].forms[0].errors
    assert any(message in e for e in errors.get(field, [])), errors
    assert Journey.objects.get(pk=journey.pk).draft == {"name": "Untitled journey"}
    assert message.split("“")[0] in response.content.decode()


def test_entry_rules_save_the_seeds_user_entry_schedule(shop):
    journey = draft(shop)
    data = entry_post(journey, lock_0="1", lock_1="months", cap_max="2", cap_period_0="2", cap_period_1="months")
    data |= management("trigger", [{"property": "screen_name", "op": "contains", "value": "Discounts"}])
    data["start_at"] = "2026-12-24T09:30"
    response = browser(shop).post(url("entry", journey), data)
    assert response.status_code == 302, response.context and response.context["form"].errors
    journey.refresh_from_db()
    assert journey.draft["entry"] == SEED["entry"]
    assert journey.draft["reentry"] == SEED["reentry"]
    assert journey.draft["schedule"]["start_at"] == "2026-12-24T09:30:00+00:00"  # the workspace's zone (UTC)


@pytest.mark.parametrize(
    ("fields", "rows", "field", "message"),
    [
        ({"event": "nope"}, [], "event", "No activity named nope has been tracked"),
        ({"event": ""}, [], "event", "Choose the activity that starts the journey"),
        ({"lock_0": "1", "lock_1": ""}, [], "lock", "Choose a unit"),
        ({"lock_0": "", "lock_1": "days"}, [], "lock", "Enter how many"),
        ({"cap_max": "0"}, [], "cap_max", "at least 1 entry"),
        ({"cap_period_0": "2", "cap_period_1": "months"}, [], "cap_max", "how many entries"),
        ({"start_at": "2026-12-24T10:00", "end_at": "2026-12-24T09:00"}, [], "end_at", "after the start"),
        ({"type": "segment"}, [], "start_at", "needs a start time"),
        ({"mode": "sometimes"}, [], "mode", "Select a valid choice"),
    ],
)
def test_bad_entry_rules_are_errors_at_their_fields_and_save_nothing(shop, fields, rows, field, message):
    journey = draft(shop)
    data = entry_post(journey, **fields) | management("trigger", rows)
    response = browser(shop).post(url("entry", journey), data)
    assert response.status_code == 400
    assert any(message in e for e in field_errors(response, field)), response.context["form"].errors
    assert Journey.objects.get(pk=journey.pk).draft == {"name": "Untitled journey"}


def test_an_operator_that_does_not_fit_the_trigger_property_is_refused(shop):
    journey = draft(shop)
    data = entry_post(journey) | management("trigger", [{"property": "screen_name", "op": "gt", "value": "3"}])
    response = browser(shop).post(url("entry", journey), data)
    assert response.status_code == 400
    errors = response.context["filters"].forms[0].errors
    assert errors["op"] == ["“is greater than” does not fit screen_name, a string property."]


def test_audience_refuses_a_segment_both_required_and_excluded(shop):
    journey = draft(shop)
    response = browser(shop).post(
        url("audience", journey),
        {"revision": journey.draft_revision, "segments": ["active-7d"], "exclude_segments": ["active-7d"]},
    )
    assert response.status_code == 400
    assert field_errors(response, "exclude_segments") == ["A segment cannot be both required and excluded."]
    unknown = browser(shop).post(url("audience", journey), {"revision": journey.draft_revision, "segments": ["nope"]})
    assert unknown.status_code == 400 and "Select a valid choice" in field_errors(unknown, "segments")[0]
    assert Journey.objects.get(pk=journey.pk).draft == {"name": "Untitled journey"}


def test_the_audience_estimate_is_all_users_without_segments(shop, segment):
    for user in ("a", "b", "c"):
        assert segment.post("/v1/identify", {"userId": user, "traits": {}}).status_code == 200
    journey = draft(shop)
    answer = browser(shop, Role.ANALYST).post(url("estimate", journey), {})
    assert answer.status_code == 200
    assert 'data-size="3"' in answer.content.decode() and "All users" in answer.content.decode()


def node_post(journey: Journey, **fields: str) -> dict[str, str]:
    return {"revision": str(journey.draft_revision), **fields}


def test_build_adds_a_state_and_a_send_on_its_open_paths(shop):
    journey = draft(shop, {"name": "Seed"})
    client = browser(shop)
    state = node_post(
        journey, add="trigger:start", kind="wait_event", event="add_to_favorites", timeout_0="3", timeout_1="days"
    )
    answer = client.post(url("node", journey), state | management("state", []))
    assert answer.status_code == 302
    journey.refresh_from_db()
    assert journey.draft["start"] == "state"
    assert journey.draft["nodes"]["state"] == {
        "type": "wait_event",
        "event": "add_to_favorites",
        "where": None,
        "timeout": "P3D",
        "on_performed": None,
        "on_timeout": None,
    }
    send = node_post(journey, add="state:on_performed", kind="send", channel="sms", template="post-purchase-survey")
    assert client.post(url("node", journey), send).status_code == 302
    journey.refresh_from_db()
    assert journey.draft["nodes"]["state"]["on_performed"] == "send"
    page = client.get(url("build", journey))
    svg = page.context["flow"]
    assert 'data-node="send"' in svg and 'data-from="state" data-key="on_timeout"' in svg


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"kind": "send", "channel": "sms", "template": ""}, "template", "Choose a template for this SMS message"),
        ({"kind": "send", "channel": "push", "template": "post-purchase-survey"}, "template", "no such template"),
        (
            {"kind": "wait_event", "event": "", "timeout_0": "3", "timeout_1": "days"},
            "event",
            "Choose the activity to wait for",
        ),
        (
            {"kind": "wait_event", "event": "add_to_favorites", "timeout_0": "", "timeout_1": ""},
            "timeout",
            "how long to wait",
        ),
        ({"kind": "delay", "duration_0": "", "duration_1": "", "until": ""}, "duration", "either how long"),
        ({"kind": "split", "arms": "A 60, B 50"}, "arms", "add up to 110, not 100"),
        ({"kind": "update_profile", "traits": "", "add_tags": "", "remove_tags": ""}, "traits", "Set a trait"),
        ({"kind": "update_profile", "traits": "vip"}, "traits", "Line 1: write name = value"),
        ({"kind": "webhook", "url": "ftp://x.test", "method": "POST"}, "url", "http:// or https://"),
    ],
)
def test_a_bad_step_is_an_error_at_its_field_and_saves_nothing(shop, fields, field, message):
    journey = draft(shop, {"name": "Seed"})
    data = node_post(journey, add="trigger:start", **fields) | management("state", [])
    answer = browser(shop).post(url("node", journey), data)
    assert answer.status_code == 400
    form = answer.context["panel"]["form"]
    assert any(message in e for e in form.errors.get(field, [])), form.errors
    assert Journey.objects.get(pk=journey.pk).draft == {"name": "Seed"}


def test_a_dangling_path_is_marked_on_the_flow_listed_at_launch_and_blocks_publishing(shop):
    document = {**SEED, "nodes": {**SEED["nodes"], "fav": {**SEED["nodes"]["fav"], "on_timeout": "gone"}}}
    journey = draft(shop, document)
    client = browser(shop)
    build = client.get(url("build", journey))
    assert 'data-missing="gone"' in build.context["flow"]
    launch = client.get(url("launch", journey))
    problems = launch.context["problems"]
    assert [(p["field"], p["url"]) for p in problems] == [("nodes.fav.on_timeout", url("build", journey) + "?node=fav")]
    assert "points to no node" in problems[0]["message"]
    client.post(url("publish", journey))
    assert Journey.objects.get(pk=journey.pk).status == JourneyStatus.DRAFT
    # A step added where the flow no longer has that path is refused, not attached somewhere else.
    stale = node_post(journey, add="thanks:on_timeout", kind="exit")
    assert client.post(url("node", journey), stale).status_code == 409


def test_launch_lists_each_problem_with_its_field_in_words(shop):
    broken = {
        "name": "Imported",
        "start": "a",
        "nodes": {"a": {"type": "send", "channel": "fax", "template": "", "next": "b"}, "b": {"type": "exit"}},
    }
    launch = browser(shop).get(url("launch", draft(shop, broken)))
    said = {p["field"]: f"{p['where']}: {p['message']}" for p in launch.context["problems"]}
    assert said["entry"] == "Entry Rules: Trigger not set"
    assert said["nodes.a.channel"].startswith("Send message “a”: Channel: choose one of push, sms, email, in-app")
    assert said["nodes.a.template"] == "Send message “a”: Template missing"


def test_two_marketers_saving_one_draft_get_a_conflict_not_a_silent_overwrite(shop):
    journey = draft(shop)
    ann, bob = browser(shop, Role.MARKETER), browser(shop, Role.OWNER)
    read_at = journey.draft_revision
    assert ann.post(url("setup", journey), setup_post(journey, name="Ann's")).status_code == 302
    late = bob.post(url("setup", journey), setup_post(journey, name="Bob's") | {"revision": str(read_at)})
    assert late.status_code == 409
    assert "marketer@acme.test saved this journey since you opened it" in late.content.decode()
    assert Journey.objects.get(pk=journey.pk).name == "Ann's"


def test_a_marketer_publishes_from_launch_and_the_live_page_shows_it(shop):
    journey = draft(shop, SEED)
    client = browser(shop)
    assert client.get(url("launch", journey)).context["problems"] == []
    answer = client.post(url("publish", journey))
    assert answer.status_code == 302 and answer["Location"] == url("live", journey)
    journey.refresh_from_db()
    assert journey.status == JourneyStatus.LIVE and journey.live_version.number == 1
    live = client.get(url("live", journey))
    assert live.status_code == 200 and 'data-node="fav"' in live.context["flow"]
    assert client.post(url("lifecycle", journey), {"action": "pause"}).status_code == 302
    assert Journey.objects.get(pk=journey.pk).status == JourneyStatus.PAUSED


def test_edit_on_a_live_journey_makes_the_next_version_through_the_wizard(shop):
    journey = draft(shop, SEED)
    journey_publish(journey=journey, actor=shop.owner)
    client = browser(shop)
    live = client.get(url("live", journey)).content.decode()
    assert f'href="{url("setup", journey)}" data-edit' in live
    journey.refresh_from_db()
    data = setup_post(journey, name="Seed, second take", conversion_event="purchase")
    data |= {"conversion_window_0": "7", "conversion_window_1": "days"}
    assert client.post(url("setup", journey), data).status_code == 302
    assert Journey.objects.get(pk=journey.pk).live_version.document["name"] == SEED["name"]  # live is untouched
    assert client.post(url("publish", journey)).status_code == 302
    journey.refresh_from_db()
    assert journey.live_version.number == 2 and journey.live_version.document["name"] == "Seed, second take"
    page = client.get(url("live", journey) + "?version=1")
    assert page.context["version"].number == 1 and [v.number for v in page.context["versions"]] == [2, 1]


def sim_post(
    use: str, events: list[dict[str, str]], profiles: list[dict[str, str]] | None = None, **fields: str
) -> dict[str, str]:
    """The simulator's form as a browser posts it: test profiles and events as rows, times in the
    workspace's zone (UTC here)."""
    return {
        "use": use,
        "until": "2026-11-10T00:00",
        **management("profiles", profiles or []),
        **management("events", events),
        **fields,
    }


ANN_DISCOUNTS = {
    "who": "ann",
    "event": "screen_view",
    "at": "2026-11-02T10:00",
    "properties": "screen_name = Discounts",
}
ANN_FAVOURITES = {"who": "ann", "event": "add_to_favorites", "at": "2026-11-02T11:00", "properties": ""}


def taken_nodes(flow: str) -> set[str]:
    drawn = ElementTree.fromstring(flow)
    return {
        str(g.get("data-node"))
        for g in drawn.iter("{http://www.w3.org/2000/svg}g")
        if "taken" in g.get("class", "").split()
    }


def test_the_simulator_runs_typed_rows_and_answers_in_words_with_the_path_drawn(shop):
    journey = draft(shop, SEED)
    page = browser(shop, Role.ANALYST).get(url("simulate", journey))
    assert page.status_code == 200 and "JSON" not in page.content.decode()
    first = page.context["events"].forms[0].initial
    assert (first["who"], first["event"], first["properties"]) == ("ann", "screen_view", "screen_name = Discounts")
    answer = browser(shop, Role.ANALYST).post(
        url("simulate", journey),
        sim_post("draft", [ANN_DISCOUNTS, ANN_FAVOURITES], [{"who": "ann", "traits": "first_name = Ann", "tags": ""}]),
    )
    assert answer.status_code == 200
    assert [r["profile"] for r in answer.context["results"]] == ["ann"]
    assert {"fav", "thanks"} <= taken_nodes(answer.context["flow"])  # the state, then the SMS on performed
    html = answer.content.decode()
    assert "Nov 02, 11:00 — State (fav) → On performed" in html
    assert "✉ Nov 02, 11:00: SMS · post-purchase-survey" in html
    # A published version, and the path drawn for the profile chosen among several.
    journey_publish(journey=journey, actor=shop.owner)
    journey.draft = {"name": "Edited since"}
    journey.save(update_fields=["draft"])
    bob = {**ANN_DISCOUNTS, "who": "bob"}
    version = browser(shop, Role.ANALYST).post(
        url("simulate", journey), sim_post("v1", [ANN_DISCOUNTS, bob, ANN_FAVOURITES], show="bob")
    )
    assert version.status_code == 200 and version.context["chosen_profile"] == "bob"
    taken = taken_nodes(version.context["flow"])
    assert "fav" in taken and "thanks" not in taken  # bob timed out; only ann performed
    assert "State (fav) → On timed out" in version.content.decode()
    assert '<option value="v1" selected>Version 1</option>' in version.content.decode()


@pytest.mark.parametrize(
    ("events", "profiles", "until", "where", "message"),
    [
        ([], [], "2026-11-10T00:00", "events", "Add at least one event"),
        ([{**ANN_DISCOUNTS, "at": ""}], [], "2026-11-10T00:00", ("events", 0, "at"), "Say when it happens"),
        (
            [{**ANN_DISCOUNTS, "properties": "screen_name"}],
            [],
            "2026-11-10T00:00",
            ("events", 0, "properties"),
            "name = value",
        ),
        (
            [ANN_DISCOUNTS],
            [{"who": "", "traits": "plan = pro", "tags": ""}],
            "2026-11-10T00:00",
            ("profiles", 0, "who"),
            "whose profile",
        ),
        ([ANN_DISCOUNTS], [], "", ("until", None, "until"), "until when"),
    ],
)
def test_bad_simulator_rows_are_errors_at_their_fields(shop, events, profiles, until, where, message):
    journey = draft(shop, SEED)
    answer = browser(shop, Role.ANALYST).post(
        url("simulate", journey), sim_post("draft", events, profiles, until=until)
    )
    assert answer.status_code == 400 and answer.context["results"] is None
    if where == "events":
        errors = [str(e) for e in answer.context["events"].non_form_errors()]
    elif where[0] == "until":
        errors = [str(e) for e in answer.context["until_form"].errors.get("until", [])]
    else:
        errors = [str(e) for e in answer.context[where[0]].forms[where[1]].errors.get(where[2], [])]
    assert any(message in e for e in errors), errors


def test_the_simulator_refuses_a_draft_with_problems_naming_them(shop):
    journey = draft(shop, {"name": "Broken", "start": "nowhere"})
    answer = browser(shop).post(url("simulate", journey), sim_post("draft", [ANN_DISCOUNTS]))
    assert answer.status_code == 400 and answer.context["problems"]
    assert "Fix the journey first" in answer.content.decode()


def test_a_backtest_asked_for_at_launch_runs_on_the_workers_and_shows_its_numbers(shop, segment):
    journey = draft(shop, SEED)
    for user, name in (("ann", "Spring Discounts"), ("bob", "Home")):
        assert segment.post("/v1/screen", {"userId": user, "name": name}).status_code == 200
    client = browser(shop)
    asked = client.post(url("backtest", journey), {"days": "7"}, HTTP_HX_REQUEST="true")
    assert asked.status_code == 200 and 'hx-trigger="every 2s"' in asked.content.decode()  # polls while it runs
    assert backtests_run(budget_seconds=30) >= 1
    card = client.get(url("backtest", journey)).content.decode()
    assert 'data-backtest="done"' in card
    assert '<dd data-number="would-have-entered">1</dd>' in card  # ann's Discounts screen; bob saw Home
    launch = client.get(url("launch", journey))
    assert 'data-from="trigger" data-key="start" data-to="fav" data-count="1"' in launch.context["flow"]
    refused = client.post(url("backtest", journey), {"days": "90"})
    assert refused.status_code == 400 and "from 1 to" in refused.content.decode()


# --- Roles and isolation --------------------------------------------------------------------------

READ_PAGES = ["setup", "entry", "audience", "build", "launch", "simulate", "export"]
WRITES = [
    ("setup", {"name": "x"}),
    ("entry", {}),
    ("audience", {}),
    ("node", {"add": "trigger:start", "kind": "exit"}),
    ("node_delete", {"node": "fav"}),
    ("publish", {}),
    ("duplicate", {}),
    ("lifecycle", {"action": "pause"}),
    ("backtest", {"days": "7"}),
]


@pytest.mark.parametrize("page", READ_PAGES)
def test_an_analyst_reads_every_page(shop, page):
    journey = draft(shop, SEED)
    assert browser(shop, Role.ANALYST).get(url(page, journey)).status_code == 200


@pytest.mark.parametrize(("page", "data"), WRITES)
def test_an_analyst_changes_nothing(shop, page, data):
    journey = draft(shop, SEED)
    journey_publish(journey=journey, actor=shop.owner)
    before = Journey.objects.get(pk=journey.pk)
    answer = browser(shop, Role.ANALYST).post(url(page, journey), {"revision": before.draft_revision, **data})
    assert answer.status_code == 403
    after = Journey.objects.get(pk=journey.pk)
    assert (after.draft, after.status, after.draft_revision) == (before.draft, before.status, before.draft_revision)
    assert Journey.objects.filter(workspace=shop.workspace).count() == 1


def test_a_new_journey_is_made_when_its_setup_is_saved_not_when_the_page_opens(shop):
    client, add = browser(shop), reverse("panel:journeys_journey_add")
    page = client.get(add)
    assert page.status_code == 200 and page.context["step"] == "setup"
    assert not Journey.objects.exists() and not AuditLogEntry.objects.filter(object_type="journey").exists()
    fresh = {"revision": "1", "description": "", "conversion_event": "", "next": "1"} | management("conversion", [])
    refused = client.post(add, fresh | {"name": ""})
    assert refused.status_code == 400 and field_errors(refused, "name") and not Journey.objects.exists()
    made = client.post(add, fresh | {"name": "Welcome series"})
    journey = Journey.objects.get(workspace=shop.workspace)
    assert made.status_code == 302 and made["Location"] == url("entry", journey)
    assert journey.name == "Welcome series" and journey.draft["name"] == "Welcome series"
    assert journey.created_by == shop.members[Role.MARKETER]
    assert list(AuditLogEntry.objects.filter(object_type="journey").values_list("action", "object_id")) == [
        ("created", str(journey.pk))
    ]


def test_an_analyst_cannot_create_or_import(shop):
    client = browser(shop, Role.ANALYST)
    assert client.get(reverse("panel:journeys_journey_add")).status_code == 403
    assert client.post(reverse("panel:journeys_journey_add"), {"name": "x", "next": "1"}).status_code == 403
    assert client.post(reverse("panel:journeys_journey_import"), {"document": '{"name": "x"}'}).status_code == 403
    assert not Journey.objects.exists()
    listing = client.get(reverse("panel:journeys_journey_changelist"))
    assert listing.status_code == 200 and "New journey" not in listing.content.decode()


@pytest.mark.parametrize("page", [*READ_PAGES, "live", "estimate"])
def test_another_workspaces_journey_is_404_on_every_page(shop, globex, page):
    theirs = draft(globex, SEED)
    journey_publish(journey=theirs, actor=globex.owner) if page == "live" else None
    assert browser(shop, Role.OWNER).get(url(page, theirs)).status_code == 404


@pytest.mark.parametrize(("page", "data"), WRITES)
def test_another_workspaces_journey_is_404_for_every_action(shop, globex, page, data):
    theirs = draft(globex, SEED)
    answer = browser(shop, Role.OWNER).post(url(page, theirs), {"revision": theirs.draft_revision, **data})
    assert answer.status_code == 404
    assert Journey.objects.get(pk=theirs.pk).draft == SEED


def test_the_list_shows_only_the_workspaces_journeys_and_not_behaviors(shop, globex):
    draft(shop, {"name": "Ours"})
    draft(globex, {"name": "Theirs"})
    listing = browser(shop, Role.ANALYST).get(reverse("panel:journeys_journey_changelist")).content.decode()
    assert "Ours" in listing and "Theirs" not in listing


def test_someone_logged_out_is_sent_to_log_in_and_a_non_member_is_told(shop, django_user_model):
    journey = draft(shop, SEED)
    answer = Client().get(url("setup", journey))
    assert answer.status_code == 302 and answer["Location"].startswith("/login/")
    stranger = django_user_model.objects.create_user("nobody@x.test", "nobody@x.test", "pw")
    client = Client()
    client.force_login(stranger)
    assert client.get(url("setup", journey)).status_code == 302
    told = client.get("/login/")
    assert told.status_code == 403 and "not a member of any workspace" in told.content.decode()


def test_import_makes_a_draft_and_refuses_what_is_not_a_journey(shop):
    client = browser(shop)
    bad = client.post(reverse("panel:journeys_journey_import"), {"document": "{nope"})
    assert bad.status_code == 400 and "This is not JSON" in bad.content.decode()
    listed = client.post(reverse("panel:journeys_journey_import"), {"document": "[1, 2]"})
    assert listed.status_code == 400 and "A journey is a JSON object." in listed.content.decode()
    assert not Journey.objects.exists()
    good = client.post(reverse("panel:journeys_journey_import"), {"document": '{"name": "Imported", "nodes": {}}'})
    assert good.status_code == 302
    assert Journey.objects.get(workspace=shop.workspace).draft == {"name": "Imported", "nodes": {}}
