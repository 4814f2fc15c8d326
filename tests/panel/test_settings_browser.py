"""Settings in real headless chromium against gunicorn: an owner creates a write key (shown once), sends an
event with it, revokes it after confirming, and the key then gets 401 on /v1/track; invites a member;
sets up the SMS provider (the form follows the chosen kind) and its callback URLs; saves quiet hours.
A marketer has no Settings in the sidebar and gets 403 on its pages."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from messaging.models import MessagingPolicy, ProviderConfig
from tests.conftest import basic_auth
from tests.panel.conftest import choose, log_in, screenshot
from workspaces.models import Membership, Role, WriteKey

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _database_before_browser(django_db_setup: None) -> None:
    """The test database is made before the session's browser starts Playwright's loop in this thread
    (run alone, this module would otherwise create it inside that loop)."""


def track(base: str, key: str) -> int:
    body = {"userId": "u1", "event": "Signed Up"}
    return httpx.post(f"{base}/v1/track", json=body, headers={"Authorization": basic_auth(key)}).status_code


def test_owner_creates_and_revokes_a_write_key_and_sets_up_messaging(page: Page, live_nudge: str, acme) -> None:
    base = live_nudge
    log_in(page, base, acme.owner.username)
    page.click("text=Settings")
    expect(page.locator("[data-settings-home]")).to_be_visible()
    screenshot(page, "settings-home")

    # A write key: created, shown once, works, revoked after confirming, then refused.
    page.click("[data-settings=write_keys]")
    page.click("[data-new-key]")
    page.fill("input[name=name]", "iOS app")
    page.click("[data-submit]")
    secret = page.locator("[data-secret]").input_value()
    assert secret.startswith("wk_")
    screenshot(page, "settings-key-created")
    assert track(base, secret) == 200
    page.click("[data-done]")
    prefix = WriteKey.objects.get(workspace=acme.workspace, name="iOS app").prefix
    expect(page.locator("#result_list")).to_contain_text("iOS app")
    assert secret not in page.content()
    screenshot(page, "settings-write-keys")
    page.click(f"[data-revoke='{prefix}']")
    expect(page.locator("[data-confirm-page]")).to_contain_text("stops working")
    page.click("[data-confirm]")
    expect(page.locator("#result_list")).to_contain_text("Revoked")
    assert track(base, secret) == 401

    # A new member, with the link to set their password.
    page.click("[data-tab=members]")
    page.click("[data-invite]")
    page.fill("input[name=email]", "cem@acme.test")
    page.check("input[name=role][value=analyst]")
    page.click("[data-submit]")
    expect(page.locator("[data-link]")).to_have_value(re.compile("/set-password/"))
    assert Membership.objects.get(workspace=acme.workspace, user__email="cem@acme.test").role == Role.ANALYST

    # The SMS provider: choosing Twilio brings its fields; a missing field is named there.
    page.click("[data-tab=providers]")
    page.click("[data-edit=sms]")
    choose(page, "select[name=kind]", "twilio")
    expect(page.locator("input[name=account_sid]")).to_be_visible()
    page.fill("input[name=from_number]", "+15550001234")
    page.click("[data-submit]")
    expect(page.locator("[data-field=account_sid]")).to_contain_text("Enter the Account SID")
    page.fill("input[name=account_sid]", "AC123")
    page.fill("input[name=secret]", "auth-token-123")
    screenshot(page, "settings-provider-form")
    page.click("[data-submit]")
    expect(page.locator("[data-provider=sms] [data-secret-state]")).to_have_text("set")
    config = ProviderConfig.objects.get(workspace=acme.workspace, channel="sms")
    expect(page.locator("[data-provider=sms]")).to_contain_text(f"/m/sms/{config.inbound_token}")
    assert "auth-token-123" not in page.content()
    screenshot(page, "settings-providers")

    # Quiet hours.
    page.click("[data-tab=rules]")
    page.fill("input[name=quiet_hours_start]", "22:00")
    page.fill("input[name=quiet_hours_end]", "08:00")
    page.fill("input[name=caps-0-max]", "3")
    page.fill("input[name=caps-0-per_0]", "1")
    page.select_option("select[name=caps-0-per_1]", "days")
    page.click("[data-submit]")
    expect(page.locator("input[name=quiet_hours_start]")).to_have_value(re.compile("^22:00"))
    policy = MessagingPolicy.objects.get(workspace=acme.workspace)
    assert policy.frequency_caps == [{"channel": "*", "category": "*", "max": 3, "per": "P1D"}]
    screenshot(page, "settings-rules")
    page.click("[data-tab=audit]")
    expect(page.locator("#result_list")).to_contain_text("revoked")
    screenshot(page, "settings-audit")


def test_marketer_cannot_reach_settings(page: Page, live_nudge: str, acme) -> None:
    log_in(page, live_nudge, acme.members[Role.MARKETER].username)
    expect(page.locator("#nav-sidebar, nav").first).to_be_visible()
    assert page.locator("a[href='/workspaces/workspace/']").count() == 0
    response = page.goto(f"{live_nudge}/workspaces/writekey/")
    assert response is not None and response.status == 403
