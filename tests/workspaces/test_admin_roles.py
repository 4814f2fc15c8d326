"""The admin's forms follow the member's role: a marketer saves the objects of their workspace and
cannot move them to another; adding stays with owners; workspace settings, members and keys are the
owners'; the private-webhooks switch is the operators'; counters are never edited."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from activities.models import Profile
from messaging.models import Template
from tests.personas import Tenant
from workspaces.models import ApiToken, Membership, Role, Workspace, WriteKey
from workspaces.models import TestProfile as WorkspaceTestProfile  # not a test class
from workspaces.services import membership_set

pytestmark = pytest.mark.django_db


def staff(user: User) -> Client:
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    browser = Client()
    browser.force_login(user)
    return browser


def operator() -> Client:
    browser = Client()
    browser.force_login(User.objects.create_superuser("op", "op@x.test", "pw"))
    return browser


def form_data(page: Any, **changes: Any) -> dict[str, Any]:
    """What the browser would post back from an admin change or add page, with `changes` applied."""
    forms = [page.context["adminform"].form]
    data: dict[str, Any] = {}
    for inline in page.context["inline_admin_formsets"]:
        forms += [inline.formset.management_form, *inline.formset.forms]
    for form in forms:
        for field in form:
            value = field.value()
            if value is True:
                data[field.html_name] = "on"
            elif value is not None and value is not False:  # 0 (an inline's TOTAL_FORMS) is posted
                data[field.html_name] = value
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def save(browser: Client, url: str, **changes: Any) -> Any:
    page = browser.get(url)
    assert page.status_code == 200, url
    return browser.post(url, form_data(page, **changes))


def errors(response: Any) -> dict[str, list[str]]:
    form = response.context["adminform"].form
    return {name: [str(e) for e in errs] for name, errs in form.errors.items()}


@pytest.fixture
def push_template(acme: Tenant) -> Template:
    return Template.objects.create(
        workspace=acme.workspace, name="welcome", channel="push", content={"title": "Hi", "body": "there"}
    )


@pytest.fixture
def test_profile(acme: Tenant) -> WorkspaceTestProfile:
    profile = Profile.objects.create(workspace=acme.workspace, user_id="tester")
    return WorkspaceTestProfile.objects.create(workspace=acme.workspace, profile=profile, label="QA phone")


def test_a_marketer_saves_objects_of_their_workspace(acme, push_template, test_profile):
    marketer = staff(acme.members[Role.MARKETER])
    url = f"/admin/messaging/template/{push_template.pk}/change/"
    response = save(marketer, url, content='{"title": "Hello", "body": "again"}')
    assert response.status_code == 302, errors(response)
    push_template.refresh_from_db()
    assert push_template.content == {"title": "Hello", "body": "again"}

    response = save(marketer, f"/admin/workspaces/testprofile/{test_profile.pk}/change/", label="QA tablet")
    assert response.status_code == 302, errors(response)
    test_profile.refresh_from_db()
    assert test_profile.label == "QA tablet"


def test_an_object_stays_in_its_workspace_even_for_a_member_of_both(acme, globex, push_template, test_profile):
    member = acme.members[Role.MARKETER]
    membership_set(workspace=globex.workspace, user=member, role=Role.OWNER, actor=globex.owner)
    marketer = staff(member)
    url = f"/admin/messaging/template/{push_template.pk}/change/"
    response = save(marketer, url, workspace=str(globex.workspace.pk))
    assert response.status_code == 200
    assert "Select a valid choice" in errors(response)["workspace"][0]
    assert Template.objects.get(pk=push_template.pk).workspace == acme.workspace

    theirs = Profile.objects.create(workspace=globex.workspace, user_id="theirs")
    url = f"/admin/workspaces/testprofile/{test_profile.pk}/change/"
    response = save(marketer, url, profile=str(theirs.pk))
    assert "Select a valid choice" in errors(response)["profile"][0]
    assert WorkspaceTestProfile.objects.get(pk=test_profile.pk).profile.workspace == acme.workspace


def test_adding_is_for_owners_and_a_new_object_links_within_one_workspace(acme, globex):
    assert staff(acme.members[Role.MARKETER]).get("/admin/workspaces/testprofile/add/").status_code == 403
    ours = Profile.objects.create(workspace=acme.workspace, user_id="ours")
    theirs = Profile.objects.create(workspace=globex.workspace, user_id="theirs")

    owner = staff(acme.owner)
    response = owner.post(
        "/admin/workspaces/testprofile/add/",
        {"workspace": globex.workspace.pk, "profile": theirs.pk, "label": "x"},
    )
    assert {"workspace", "profile"} <= set(errors(response))  # neither is the owner's to add to
    response = owner.post(
        "/admin/workspaces/testprofile/add/", {"workspace": acme.workspace.pk, "profile": ours.pk, "label": "QA"}
    )
    assert response.status_code == 302 and WorkspaceTestProfile.objects.get(label="QA").profile == ours

    # An operator may add anywhere, but not a test profile of Acme that is Globex's profile.
    response = operator().post(
        "/admin/workspaces/testprofile/add/", {"workspace": acme.workspace.pk, "profile": theirs.pk, "label": "bad"}
    )
    assert errors(response) == {"profile": ["Belongs to another workspace."]}
    assert not WorkspaceTestProfile.objects.filter(label="bad").exists()


def test_workspace_settings_are_the_owners_and_private_webhooks_the_operators(acme):
    url = f"/admin/workspaces/workspace/{acme.workspace.pk}/change/"
    marketer = staff(acme.members[Role.MARKETER])
    page = marketer.get(url)
    assert page.status_code == 200 and 'name="name"' not in page.content.decode()  # view only
    response = marketer.post(url, {"name": "Mine", "slug": "mine", "timezone": "UTC", "allow_private_webhooks": "on"})
    assert response.status_code == 403

    owner = staff(acme.owner)
    page = owner.get(url)
    assert 'name="allow_private_webhooks"' not in page.content.decode()
    assert 'name="journeys_generation"' not in page.content.decode()
    generation = Workspace.objects.get(pk=acme.workspace.pk).journeys_generation
    response = owner.post(
        url,
        form_data(
            page, name="Acme Inc", slug="acme-inc", allow_private_webhooks="on", journeys_generation=str(generation + 9)
        ),
    )
    assert response.status_code == 302, errors(response)
    workspace = Workspace.objects.get(pk=acme.workspace.pk)
    assert (workspace.name, workspace.slug) == ("Acme Inc", "acme-inc")
    assert workspace.allow_private_webhooks is False and workspace.journeys_generation == generation

    response = save(operator(), url, allow_private_webhooks="on", journeys_generation=str(generation + 9))
    assert response.status_code == 302, errors(response)
    workspace.refresh_from_db()
    assert workspace.allow_private_webhooks is True and workspace.journeys_generation == generation


def test_members_and_keys_are_the_owners(acme):
    marketer_user = acme.members[Role.MARKETER]
    marketer = staff(marketer_user)
    mine = Membership.objects.get(workspace=acme.workspace, user=marketer_user)
    response = marketer.post(
        f"/admin/workspaces/membership/{mine.pk}/change/",
        {"workspace": acme.workspace.pk, "user": marketer_user.pk, "role": Role.OWNER},
    )
    assert response.status_code == 403
    assert Membership.objects.get(pk=mine.pk).role == Role.MARKETER

    token = ApiToken.objects.get(membership=mine)
    owners = Membership.objects.get(workspace=acme.workspace, user=acme.owner)
    response = marketer.post(
        f"/admin/workspaces/apitoken/{token.pk}/change/", {"membership": owners.pk, "name": "mine now"}
    )
    assert response.status_code == 403
    # Not even an owner repoints a token at another member: it would act with that member's role.
    response = save(staff(acme.owner), f"/admin/workspaces/apitoken/{token.pk}/change/", membership=str(owners.pk))
    assert response.status_code == 302
    assert ApiToken.objects.get(pk=token.pk).membership == mine


def test_keys_are_revoked_only_where_the_member_is_owner(acme, globex):
    membership_set(workspace=globex.workspace, user=acme.owner, role=Role.ANALYST, actor=globex.owner)
    keys = {key.workspace_id: key for key in WriteKey.objects.filter(workspace__in=[acme.workspace, globex.workspace])}
    for browser in (staff(acme.members[Role.MARKETER]), staff(acme.owner)):
        browser.post(
            "/admin/workspaces/writekey/",
            {"action": "revoke_keys", "_selected_action": [k.pk for k in keys.values()]},
        )
    assert WriteKey.objects.get(pk=keys[globex.workspace.pk].pk).revoked_at is None
    assert WriteKey.objects.get(pk=keys[acme.workspace.pk].pk).revoked_at is not None


def test_providers_and_messaging_policies_are_the_owners_settings(acme):
    from messaging.models import MessagingPolicy, ProviderConfig

    provider = ProviderConfig.objects.create(workspace=acme.workspace, channel="webhook", kind="webhook", settings={})
    policy, _ = MessagingPolicy.objects.get_or_create(workspace=acme.workspace)
    marketer, owner = staff(acme.members[Role.MARKETER]), staff(acme.owner)
    for url in (
        f"/admin/messaging/providerconfig/{provider.pk}/change/",
        f"/admin/messaging/messagingpolicy/{policy.pk}/change/",
    ):
        page = marketer.get(url)
        assert page.status_code == 200 and not page.context["has_change_permission"], url  # a marketer reads
        assert marketer.post(url, form_data(page)).status_code == 403, url
        assert owner.get(url).context["has_change_permission"], url
