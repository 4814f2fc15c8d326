"""The Settings pages through Django's test client: owners only (marketers and analysts get 403 on every
page and action), another workspace's rows are 404, bad input is an error at its field with nothing
saved; keys are shown once and revoked keys refused; members invited, re-roled and removed, never
leaving a workspace without an owner; the audit log filtered and read-only; the messaging settings
(providers, send test, callback URLs, quiet hours, caps and categories)."""

from __future__ import annotations

import re
from datetime import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from activities.models import Profile
from messaging.models import MessagingPolicy, ProviderConfig
from messaging.services import policy_for
from tests.conftest import basic_auth
from tests.personas import Tenant
from workspaces.models import ApiToken, AuditLogEntry, Membership, Role, WriteKey
from workspaces.models import TestProfile as ProfileForTests  # a Test* name pytest would try to collect
from workspaces.services import write_key_create

pytestmark = pytest.mark.django_db


def browser(tenant: Tenant, role: str = Role.OWNER) -> Client:
    client = Client()
    client.force_login(tenant.members[role])
    return client


def u(name: str, *args: Any) -> str:
    return reverse(f"panel:{name}", args=args)


def pages(tenant: Tenant) -> list[str]:
    """Every settings page (GET) of the tenant's workspace."""
    key = WriteKey.objects.filter(workspace=tenant.workspace).first()
    token = ApiToken.objects.filter(workspace=tenant.workspace).first()
    member = Membership.objects.get(workspace=tenant.workspace, user=tenant.members[Role.ANALYST])
    assert key is not None and token is not None
    return [
        u("settings"),
        u("settings_workspace"),
        u("workspaces_writekey_changelist"),
        u("workspaces_writekey_add"),
        u("workspaces_writekey_revoke", key.pk),
        u("workspaces_apitoken_changelist"),
        u("workspaces_apitoken_add"),
        u("workspaces_apitoken_revoke", token.pk),
        u("workspaces_membership_changelist"),
        u("workspaces_membership_add"),
        u("workspaces_membership_change", member.pk),
        u("workspaces_membership_remove", member.pk),
        u("workspaces_auditlogentry_changelist"),
        u("messaging_providerconfig_changelist"),
        u("messaging_provider_edit", "email"),
        u("messaging_provider_test", "email"),
        u("messaging_provider_rotate", "email"),
        u("messaging_provider_remove", "email"),
        u("messaging_messagingpolicy_changelist"),
    ]


# --- Roles and isolation --------------------------------------------------------------------------------


def test_owner_reaches_every_settings_page(acme: Tenant) -> None:
    ProviderConfig.objects.create(workspace=acme.workspace, channel="email", kind="file")
    client = browser(acme)
    for url in pages(acme):
        response = client.get(url)
        assert response.status_code == 200, url


@pytest.mark.parametrize("role", [Role.MARKETER, Role.ANALYST])
def test_marketers_and_analysts_get_403_on_every_page_and_action(acme: Tenant, role: str) -> None:
    ProviderConfig.objects.create(workspace=acme.workspace, channel="email", kind="file")
    client = browser(acme, role)
    for url in pages(acme):
        refused = client.get(url)
        assert refused.status_code == 403, url
        assert b"This page is not for your role" in refused.content, url  # the panel's page, not a bare 403
        assert client.post(url, {"name": "x", "role": "owner", "confirmed": "yes"}).status_code == 403, url
    assert WriteKey.objects.filter(workspace=acme.workspace).count() == 1
    assert WriteKey.objects.filter(workspace=acme.workspace, revoked_at__isnull=False).count() == 0
    assert Membership.objects.get(workspace=acme.workspace, user=acme.members[Role.ANALYST]).role == Role.ANALYST
    assert ProviderConfig.objects.filter(workspace=acme.workspace).count() == 1


def test_the_sidebar_links_settings_for_owners_only(acme: Tenant) -> None:
    assert u("settings") in browser(acme).get(u("index")).content.decode()
    assert u("settings") not in browser(acme, Role.MARKETER).get(u("index")).content.decode()


def test_another_workspaces_rows_are_404(acme: Tenant, globex: Tenant) -> None:
    ProviderConfig.objects.create(workspace=globex.workspace, channel="email", kind="file")
    client = browser(acme)
    foreign = [url for url in pages(globex) if re.search(r"/\d+/", url)]
    assert len(foreign) == 4
    for url in foreign:
        assert client.get(url).status_code == 404, url
        assert client.post(url, {"role": "analyst"}).status_code == 404, url
    listed = client.get(u("workspaces_writekey_changelist")).content.decode()
    globex_key = WriteKey.objects.get(workspace=globex.workspace)
    assert globex_key.prefix not in listed
    audit = client.get(u("workspaces_auditlogentry_changelist")).content.decode()
    assert "Globex" not in audit and "owner@globex.test" not in audit
    assert globex_key.revoked_at is None


def test_the_model_pages_that_would_edit_too_much_are_not_there(acme: Tenant) -> None:
    client = browser(acme)
    entry = AuditLogEntry.objects.filter(workspace=acme.workspace).first()
    assert entry is not None
    assert client.get(f"/workspaces/workspace/{acme.workspace.pk}/change/").status_code == 404
    assert client.post(f"/workspaces/auditlogentry/{entry.pk}/delete/").status_code in (403, 404)
    assert client.post(u("workspaces_writekey_changelist"), {"action": "delete_selected"}).status_code in (200, 302)
    assert AuditLogEntry.objects.filter(pk=entry.pk).exists()


# --- Workspace -----------------------------------------------------------------------------------------


def test_workspace_name_and_timezone(acme: Tenant) -> None:
    client = browser(acme)
    page = client.get(u("settings_workspace")).content.decode()
    assert "Europe/Istanbul" in page
    response = client.post(u("settings_workspace"), {"name": "Acme Shop", "timezone": "Europe/Istanbul"})
    assert response.status_code == 302
    acme.workspace.refresh_from_db()
    assert (acme.workspace.name, acme.workspace.timezone) == ("Acme Shop", "Europe/Istanbul")
    entry = AuditLogEntry.objects.filter(workspace=acme.workspace, object_type="workspace", action="changed").get()
    assert entry.changes["timezone"] == ["UTC", "Europe/Istanbul"]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"name": "", "timezone": "UTC"}, "name", "This field is required"),
        ({"name": "Acme", "timezone": "Mars/Olympus"}, "timezone", "Select a valid choice"),
        ({"name": "   ", "timezone": "UTC"}, "name", "This field is required"),
    ],
)
def test_workspace_bad_input_at_the_field(acme: Tenant, data: dict, field: str, message: str) -> None:
    response = browser(acme).post(u("settings_workspace"), data)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    acme.workspace.refresh_from_db()
    assert (acme.workspace.name, acme.workspace.timezone) == ("Acme", "UTC")


# --- Write keys and management tokens -------------------------------------------------------------------


def test_reloading_the_new_keys_page_makes_no_second_key(acme: Tenant) -> None:
    """The page answering the POST shows the secret; reloading it posts the same form again."""
    client = browser(acme)
    form = client.get(u("workspaces_writekey_add")).content.decode()
    once = re.search(r'name="once" value="([^"]+)"', form).group(1)
    made = client.post(u("workspaces_writekey_add"), {"name": "iOS app", "once": once})
    raw = re.search(r'value="(wk_[^"]+)"', made.content.decode()).group(1)
    again = client.post(u("workspaces_writekey_add"), {"name": "iOS app", "once": once}, follow=True)
    assert "was made already" in again.content.decode() and raw not in again.content.decode()
    assert WriteKey.objects.filter(workspace=acme.workspace, name="iOS app").count() == 1
    other = re.search(r'name="once" value="([^"]+)"', client.get(u("workspaces_writekey_add")).content.decode())
    assert client.post(u("workspaces_writekey_add"), {"name": "Android app", "once": other.group(1)}).status_code == 200
    assert WriteKey.objects.filter(workspace=acme.workspace, name="Android app").count() == 1


def test_write_key_shown_once_then_revoked_and_refused(acme: Tenant) -> None:
    client = browser(acme)
    response = client.post(u("workspaces_writekey_add"), {"name": "iOS app"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    raw = re.search(r'value="(wk_[^"]+)"', response.content.decode()).group(1)
    key = WriteKey.objects.get(workspace=acme.workspace, name="iOS app")
    assert key.prefix == raw[:10] and key.created_by == acme.owner
    listed = client.get(u("workspaces_writekey_changelist")).content.decode()
    assert "iOS app" in listed and key.prefix in listed and raw not in listed
    track = {"userId": "u1", "event": "Signed Up"}
    ok = Client().post("/v1/track", track, content_type="application/json", HTTP_AUTHORIZATION=basic_auth(raw))
    assert ok.status_code == 200

    confirm = client.get(u("workspaces_writekey_revoke", key.pk))
    assert "stops working" in confirm.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None  # asking is not revoking
    assert client.post(u("workspaces_writekey_revoke", key.pk)).status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    refused = Client().post("/v1/track", track, content_type="application/json", HTTP_AUTHORIZATION=basic_auth(raw))
    assert refused.status_code == 401
    assert AuditLogEntry.objects.filter(workspace=acme.workspace, object_type="writekey", action="revoked").exists()
    assert "Revoked" in client.get(u("workspaces_writekey_changelist") + "?status=revoked").content.decode()


def test_management_token_acts_as_the_owner_and_dies_when_revoked(acme: Tenant) -> None:
    client = browser(acme)
    response = client.post(u("workspaces_apitoken_add"), {"name": "CI"})
    raw = re.search(r'value="(nt_[^"]+)"', response.content.decode()).group(1)
    token = ApiToken.objects.get(workspace=acme.workspace, name="CI")
    assert token.membership.user == acme.owner
    api = Client()
    assert api.get("/api/v1/journeys/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    page = client.get(u("workspaces_apitoken_changelist")).content.decode()
    assert "owner@acme.test (Owner)" in page
    client.post(u("workspaces_apitoken_revoke", token.pk))
    assert api.get("/api/v1/journeys/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401


def test_a_key_needs_a_name(acme: Tenant) -> None:
    before = WriteKey.objects.count()
    response = browser(acme).post(u("workspaces_writekey_add"), {"name": ""})
    assert response.status_code == 400
    assert response.context["form"].errors["name"]
    assert WriteKey.objects.count() == before
    response = browser(acme).post(u("workspaces_apitoken_add"), {"name": "x" * 101})
    assert response.status_code == 400 and response.context["form"].errors["name"]


def test_revoking_twice_is_harmless(acme: Tenant) -> None:
    made = write_key_create(workspace=acme.workspace, name="old", actor=acme.owner)
    client = browser(acme)
    client.post(u("workspaces_writekey_revoke", made.record.pk))
    client.post(u("workspaces_writekey_revoke", made.record.pk))
    assert AuditLogEntry.objects.filter(object_type="writekey", action="revoked", object_id=made.record.pk).count() == 1
    assert "already revoked" in client.get(u("workspaces_writekey_revoke", made.record.pk)).content.decode()


# --- Members -------------------------------------------------------------------------------------------


def test_invite_a_new_email_gives_a_one_time_set_password_link(acme: Tenant) -> None:
    client = browser(acme)
    response = client.post(u("workspaces_membership_add"), {"email": "New@Acme.test", "role": "marketer"})
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    user = User.objects.get(email__iexact="new@acme.test")
    assert not user.has_usable_password()
    assert Membership.objects.get(workspace=acme.workspace, user=user).role == Role.MARKETER
    link = re.search(r'value="(http[^"]+set-password[^"]+)"', response.content.decode()).group(1)

    invited = Client()
    form = invited.get(link, follow=True)
    assert form.status_code == 200 and "data-set-password" in form.content.decode()
    done = invited.post(
        form.redirect_chain[-1][0], {"new_password1": "a long pass phrase 42", "new_password2": "a long pass phrase 42"}
    )
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a long pass phrase 42")
    assert "data-invalid-link" in Client().get(link, follow=True).content.decode()  # once only
    logged_in = Client().post(u("login"), {"username": "New@Acme.test", "password": "a long pass phrase 42"})
    assert logged_in.status_code == 302


def test_invite_an_existing_user_adds_them_with_the_role(acme: Tenant, globex: Tenant) -> None:
    someone = globex.members[Role.ANALYST]
    response = browser(acme).post(u("workspaces_membership_add"), {"email": someone.email.upper(), "role": "analyst"})
    assert response.status_code == 302
    assert Membership.objects.get(workspace=acme.workspace, user=someone).role == Role.ANALYST
    assert Membership.objects.get(workspace=globex.workspace, user=someone).role == Role.ANALYST
    assert User.objects.filter(email__iexact=someone.email).count() == 1


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"email": "not an email", "role": "marketer"}, "email", "Enter a valid email"),
        ({"email": "marketer@acme.test", "role": "marketer"}, "email", "already a member"),
        ({"email": "x@acme.test", "role": "boss"}, "role", "Select a valid choice"),
        ({"email": "", "role": "analyst"}, "email", "required"),
    ],
)
def test_invite_bad_input_at_the_field(acme: Tenant, data: dict, field: str, message: str) -> None:
    members = Membership.objects.count()
    response = browser(acme).post(u("workspaces_membership_add"), data)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert Membership.objects.count() == members
    assert not User.objects.filter(email="x@acme.test").exists()


def test_change_role_and_remove(acme: Tenant) -> None:
    client = browser(acme)
    marketer = Membership.objects.get(workspace=acme.workspace, user=acme.members[Role.MARKETER])
    assert client.post(u("workspaces_membership_change", marketer.pk), {"role": "analyst"}).status_code == 302
    marketer.refresh_from_db()
    assert marketer.role == Role.ANALYST
    token = acme.tokens[Role.MARKETER]
    assert Client().get("/api/v1/journeys/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    assert client.get(u("workspaces_membership_remove", marketer.pk)).status_code == 200
    assert Membership.objects.filter(pk=marketer.pk).exists()
    assert client.post(u("workspaces_membership_remove", marketer.pk)).status_code == 302
    assert not Membership.objects.filter(pk=marketer.pk).exists()
    assert User.objects.filter(pk=acme.members[Role.MARKETER].pk).exists()  # the login stays
    assert Client().get("/api/v1/journeys/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    assert AuditLogEntry.objects.filter(workspace=acme.workspace, object_type="membership", action="deleted").exists()


def test_the_last_owner_can_be_neither_demoted_nor_removed(acme: Tenant) -> None:
    client = browser(acme)
    owner = Membership.objects.get(workspace=acme.workspace, user=acme.owner)
    response = client.post(u("workspaces_membership_change", owner.pk), {"role": "marketer"})
    assert response.status_code == 400
    assert "needs an owner" in " ".join(response.context["form"].errors["role"])
    response = client.post(u("workspaces_membership_remove", owner.pk))
    assert response.status_code == 400 and "needs an owner" in response.content.decode()
    owner.refresh_from_db()
    assert owner.role == Role.OWNER
    # With a second owner, the first may step down.
    other = Membership.objects.get(workspace=acme.workspace, user=acme.members[Role.ANALYST])
    client.post(u("workspaces_membership_change", other.pk), {"role": "owner"})
    assert client.post(u("workspaces_membership_change", owner.pk), {"role": "marketer"}).status_code == 302


def test_role_change_bad_input(acme: Tenant) -> None:
    member = Membership.objects.get(workspace=acme.workspace, user=acme.members[Role.ANALYST])
    response = browser(acme).post(u("workspaces_membership_change", member.pk), {"role": "root"})
    assert response.status_code == 400 and response.context["form"].errors["role"]
    member.refresh_from_db()
    assert member.role == Role.ANALYST


def test_members_list_searches(acme: Tenant) -> None:
    page = browser(acme).get(u("workspaces_membership_changelist") + "?q=analyst").content.decode()
    assert "analyst@acme.test" in page and "marketer@acme.test" not in page


# --- Audit log -----------------------------------------------------------------------------------------


def test_audit_log_filters_and_is_read_only(acme: Tenant) -> None:
    client = browser(acme)
    client.post(u("workspaces_writekey_add"), {"name": "Filtered key"})
    page = client.get(u("workspaces_auditlogentry_changelist")).content.decode()
    assert "Filtered key" in page and "Default write key" in page
    by_action = client.get(u("workspaces_auditlogentry_changelist") + "?action=created&object_type=writekey")
    assert by_action.context["cl"].result_count == 2
    by_actor = client.get(u("workspaces_auditlogentry_changelist") + f"?actor__id__exact={acme.owner.pk}")
    owned = AuditLogEntry.objects.filter(workspace=acme.workspace, actor=acme.owner).count()
    assert (
        0
        < by_actor.context["cl"].result_count
        == owned
        < AuditLogEntry.objects.filter(workspace=acme.workspace).count()
    )
    assert client.get(u("workspaces_auditlogentry_changelist") + "?when=1").context["cl"].result_count > 0
    entry = AuditLogEntry.objects.filter(workspace=acme.workspace).first()
    assert entry is not None
    client.post(u("workspaces_auditlogentry_changelist"), {"action": "delete_selected", "_selected_action": entry.pk})
    assert AuditLogEntry.objects.filter(pk=entry.pk).exists()
    assert "data-new-key" not in page and "Add audit" not in page


# --- Messaging: providers ------------------------------------------------------------------------------


def test_providers_page_lists_every_channel(acme: Tenant) -> None:
    page = browser(acme).get(u("messaging_providerconfig_changelist")).content.decode()
    for label in ("Email", "SMS", "Push", "Web push"):
        assert label in page


def test_configure_twilio_secret_write_only(acme: Tenant) -> None:
    client = browser(acme)
    url = u("messaging_provider_edit", "sms")
    data = {
        "kind": "twilio",
        "account_sid": "AC123",
        "from_number": "+15550001",
        "base_url": "",
        "secret": "tok-secret-1",
    }
    assert client.post(url, data).status_code == 302
    config = ProviderConfig.objects.get(workspace=acme.workspace, channel="sms")
    assert config.kind == "twilio" and config.secret == "tok-secret-1"
    assert config.settings == {"account_sid": "AC123", "from_number": "+15550001"}
    page = client.get(url).content.decode()
    assert "tok-secret-1" not in page and "Set" in page
    listing = client.get(u("messaging_providerconfig_changelist")).content.decode()
    assert f"/m/sms/{config.inbound_token}" in listing and "tok-secret-1" not in listing
    # A blank secret keeps the stored one.
    assert client.post(url, {**data, "from_number": "+15550002", "secret": ""}).status_code == 302
    config.refresh_from_db()
    assert config.secret == "tok-secret-1" and config.settings["from_number"] == "+15550002"
    entry = AuditLogEntry.objects.filter(workspace=acme.workspace, object_type="providerconfig").last()
    assert entry is not None and "tok-secret-1" not in str(entry.changes)


@pytest.mark.parametrize(
    ("channel", "data", "field", "message"),
    [
        (
            "sms",
            {"kind": "twilio", "account_sid": "", "from_number": "+1", "secret": "t"},
            "account_sid",
            "Enter the Account SID",
        ),
        (
            "sms",
            {"kind": "twilio", "account_sid": "A", "from_number": "+1"},
            None,
            "needs account_sid, from_number and an auth token",
        ),
        (
            "sms",
            {
                "kind": "twilio",
                "account_sid": "A",
                "from_number": "+1",
                "base_url": "http://169.254.169.254/",
                "secret": "t",
            },
            "base_url",
            "Refused",
        ),
        ("email", {"kind": "smtp", "host": "mail.example.com", "port": "abc"}, "port", "Enter a whole number"),
        ("email", {"kind": "smtp", "host": "10.0.0.5", "port": "25"}, "host", "private address"),
        ("email", {"kind": "nosuch"}, "kind", "Select a valid choice"),
        ("push", {"kind": "fcm", "project_id": "p", "secret": "not json"}, None, "service-account"),
    ],
)
def test_provider_bad_input_at_the_field_nothing_saved(
    acme: Tenant, channel: str, data: dict, field: str | None, message: str
) -> None:
    response = browser(acme).post(u("messaging_provider_edit", channel), data)
    assert response.status_code == 400
    form = response.context["form"]
    errors = form.errors.get(field) if field else form.non_field_errors()
    assert errors and message in " ".join(errors), form.errors
    assert not ProviderConfig.objects.filter(workspace=acme.workspace).exists()


def test_kind_change_refreshes_the_form(acme: Tenant) -> None:
    response = browser(acme).post(u("messaging_provider_edit", "email"), {"kind": "anymail", "refresh": "1"})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="esp"' in page and 'name="host"' not in page
    assert not ProviderConfig.objects.exists()


def test_send_test_through_the_file_outbox(acme: Tenant, settings: Any, tmp_path: Any) -> None:
    settings.VAR_DIR = tmp_path
    client = browser(acme)
    client.post(u("messaging_provider_edit", "email"), {"kind": "file"})
    response = client.post(u("messaging_provider_test", "email"), {"to": "ann@example.com"})
    assert response.status_code == 200
    assert "data-test-sent" in response.content.decode()
    line = (tmp_path / "outbox" / "email.jsonl").read_text()
    assert "ann@example.com" in line and "Nudge test message" in line
    assert AuditLogEntry.objects.filter(workspace=acme.workspace, action="test_sent").exists()


def test_send_test_to_a_test_profile_and_its_failure_shown(acme: Tenant, settings: Any) -> None:
    settings.NUDGE_DEFAULT_PROVIDER = ""
    profile = Profile.objects.create(workspace=acme.workspace, user_id="tester", phone="+15550009")
    ProfileForTests.objects.create(workspace=acme.workspace, profile=profile, label="My phone")
    client = browser(acme)
    page = client.get(u("messaging_provider_test", "sms")).content.decode()
    assert "My phone" in page
    response = client.post(u("messaging_provider_test", "sms"), {"test_profile": str(profile.pk), "to": ""})
    assert response.status_code == 200
    assert "data-test-failed" in response.content.decode()
    assert "no sms provider is configured" in response.content.decode()


def test_send_test_bad_input(acme: Tenant, globex: Tenant) -> None:
    client = browser(acme)
    response = client.post(u("messaging_provider_test", "email"), {"to": "not-an-address"})
    assert response.status_code == 400 and response.context["form"].errors["to"]
    response = client.post(u("messaging_provider_test", "email"), {"to": ""})
    assert response.status_code == 400
    other = Profile.objects.create(workspace=globex.workspace, user_id="g")
    ProfileForTests.objects.create(workspace=globex.workspace, profile=other, label="Globex phone")
    response = client.post(u("messaging_provider_test", "sms"), {"test_profile": str(other.pk)})
    assert response.status_code == 400 and response.context["form"].errors["test_profile"]
    assert client.get(u("messaging_provider_test", "webhook")).status_code == 404
    assert client.get(u("messaging_provider_edit", "nosuch")).status_code == 404


def test_rotate_callback_urls_and_remove(acme: Tenant) -> None:
    client = browser(acme)
    client.post(u("messaging_provider_edit", "email"), {"kind": "file"})
    config = ProviderConfig.objects.get(workspace=acme.workspace, channel="email")
    old = config.inbound_token
    assert old in client.get(u("messaging_provider_rotate", "email")).content.decode()
    config.refresh_from_db()
    assert config.inbound_token == old
    assert client.post(u("messaging_provider_rotate", "email")).status_code == 302
    config.refresh_from_db()
    assert config.inbound_token != old
    assert client.post(u("messaging_provider_remove", "email")).status_code == 302
    assert not ProviderConfig.objects.filter(workspace=acme.workspace).exists()
    assert client.get(u("messaging_provider_rotate", "email")).status_code == 404


# --- Messaging: sending rules --------------------------------------------------------------------------


def rules(**fields: str) -> dict[str, str]:
    data = {
        "quiet_hours_start": "22:00",
        "quiet_hours_end": "08:00",
        "caps-TOTAL_FORMS": "2",
        "caps-INITIAL_FORMS": "0",
        "caps-0-max": "3",
        "caps-0-channel": "*",
        "caps-0-category": "promotional",
        "caps-0-per_0": "1",
        "caps-0-per_1": "days",
        "caps-1-max": "",
        "caps-1-channel": "*",
        "caps-1-category": "*",
        "caps-1-per_0": "",
        "caps-1-per_1": "",
    }
    return {**data, **fields}


def test_sending_rules_saved(acme: Tenant) -> None:
    client = browser(acme)
    page = client.get(u("messaging_messagingpolicy_changelist")).content.decode()
    assert u("messaging_categories") in page and "Promotional" in page
    response = client.post(u("messaging_messagingpolicy_changelist"), rules())
    assert response.status_code == 302
    policy = MessagingPolicy.objects.get(workspace=acme.workspace)
    assert (policy.quiet_hours_start, policy.quiet_hours_end) == (time(22), time(8))
    assert policy.frequency_caps == [{"channel": "*", "category": "promotional", "max": 3, "per": "P1D"}]
    page = client.get(u("messaging_messagingpolicy_changelist")).content.decode()
    assert re.search(r'name="quiet_hours_start"[^>]*value="22:00', page) or re.search(
        r'value="22:00[^"]*"[^>]*name="quiet_hours_start"', page
    )
    assert re.search(r'name="caps-0-max"[^>]*value="3"', page) or re.search(r'value="3"[^>]*name="caps-0-max"', page)
    entry = AuditLogEntry.objects.filter(workspace=acme.workspace, object_type="messagingpolicy").get()
    assert entry.changes["quiet_hours"] == [["", ""], ["22:00:00", "08:00:00"]]
    # Emptying every row and both times removes them.
    cleared = rules(quiet_hours_start="", quiet_hours_end="", **{"caps-0-max": "", "caps-0-per_0": ""})
    assert client.post(u("messaging_messagingpolicy_changelist"), cleared).status_code == 302
    policy.refresh_from_db()
    assert (policy.quiet_hours_start, policy.frequency_caps) == (None, [])


@pytest.mark.parametrize(
    ("fields", "where", "message"),
    [
        ({"quiet_hours_end": ""}, "quiet_hours_end", "Give both times"),
        ({"quiet_hours_end": "22:00"}, "quiet_hours_end", "Must differ"),
        ({"quiet_hours_start": "25:00"}, "quiet_hours_start", "Enter a valid time"),
        ({"caps-0-max": "-1"}, "caps-0-max", "greater than or equal to 0"),
        ({"caps-0-max": ""}, "caps-0-max", "Enter how many"),
        ({"caps-0-per_1": ""}, "caps-0-per", "Choose a unit"),
        ({"caps-0-category": "nosuch"}, "caps-0-category", "Select a valid choice"),
        ({"caps-0-channel": "fax"}, "caps-0-channel", "Select a valid choice"),
        ({"caps-0-category": "transactional"}, "caps-0-category", "never capped"),  # would never apply
    ],
)
def test_sending_rules_bad_input_at_the_field(acme: Tenant, fields: dict, where: str, message: str) -> None:
    before = policy_for(acme.workspace.pk)
    response = browser(acme).post(u("messaging_messagingpolicy_changelist"), rules(**fields))
    assert response.status_code == 400
    errors = response.context["field_errors"]
    assert message in " ".join(errors.get(where, [])), errors
    after = MessagingPolicy.objects.get(workspace=acme.workspace)
    assert (after.quiet_hours_start, after.frequency_caps) == (before.quiet_hours_start, before.frequency_caps)


def test_settings_home_lists_every_settings_page(acme: Tenant) -> None:
    page = browser(acme).get(u("settings")).content.decode()
    for name in (
        "settings_workspace",
        "workspaces_membership_changelist",
        "workspaces_writekey_changelist",
        "workspaces_apitoken_changelist",
        "messaging_providerconfig_changelist",
        "messaging_messagingpolicy_changelist",
        "messaging_categories",
        "workspaces_auditlogentry_changelist",
    ):
        assert f'href="{u(name)}"' in page, name
