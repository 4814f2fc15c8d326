"""A member signed in to the panel uses the management API (and its interactive docs) in the panel's
current workspace, with their role there, exactly as a token of that role would; writes need CSRF."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from drf_spectacular.generators import SchemaGenerator

from journeys.models import Journey
from journeys.services import journey_create
from panel.access import SESSION_KEY
from tests.personas import Tenant
from workspaces.models import Role
from workspaces.services import membership_set

pytestmark = pytest.mark.django_db

DRAFT = {
    "name": "Welcome",
    "entry": {"type": "event", "event": "signed_up"},
    "start": "w",
    "nodes": {"w": {"type": "delay", "duration": "P1D", "next": None}},
}


@pytest.fixture
def journeys(acme: Tenant, globex: Tenant) -> None:
    for tenant in (acme, globex):
        journey_create(
            workspace=tenant.workspace, actor=tenant.owner, document={**DRAFT, "name": tenant.workspace.name}
        )


def _browser(user: User, workspace_id: int | None = None) -> Client:
    """A real browser session: the CSRF middleware checks every unsafe request."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    if workspace_id is not None:
        session = browser.session
        session[SESSION_KEY] = workspace_id
        session.save()
    return browser


def _csrf(browser: Client) -> str:
    """The CSRF token as the Swagger UI has it: written into the docs page, sent as X-CSRFToken."""
    page = browser.get("/api/docs/").content.decode()
    found = re.search(r'request\.headers\["X-CSRFTOKEN"\] = "([^"]+)"', page)
    assert found, "the docs page does not send the CSRF header"
    return found.group(1)


def _names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["name"] for row in response.json()["results"]]


def test_an_analyst_reads_only_the_current_workspace_and_cannot_write(acme, journeys):
    browser = _browser(acme.members[Role.ANALYST])
    assert _names(browser.get("/api/v1/journeys/")) == ["Acme"]
    response = browser.post(
        "/api/v1/journeys/", DRAFT, content_type="application/json", HTTP_X_CSRFTOKEN=_csrf(browser)
    )
    assert response.status_code == 403
    assert "role" in response.json()["detail"]
    assert not Journey.objects.filter(name="Welcome").exists()


def test_a_marketer_writes_with_the_csrf_token_and_is_refused_without(acme, journeys):
    browser = _browser(acme.members[Role.MARKETER])
    refused = browser.post("/api/v1/journeys/", DRAFT, content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    assert not Journey.objects.filter(name="Welcome").exists()

    created = browser.post("/api/v1/journeys/", DRAFT, content_type="application/json", HTTP_X_CSRFTOKEN=_csrf(browser))
    assert created.status_code == 201, created.content
    journey = Journey.objects.get(name="Welcome")
    assert journey.workspace == acme.workspace
    assert journey.updated_by == acme.members[Role.MARKETER]


def test_switching_workspace_in_the_session_switches_the_scope_and_the_role(acme, globex, journeys):
    analyst = acme.members[Role.ANALYST]
    membership_set(workspace=globex.workspace, user=analyst, role=Role.MARKETER, actor=globex.owner)
    browser = _browser(analyst, acme.workspace.pk)
    assert _names(browser.get("/api/v1/journeys/")) == ["Acme"]
    csrf = _csrf(browser)
    post = {"content_type": "application/json", "HTTP_X_CSRFTOKEN": csrf}
    assert browser.post("/api/v1/journeys/", DRAFT, **post).status_code == 403  # an analyst in Acme

    session = browser.session
    session[SESSION_KEY] = globex.workspace.pk
    session.save()
    assert _names(browser.get("/api/v1/journeys/")) == ["Globex"]
    assert browser.post("/api/v1/journeys/", DRAFT, **post).status_code == 201  # a marketer in Globex
    assert Journey.objects.get(name="Welcome").workspace == globex.workspace


def test_a_session_cannot_choose_a_workspace_it_does_not_belong_to(acme, globex, journeys):
    browser = _browser(acme.members[Role.ANALYST], globex.workspace.pk)
    assert _names(browser.get("/api/v1/journeys/")) == ["Acme"]  # the switcher's rule: their own, first


def test_a_signed_in_user_without_membership_is_refused(acme, journeys, django_user_model):
    loner = django_user_model.objects.create_user("loner", password="pw")
    assert _browser(loner).get("/api/v1/journeys/").status_code in (401, 403)
    operator = django_user_model.objects.create_superuser("op", "op@x.test", "pw")
    assert _browser(operator).get("/api/v1/journeys/").status_code in (401, 403)  # operators use the admin


def test_an_inactive_users_session_is_refused(acme, journeys):
    user = acme.members[Role.OWNER]
    browser = _browser(user)
    assert browser.get("/api/v1/journeys/").status_code == 200
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert browser.get("/api/v1/journeys/").status_code == 401


def test_a_token_comes_first(acme, globex, journeys):
    browser = _browser(acme.members[Role.ANALYST])
    assert _names(browser.get("/api/v1/journeys/", **globex.auth(Role.OWNER))) == ["Globex"]
    assert browser.get("/api/v1/journeys/", HTTP_AUTHORIZATION="Bearer nt_wrong").status_code == 401


def test_the_docs_render_for_a_member(acme):
    page = _browser(acme.members[Role.ANALYST]).get("/api/docs/")
    assert page.status_code == 200
    assert b"SwaggerUIBundle" in page.content
    schema = _browser(acme.members[Role.ANALYST]).get("/api/schema/")
    assert schema.status_code == 200
    assert b"panelSession" in schema.content and b"managementToken" in schema.content


def _paths(method: str) -> list[str]:
    """Every endpoint taking `method` that needs no id (a workspace's lists, its simulate and estimate…)."""
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return sorted(path for path, operations in paths.items() if method in operations and "{" not in path)


@pytest.mark.parametrize("role", [Role.ANALYST, Role.MARKETER, Role.OWNER])
def test_every_endpoint_answers_a_session_as_a_token_of_the_same_role(acme, globex, journeys, role):
    """Reads: the same rows; writes (an empty body): the same verdict, so no endpoint scopes or
    role-checks a session caller differently."""
    reads, writes = _paths("get"), _paths("post")
    assert "/api/v1/journeys/" in reads and "/api/v1/segments/estimate/" in writes
    token, browser = Client(), _browser(acme.members[role])
    for path in reads:
        by_token, by_session = token.get(path, **acme.auth(role)), browser.get(path)
        assert (by_session.status_code, by_session.content) == (by_token.status_code, by_token.content), path
    csrf = _csrf(browser)
    for path in writes:
        by_token = token.post(path, {}, content_type="application/json", **acme.auth(role))
        by_session = browser.post(path, {}, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
        assert by_session.status_code == by_token.status_code, (path, by_session.content, by_token.content)
