"""Behaviors' panel pages through Django's test client: the list with each behavior in words, the form
that builds the steps (bad input at its field in the API's words, nothing saved), the behavior's page
with its open matches, pause and resume, the backfill, the simulator over typed events; every page and
action held to the member's role and workspace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from activities.models import Activity, EvaluationBatch, Profile, TrackedActivity
from activities.pipeline import batch_process
from behaviors.backfill import backfills_run
from behaviors.document import parse_behavior
from behaviors.models import Backfill, Behavior
from behaviors.services import behavior_create, behavior_resume
from journeys.models import JourneyStatus
from tests.conftest import SegmentClient
from tests.personas import Tenant
from workspaces.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(acme: Tenant) -> Tenant:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    for name, properties in (
        ("update_cart", {"total": ["number"], "currency": ["string"]}),
        ("purchase", {"price": ["number"]}),
    ):
        TrackedActivity.objects.create(
            workspace=acme.workspace, name=name, count=1, first_seen=now, last_seen=now, properties=properties
        )
    return acme


def browser(tenant: Tenant, role: str = Role.MARKETER) -> Client:
    client = Client()
    client.force_login(tenant.members[role])
    return client


def url(name: str, behavior: Behavior | None = None) -> str:
    return reverse(f"panel:behaviors_behavior_{name}", args=[behavior.pk] if behavior else [])


def example(tenant: Tenant, slug: str = "abandoned_cart") -> Behavior:
    return Behavior.objects.get(workspace=tenant.workspace, slug=slug)


def form_post(*steps: dict[str, str], filters: dict[int, list[dict[str, str]]] | None = None, **fields: str) -> dict:
    """The form as a browser posts it: the behavior's fields, each step and its filter rows."""
    data = {"name": "Cart left behind", "slug": "", "description": "", "max_once_per_0": "", "max_once_per_1": ""}
    data["steps-TOTAL_FORMS"] = str(len(steps))
    for index, step in enumerate(steps):
        values = {"kind": "performed", "activity": "", "within_0": "", "within_1": "", **step}
        data |= {f"steps-{index}-{key}": value for key, value in values.items()}
        rows = (filters or {}).get(index, [])
        data |= {f"where{index}-TOTAL_FORMS": str(len(rows)), f"where{index}-INITIAL_FORMS": "0"}
        for row_index, row in enumerate(rows):
            data |= {f"where{index}-{row_index}-{key}": value for key, value in row.items()}
    return {**data, "save": "1", **fields}


CART_STEPS = (
    {"activity": "update_cart"},
    {"kind": "not_performed", "activity": "purchase", "within_0": "3", "within_1": "days"},
)


def errors_at(response: Any, name: str, step: int | None = None) -> list[str]:
    form = response.context["form"] if step is None else response.context["steps"].items[step][0]
    return [str(e) for e in form.errors.get(name, [])]


# --- The list -------------------------------------------------------------------------------------------


def test_the_list_shows_the_five_examples_in_words_with_their_numbers(shop):
    behavior_resume(behavior=example(shop), actor=shop.owner)
    response = browser(shop, Role.ANALYST).get(url("changelist"))
    assert response.status_code == 200
    page = response.content.decode()
    for words in (
        "update_cart not followed by purchase within 3 days",
        "trial_signup not followed by completed_application within 5 weeks",
        "failed_payment, fires at once",
        "Page View, then Page View within 1 week, then any activity within 30 days, then no activity for 30 days",
    ):
        assert words in page
    assert "Open matches now" in page and "Fired (7 days)" in page and "Firings per day (30 days)" in page
    assert url("add") not in page  # analysts add nothing
    assert url("add") in browser(shop).get(url("changelist")).content.decode()


def test_the_list_counts_open_matches_and_firings_per_behavior(shop, client):
    behavior = example(shop)
    behavior_resume(behavior=behavior, actor=shop.owner)
    segment = SegmentClient(client, shop.write_key)
    for user in ("dee", "eve"):
        assert segment.post("/v1/track", {"userId": user, "event": "update_cart"}).status_code == 200
    _drain()
    listed = browser(shop).get(url("changelist")).context["cl"].result_list
    counts = {b.slug: (b.open_now, b.fired_since) for b in listed}
    assert counts["abandoned_cart"] == (2, 0)
    assert counts["skips_payment"] == (0, 0)


def test_the_list_and_pages_are_the_workspaces_own(shop, globex):
    theirs = example(globex)
    listed = browser(shop).get(url("changelist")).context["cl"].result_list
    assert {b.workspace_id for b in listed} == {shop.workspace.pk}
    mine = browser(shop)
    for name in ("change", "edit", "simulate"):
        assert mine.get(url(name, theirs)).status_code == 404, name
    for name in ("lifecycle", "backfill", "simulate", "edit"):
        assert mine.post(url(name, theirs), {"action": "resume", "days": "3"}).status_code == 404, name
    theirs.refresh_from_db()
    assert theirs.journey is None and not Backfill.objects.exists()


# --- The form -------------------------------------------------------------------------------------------


def test_the_form_creates_the_abandoned_cart_with_a_filter_and_starts_it(shop):
    response = browser(shop).post(
        url("add"), form_post(*CART_STEPS, filters={0: [{"property": "total", "op": "gt", "value": "50"}]})
    )
    behavior = Behavior.objects.get(workspace=shop.workspace, slug="cart_left_behind")
    assert response.status_code == 302 and response["Location"] == url("change", behavior)
    assert behavior.document == {
        "name": "Cart left behind",
        "slug": "cart_left_behind",
        "steps": [
            {"performed": "update_cart", "where": {"property": "total", "op": "gt", "value": 50}},
            {"not_performed": "purchase", "within": "P3D"},
        ],
    }
    assert behavior.journey is not None and behavior.journey.status == JourneyStatus.LIVE
    page = browser(shop).get(url("change", behavior)).content.decode()
    assert "update_cart where total is greater than 50, not followed by purchase within 3 days" in page


def test_save_as_draft_does_not_start_matching(shop):
    browser(shop).post(url("add"), form_post(*CART_STEPS, draft="1", max_once_per_0="1", max_once_per_1="weeks"))
    behavior = Behavior.objects.get(workspace=shop.workspace, slug="cart_left_behind")
    assert behavior.journey is None and behavior.document["max_once_per"] == "P1W"


@pytest.mark.parametrize(
    ("post", "step", "field", "message"),
    [
        (form_post(*CART_STEPS, name=""), None, "name", "Is required: 1–200 characters."),
        (form_post(*CART_STEPS, slug="Cart!"), None, "slug", "Is required: lower-case letters, digits"),
        (form_post(*CART_STEPS, slug="abandoned_cart"), None, "slug", "A behavior with the slug 'abandoned_cart'"),
        (
            form_post({"activity": "update_cart"}, {"kind": "not_performed", "activity": "purchase"}),
            1,
            "within",
            "Is required: how long the activity must not happen.",
        ),
        (form_post({"activity": ""}), 0, "activity", "Must name an activity (or * for any)."),
        (
            form_post({"activity": "update_cart"}, {"kind": "inactive"}),
            1,
            "within",
            "Is required: how long the profile does nothing.",
        ),
        (
            form_post(CART_STEPS[0], {**CART_STEPS[1], "within_1": ""}),
            1,
            "within",
            "Choose a unit (minutes, hours, days, weeks or months).",
        ),
        (form_post(*CART_STEPS, max_once_per_0="2"), None, "max_once_per", "Choose a unit"),
    ],
)
def test_bad_input_is_an_error_at_its_field_and_nothing_is_saved(shop, post, step, field, message):
    before = Behavior.objects.count()
    response = browser(shop).post(url("add"), post)
    assert response.status_code == 400
    assert any(e.startswith(message) for e in errors_at(response, field, step)), errors_at(response, field, step)
    assert Behavior.objects.count() == before


def test_a_bad_filter_is_named_at_its_row(shop):
    post = form_post(*CART_STEPS, filters={0: [{"property": "total", "op": "gt", "value": "lots"}]})
    response = browser(shop).post(url("add"), post)
    assert response.status_code == 400
    filters = response.context["steps"].items[0][1]
    assert filters.forms[0].errors["value"] == ["Enter a number for “is greater than”."]
    assert not Behavior.objects.filter(slug="cart_left_behind").exists()


def test_adding_and_removing_steps_and_filters_redraws_without_saving(shop):
    client = browser(shop)
    added = client.post(url("add"), {**form_post(*CART_STEPS), "add_step": "1"})
    assert added.status_code == 200 and len(added.context["steps"]) == 3
    assert not added.context["form"].errors
    removed = client.post(
        url("add"), {**form_post(CART_STEPS[0], {"activity": "purchase"}, CART_STEPS[1]), "remove_step": "1"}
    )
    steps = removed.context["steps"].items
    assert [s.data.get(f"steps-{i}-activity") for i, (s, _) in enumerate(steps)] == ["update_cart", "purchase"]
    assert steps[1][0].data["steps-1-kind"] == "not_performed" and steps[1][0].data["steps-1-within_0"] == "3"
    filtered = client.post(url("add"), {**form_post(*CART_STEPS), "add_filter": "0"})
    assert len(filtered.context["steps"].items[0][1].forms) == 1
    assert not Behavior.objects.filter(slug="cart_left_behind").exists()


def test_editing_publishes_a_new_version_and_keeps_the_slug(shop):
    behavior = example(shop)
    behavior_resume(behavior=behavior, actor=shop.owner)
    client = browser(shop)
    page = client.get(url("edit", behavior))
    assert page.status_code == 200 and 'value="purchase" selected' in page.content.decode()
    post = form_post(CART_STEPS[0], {**CART_STEPS[1], "within_0": "2"}, name="Abandoned cart", slug="something_else")
    response = client.post(url("edit", behavior), post)
    assert response.status_code == 302
    behavior.refresh_from_db()
    assert behavior.slug == "abandoned_cart" and behavior.document["steps"][1]["within"] == "P2D"
    assert behavior.journey is not None and behavior.journey.live_version.number == 2


# --- A behavior's page: matches, lifecycle, backfill ----------------------------------------------------


def _drain() -> None:
    while batches := list(EvaluationBatch.objects.order_by("pk").values_list("pk", flat=True)):
        for batch in batches:
            batch_process(batch)


def test_the_page_lists_open_matches_linked_to_their_profiles(shop, client):
    behavior = example(shop)
    behavior_resume(behavior=behavior, actor=shop.owner)
    SegmentClient(client, shop.write_key).post("/v1/track", {"userId": "dee", "event": "update_cart"})
    _drain()
    response = browser(shop, Role.ANALYST).get(url("change", behavior))
    assert response.status_code == 200
    [match] = response.context["matches"]
    dee = Profile.objects.get(workspace=shop.workspace, user_id="dee")
    assert match["profile"]["id"] == dee.pk and match["waiting"] == "Step 2: no purchase"
    page = response.content.decode()
    assert match["profile_url"] == reverse("panel:activities_profile_change", args=[dee.pk])
    assert f'href="{match["profile_url"]}">dee</a>' in page
    assert "data-edit" not in page and "data-action" not in page and "data-run-backfill" not in page


def test_pause_and_resume_from_the_page_and_the_list(shop):
    behavior = example(shop)
    client = browser(shop)
    assert client.post(url("lifecycle", behavior), {"action": "resume"}).status_code == 302
    behavior.refresh_from_db()
    assert behavior.status == "live"
    client.post(url("lifecycle", behavior), {"action": "pause"})
    behavior.refresh_from_db()
    assert behavior.status == "paused"
    client.post(url("changelist"), {"action": "resume_selected", "_selected_action": [behavior.pk]})
    behavior.refresh_from_db()
    assert behavior.status == "live"
    refused = client.post(url("lifecycle", behavior), {"action": "resume"}, follow=True)
    assert "cannot" in refused.content.decode() or "resume" in refused.content.decode()


def test_analysts_change_nothing(shop):
    behavior = example(shop)
    analyst = browser(shop, Role.ANALYST)
    assert analyst.post(url("lifecycle", behavior), {"action": "resume"}).status_code == 403
    assert analyst.post(url("backfill", behavior), {"days": "7"}).status_code == 403
    assert analyst.get(url("edit", behavior)).status_code == 403
    assert analyst.post(url("edit", behavior), form_post(*CART_STEPS)).status_code == 403
    assert analyst.get(url("add")).status_code == 403
    assert analyst.post(url("add"), form_post(*CART_STEPS)).status_code == 403
    analyst.post(url("changelist"), {"action": "resume_selected", "_selected_action": [behavior.pk]})
    behavior.refresh_from_db()
    assert behavior.journey is None and Behavior.objects.filter(workspace=shop.workspace).count() == 5


def test_the_backfill_runs_with_its_progress_and_refuses_bad_days(shop):
    behavior = example(shop)
    client = browser(shop)
    draft = client.post(url("backfill", behavior), {"days": "7"}, HTTP_HX_REQUEST="true")
    assert "is a draft" in draft.content.decode() and not Backfill.objects.exists()
    behavior_resume(behavior=behavior, actor=shop.owner)
    now = timezone.now()
    profile = Profile.objects.create(workspace=shop.workspace, user_id="fay", first_seen=now, last_seen=now)
    Activity.objects.create(
        workspace=shop.workspace,
        profile=profile,
        name="update_cart",
        properties={},
        timestamp=now - timedelta(days=1),
        received_at=now - timedelta(days=1),
        message_id="fay-cart",
    )
    bad = client.post(url("backfill", behavior), {"days": "900"}, HTTP_HX_REQUEST="true")
    assert bad.context["backfill"]["form"].errors["days"] == ["Must be a whole number of days from 1 to 365."]
    assert not Backfill.objects.exists()
    started = client.post(url("backfill", behavior), {"days": "7"}, HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 2s"' in started.content.decode()  # polled while it runs
    assert "Backfilling 7 days" in client.get(url("change", behavior)).content.decode()  # a reload finds it
    backfills_run(budget_seconds=5)
    card = client.get(url("backfill", behavior))
    assert "every 2s" not in card.content.decode()
    assert card.context["backfill"]["run"].opened == 1
    assert len(client.get(url("change", behavior)).context["matches"]) == 1
    again = client.post(url("backfill", behavior), {"days": "7"}, HTTP_HX_REQUEST="true")
    assert "has been backfilled already" in again.content.decode()


# --- The simulator --------------------------------------------------------------------------------------


def sim_post(rows: list[dict[str, str]], until: str = "2026-01-10T00:00") -> dict[str, str]:
    data = {"events-TOTAL_FORMS": str(len(rows)), "events-INITIAL_FORMS": "0", "until": until, "run": "1"}
    for i, row in enumerate(rows):
        data |= {f"events-{i}-{key}": value for key, value in {"properties": "", **row}.items()}
    return data


def test_the_simulator_fires_on_typed_events_for_analysts_too(shop):
    behavior = example(shop)
    client = browser(shop, Role.ANALYST)
    assert client.get(url("simulate", behavior)).status_code == 200
    rows = [
        {"who": "dee", "event": "update_cart", "at": "2026-01-01T10:00", "properties": "total = 80"},
        {"who": "eve", "event": "update_cart", "at": "2026-01-01T10:00"},
        {"who": "eve", "event": "purchase", "at": "2026-01-02T10:00"},
    ]
    response = client.post(url("simulate", behavior), sim_post(rows))
    assert response.status_code == 200
    results = {r["profile"]: r for r in response.context["results"]}
    assert [at.isoformat() for at in results["dee"]["fired"]] == ["2026-01-04T10:00:00+00:00"]
    assert results["dee"]["firings"][0]["properties"] == {"total": 80}
    assert results["eve"]["fired"] == [] and results["eve"]["open"] is None
    assert "Fired" in response.content.decode() and not Activity.objects.filter(name__startswith="behavior:").exists()


def test_the_simulator_names_bad_rows_at_their_field(shop):
    behavior = example(shop)
    client = browser(shop)
    missing = client.post(url("simulate", behavior), sim_post([{"who": "dee", "event": "update_cart", "at": ""}]))
    assert missing.status_code == 400
    assert missing.context["rows"].forms[0].errors["at"] == ["Say when it happens."]
    bad = client.post(
        url("simulate", behavior), sim_post([{"who": "dee", "event": "update_cart", "at": "x", "properties": "total"}])
    )
    assert "properties" in bad.context["rows"].forms[0].errors
    empty = client.post(url("simulate", behavior), sim_post([]))
    assert empty.status_code == 400 and "Add at least one event." in empty.content.decode()
    no_clock = client.post(
        url("simulate", behavior), sim_post([{"who": "d", "event": "update_cart", "at": "2026-01-01T10:00"}], until="")
    )
    assert no_clock.context["until_form"].errors["until"] == ["Say until when the clock runs."]


def test_a_stored_behavior_created_through_the_service_reads_in_words_on_its_page(shop):
    behavior = behavior_create(
        workspace=shop.workspace,
        actor=shop.owner,
        document={
            "name": "Quiet after signup",
            "slug": "quiet",
            "steps": [{"performed": "signup"}, {"inactive": "P14D"}],
            "max_once_per": "P30D",
        },
    )
    page = browser(shop).get(url("change", behavior)).content.decode()
    assert "signup, then no activity for 2 weeks; at most once every 30 days" in page


def _as_posted(response: Any) -> dict[str, str]:
    """What the browser would post back for a form page as it was drawn (every field's shown value)."""
    data: dict[str, str] = {"steps-TOTAL_FORMS": str(len(response.context["steps"]))}

    def put(form: Any) -> None:
        for bound in form:
            value = bound.value()
            if isinstance(value, list):
                for i, part in enumerate(value):
                    data[f"{bound.html_name}_{i}"] = "" if part is None else str(part)
            else:
                data[bound.html_name] = "" if value is None else str(value)

    put(response.context["form"])
    for step_form, filters in response.context["steps"]:
        put(step_form)
        put(filters.management_form)
        for row in filters.forms:
            put(row)
    return data


@pytest.mark.parametrize("slug", ["abandoned_cart", "slipping_away", "dropped_course", "skips_payment"])
def test_every_shipped_behavior_reads_into_the_form_and_saves_back_unchanged(shop, slug):
    behavior = example(shop, slug)
    client = browser(shop)
    page = client.get(url("edit", behavior))
    assert page.status_code == 200
    response = client.post(url("edit", behavior), {**_as_posted(page), "save": "1"})
    assert response.status_code == 302, response.context and response.context["form"].errors
    before = dict(behavior.document)
    behavior.refresh_from_db()
    assert _meaning(behavior.document) == _meaning(before)  # P7D may come back as P1W


def _meaning(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    parsed = parse_behavior(document)
    return [
        (s.kind, s.name, s.where, s.within and (s.within.months, s.within.days, s.within.seconds)) for s in parsed.steps
    ]
