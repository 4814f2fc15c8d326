"""The operators' admin edits journeys through the journey services: a draft is checked as publishing
checks it (every problem shown at the document with its path, nothing saved), saves record who made them
and land in the audit log, and publish / pause / resume / stop are actions whose refusals are messages."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from unfold.admin import ModelAdmin

from journeys import services
from journeys.models import Journey, JourneyStatus, JourneyVersion
from tests.journeys.documents import discounts
from tests.personas import Tenant
from tests.workspaces.test_admin_roles import form_data, save
from workspaces.models import AuditLogEntry

pytestmark = pytest.mark.django_db

JOURNEYS = "/admin/journeys/journey/"


@pytest.fixture
def operator_user(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_superuser("op", "op@x.test", "pw")


@pytest.fixture
def operator(operator_user: User) -> Client:
    browser = Client()
    browser.force_login(operator_user)
    return browser


def broken() -> dict[str, Any]:
    document = discounts()
    document["nodes"]["fav"]["timeout"] = "three days"
    document["nodes"]["nudge"]["template"] = "no-such-template"
    return document


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_an_invalid_document_is_shown_at_its_field_with_every_problem_and_nothing_is_saved(operator, acme: Tenant):
    response = save(operator, JOURNEYS + "add/", workspace=acme.workspace.pk, draft=json.dumps(broken()))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["draft"]
    assert any(e.startswith("nodes.fav.timeout: ") for e in errors), errors
    assert any(e.startswith("nodes.nudge.template: ") for e in errors), errors
    assert "nodes.fav.timeout" in response.content.decode()
    assert not Journey.objects.filter(workspace=acme.workspace).exists()

    journey = services.journey_create(workspace=acme.workspace, actor=acme.owner, document=discounts())
    entries = AuditLogEntry.objects.count()
    response = save(operator, f"{JOURNEYS}{journey.pk}/change/", draft=json.dumps(broken()))
    assert response.status_code == 200 and "draft" in response.context["adminform"].form.errors
    journey.refresh_from_db()
    assert journey.draft == discounts() and journey.updated_by == acme.owner
    assert AuditLogEntry.objects.count() == entries


def test_a_document_that_is_not_json_is_a_field_error(operator, acme: Tenant):
    response = save(operator, JOURNEYS + "add/", workspace=acme.workspace.pk, draft="{nodes:")
    assert response.status_code == 200 and "draft" in response.context["adminform"].form.errors
    assert not Journey.objects.filter(workspace=acme.workspace).exists()


def test_a_valid_document_is_saved_with_who_made_it_and_an_audit_entry(operator, operator_user, acme: Tenant):
    response = save(operator, JOURNEYS + "add/", workspace=acme.workspace.pk, draft=json.dumps(discounts()))
    assert response.status_code == 302
    journey = Journey.objects.get(workspace=acme.workspace)
    assert journey.name == discounts()["name"] and journey.status == JourneyStatus.DRAFT
    assert journey.created_by == operator_user and journey.updated_by == operator_user
    created = AuditLogEntry.objects.get(object_type="journey", object_id=str(journey.pk), action="created")
    assert created.actor == operator_user

    renamed = discounts(name="Renamed by the operator")
    response = save(operator, f"{JOURNEYS}{journey.pk}/change/", draft=json.dumps(renamed))
    assert response.status_code == 302
    journey.refresh_from_db()
    assert journey.draft == renamed and journey.name == "Renamed by the operator"
    assert journey.draft_revision == 2 and journey.created_by == operator_user
    assert AuditLogEntry.objects.filter(object_id=str(journey.pk), action="changed", actor=operator_user).exists()


def test_a_save_from_an_older_revision_is_refused_naming_who_saved(operator, acme: Tenant):
    journey = services.journey_create(workspace=acme.workspace, actor=acme.owner, document=discounts())
    url = f"{JOURNEYS}{journey.pk}/change/"
    page = operator.get(url)  # the operator reads revision 1 …
    services.journey_update_draft(journey=journey, actor=acme.owner, document=discounts(name="Theirs"))
    response = operator.post(url, form_data(page, draft=json.dumps(discounts())))  # … and saves over revision 2
    assert response.status_code == 200
    assert acme.owner.username in str(response.context["adminform"].form.non_field_errors())
    journey.refresh_from_db()
    assert journey.name == "Theirs"


def test_status_versions_and_the_live_version_are_not_editable_here(operator, acme: Tenant):
    journey = services.journey_create(workspace=acme.workspace, actor=acme.owner, document=discounts())
    version = services.journey_publish(journey=journey, actor=acme.owner)
    journey.refresh_from_db()
    page = operator.get(f"{JOURNEYS}{journey.pk}/change/")
    form = page.context["adminform"].form
    assert {"status", "live_version", "workspace", "name"}.isdisjoint(form.fields)
    save(operator, f"{JOURNEYS}{journey.pk}/change/", status="draft", live_version="", workspace=acme.workspace.pk)
    journey.refresh_from_db()
    assert journey.status == JourneyStatus.LIVE and journey.live_version == version

    url = f"/admin/journeys/journeyversion/{version.pk}/change/"
    assert operator.get(url).status_code == 200  # readable
    assert operator.post(url, {"number": 9, "document": "{}"}).status_code == 403
    assert operator.get("/admin/journeys/journeyversion/add/").status_code == 403
    operator.post(f"/admin/journeys/journeyversion/{version.pk}/delete/", {"post": "yes"})
    assert JourneyVersion.objects.filter(pk=version.pk, number=1).exists()


def test_a_stopped_journeys_draft_is_read_only(operator, acme: Tenant):
    journey = services.journey_create(workspace=acme.workspace, actor=acme.owner, document=discounts())
    services.journey_publish(journey=journey, actor=acme.owner)
    services.journey_stop(journey=journey, actor=acme.owner)
    page = operator.get(f"{JOURNEYS}{journey.pk}/change/")
    assert page.status_code == 200 and "draft" not in page.context["adminform"].form.fields


def act(operator: Client, action: str, *journeys: Journey) -> list[str]:
    response = operator.post(JOURNEYS, {"action": action, "_selected_action": [j.pk for j in journeys]}, follow=True)
    assert response.status_code == 200
    return messages_of(response)


def test_publish_pause_resume_and_stop_are_actions_with_a_message_per_journey(operator, operator_user, acme: Tenant):
    good = services.journey_create(workspace=acme.workspace, actor=acme.owner, document=discounts(name="Good"))
    bad = services.journey_create(workspace=acme.workspace, actor=acme.owner, document=broken() | {"name": "Bad"})

    said = act(operator, "publish", good, bad)
    assert "“Good” is published as version 1 (live)." in said
    refusal = next(m for m in said if m.startswith("“Bad” not published: "))
    assert "nodes.fav.timeout: " in refusal and "nodes.nudge.template: " in refusal
    good.refresh_from_db()
    bad.refresh_from_db()
    assert good.status == JourneyStatus.LIVE and good.live_version.published_by == operator_user
    assert bad.status == JourneyStatus.DRAFT and not bad.versions.exists()

    said = act(operator, "pause", good, bad)
    assert "“Good” is paused: no new entries; its timers and sends are held." in said
    assert "“Bad” not paused: cannot pause a draft journey" in said
    good.refresh_from_db()
    assert good.status == JourneyStatus.PAUSED

    assert act(operator, "resume", good) == ["“Good” is live again: held timers fire and held messages go out."]
    assert act(operator, "resume", good) == ["“Good” not resumed: cannot resume a live journey"]

    assert sorted(act(operator, "stop", good, bad)) == [
        "“Bad” not stopped: cannot stop a draft journey",
        "“Good” is stopped: 0 profile(s) inside exited.",
    ]
    good.refresh_from_db()
    assert good.status == JourneyStatus.STOPPED
    assert act(operator, "publish", good) == ["“Good” not published: cannot publish a stopped journey"]
    for action in ("published", "paused", "resumed", "stopped"):
        assert AuditLogEntry.objects.filter(object_id=str(good.pk), action=action, actor=operator_user).exists()


def test_a_published_journey_is_protected_from_deletion(operator, acme: Tenant):
    journey = services.journey_create(workspace=acme.workspace, actor=acme.owner, document=discounts())
    services.journey_publish(journey=journey, actor=acme.owner)
    response = operator.post(f"{JOURNEYS}{journey.pk}/delete/", {"post": "yes"})
    assert response.status_code == 200 and "stop it instead" in response.content.decode()
    assert Journey.objects.filter(pk=journey.pk).exists()

    draft = services.journey_create(workspace=acme.workspace, actor=acme.owner, document=discounts(name="Scratch"))
    assert operator.post(f"{JOURNEYS}{draft.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Journey.objects.filter(pk=draft.pk).exists()
    assert AuditLogEntry.objects.filter(object_id=str(draft.pk), action="deleted").exists()


def test_a_member_acts_only_where_their_role_allows(acme: Tenant, globex: Tenant):
    ours = services.journey_create(workspace=acme.workspace, actor=acme.owner, document=discounts(name="Ours"))
    analyst = acme.members["analyst"]
    analyst.is_staff = True
    analyst.save(update_fields=["is_staff"])
    browser = Client()
    browser.force_login(analyst)
    assert browser.get(f"{JOURNEYS}{ours.pk}/change/").status_code == 200  # analysts read
    response = browser.post(JOURNEYS, {"action": "publish", "_selected_action": [ours.pk]}, follow=True)
    assert response.status_code == 200
    ours.refresh_from_db()
    assert ours.status == JourneyStatus.DRAFT


def test_a_user_who_is_not_staff_cannot_reach_the_admin(acme: Tenant):
    browser = Client()
    browser.force_login(acme.owner)  # an owner in the panel, not an operator
    for url in ("/admin/", JOURNEYS, "/admin/django_celery_beat/periodictask/"):
        response = browser.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url


def test_the_periodic_tasks_are_listed_and_editable_for_an_operator(operator):
    every = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    task = PeriodicTask.objects.create(name="fire timers", task="journeys.fire_timers", interval=every)
    listing = operator.get("/admin/django_celery_beat/periodictask/")
    assert listing.status_code == 200 and "fire timers" in listing.content.decode()
    assert operator.get(f"/admin/django_celery_beat/periodictask/{task.pk}/change/").status_code == 200
    assert operator.get(f"/admin/django_celery_beat/intervalschedule/{every.pk}/change/").status_code == 200


def test_every_admin_is_unfolds_and_every_journey_page_renders(operator, acme: Tenant):
    """Any plain ModelAdmin registered later would miss the operators' look: catch it here."""
    plain = [
        model._meta.label
        for model, model_admin in admin.site._registry.items()
        if not isinstance(model_admin, ModelAdmin)
    ]
    assert plain == []
    journey = services.journey_create(workspace=acme.workspace, actor=acme.owner, document=discounts())
    version = services.journey_publish(journey=journey, actor=acme.owner)
    for url in (
        "/admin/",
        JOURNEYS,
        JOURNEYS + "add/",
        f"{JOURNEYS}{journey.pk}/change/",
        f"{JOURNEYS}{journey.pk}/history/",
        "/admin/journeys/journeyversion/",
        f"/admin/journeys/journeyversion/{version.pk}/change/",
    ):
        assert operator.get(url).status_code == 200, url
