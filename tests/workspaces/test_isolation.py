"""Workspaces are sealed: no key, token, member or operator page of one workspace reaches another's rows."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client

from activities.models import Activity, EvaluationBatch, Profile
from activities.pipeline import batch_process
from journeys.models import Enrollment
from journeys.services import journey_create, journey_publish
from messaging.models import Message, Template
from tests.conftest import SegmentClient
from workspaces.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def both(acme, globex, client):
    for tenant, secret in ((acme, "acme-secret"), (globex, "globex-secret")):
        Template.objects.create(
            workspace=tenant.workspace,
            name=f"{secret}-template",
            channel="push",
            content={"title": secret, "body": "b"},
        )
        journey = journey_create(
            workspace=tenant.workspace,
            actor=tenant.owner,
            document={
                "name": f"{secret} journey",
                "entry": {"type": "event", "event": f"{secret}-event"},
                "start": "s",
                "nodes": {
                    "s": {"type": "send", "channel": "push", "template": f"{secret}-template", "next": "w"},
                    "w": {"type": "delay", "duration": "P1D", "next": None},
                },
            },
        )
        journey_publish(journey=journey, actor=tenant.owner)
        segment = SegmentClient(client, tenant.write_key)
        segment.post("/v1/identify", {"userId": "same-user", "traits": {"secret": secret}})
        segment.post("/v1/track", {"userId": "same-user", "event": f"{secret}-event"})
    for batch in EvaluationBatch.objects.order_by("pk"):  # tracked activities, enrollments, timers, messages
        batch_process(batch.pk)
    assert Enrollment.objects.count() == 2 and Message.objects.count() == 2
    return acme, globex


def test_the_same_user_id_is_two_profiles_in_two_workspaces(both):
    acme, globex = both
    assert Profile.objects.get(workspace=acme.workspace).traits == {"secret": "acme-secret"}
    assert Profile.objects.get(workspace=globex.workspace).traits == {"secret": "globex-secret"}


def test_an_api_token_lists_only_its_workspace(client, both):
    acme, _ = both
    profiles = client.get("/api/v1/profiles/", **acme.auth()).json()["results"]
    assert [p["traits"]["secret"] for p in profiles] == ["acme-secret"]
    names = [a["name"] for a in client.get("/api/v1/activities/", **acme.auth()).json()["results"]]
    assert "globex-secret-event" not in names and "acme-secret-event" in names
    filtered = client.get("/api/v1/activities/?name=globex-secret-event", **acme.auth()).json()
    assert filtered["count"] == 0


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("get", ""),
        ("get", "timeline/"),
        ("get", "export/"),
        ("get", "behaviors"),
        ("patch", ""),
        ("delete", ""),
    ],
)
def test_an_api_token_cannot_touch_another_workspaces_profile(client, both, method, suffix):
    acme, globex = both
    theirs = Profile.objects.get(workspace=globex.workspace)
    response = getattr(client, method)(
        f"/api/v1/profiles/{theirs.pk}/{suffix}",
        data={"tags_add": ["x"]},
        content_type="application/json",
        **acme.auth(Role.OWNER),
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.tags == [] and theirs.traits == {"secret": "globex-secret"}


def test_an_api_token_cannot_read_another_workspaces_activity(client, both):
    acme, globex = both
    theirs = Activity.objects.filter(workspace=globex.workspace).first()
    assert client.get(f"/api/v1/activities/{theirs.pk}/", **acme.auth()).status_code == 404


def test_a_write_key_cannot_be_used_as_a_management_token(client, both):
    acme, _ = both
    assert client.get("/api/v1/profiles/", HTTP_AUTHORIZATION=f"Bearer {acme.write_key}").status_code == 401


def test_a_management_token_cannot_ingest(client, both):
    acme, _ = both
    response = SegmentClient(client, acme.tokens[Role.OWNER]).post("/v1/track", {"userId": "u", "event": "x"})
    assert response.status_code == 401


def _staff(tenant, role: str) -> Client:
    user: User = tenant.members[role]
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    browser = Client()
    browser.force_login(user)
    return browser


# Every page the admin has, so a model added later is checked too.
ADMIN_PAGES = sorted(f"{model._meta.app_label}/{model._meta.model_name}" for model in admin.site._registry)


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_admin_changelists_show_only_the_members_workspace(both, page):
    acme, globex = both
    html = _staff(acme, Role.OWNER).get(f"/admin/{page}/").content.decode()
    assert "Globex" not in html and "globex-secret" not in html


def test_admin_object_pages_of_another_workspace_are_unreachable(both):
    acme, globex = both
    browser = _staff(acme, Role.OWNER)
    theirs = Profile.objects.get(workspace=globex.workspace)
    response = browser.get(f"/admin/activities/profile/{theirs.pk}/change/")
    assert response.status_code in (302, 404)
    assert b"globex-secret" not in response.content
    response = browser.post(f"/admin/activities/profile/{theirs.pk}/delete/", {"post": "yes"})
    assert Profile.objects.filter(pk=theirs.pk).exists()


def test_admin_rights_follow_the_role(both):
    acme, _ = both
    ours = Profile.objects.get(workspace=acme.workspace)
    analyst = _staff(acme, Role.ANALYST)
    assert analyst.get(f"/admin/activities/profile/{ours.pk}/change/").status_code == 200  # view only
    analyst.post(f"/admin/activities/profile/{ours.pk}/delete/", {"post": "yes"})
    assert Profile.objects.filter(pk=ours.pk).exists()
    assert analyst.get("/admin/workspaces/writekey/add/").status_code == 403
    assert _staff(acme, Role.OWNER).get("/admin/workspaces/writekey/add/").status_code == 200


def test_staff_without_membership_see_nothing(both, django_user_model):
    loner = django_user_model.objects.create_user("loner", password="pw", is_staff=True)
    browser = Client()
    browser.force_login(loner)
    assert browser.get("/admin/activities/profile/").status_code == 403


def test_the_panel_works_in_the_members_workspaces_only(both):
    acme, globex = both
    browser = Client()
    browser.force_login(acme.members[Role.ANALYST])
    home = browser.get("/")
    assert home.status_code == 200 and home.context["workspace"] == acme.workspace
    assert browser.get(f"/switch/{globex.workspace.pk}/").status_code == 404
    assert browser.get("/switch/999999/").status_code == 404
    assert browser.get("/").context["workspace"] == acme.workspace


def test_panel_requires_login(client, both):
    response = client.get("/")
    assert response.status_code == 302 and "/login/" in response["Location"]
