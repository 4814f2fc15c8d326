"""A marketer writes templates in real headless chromium against gunicorn: an SMS whose preview and
segment count change as they type (no reload), a Liquid error shown at its line, a Turkish version
previewed for a Turkish customer, an email shown as it will look; then a test send to the workspace's
test profile, found in the message log with its history. Every page is photographed under
var/screenshots/messages-*.png."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from activities.models import Profile
from messaging.models import Message, Template
from tests.messaging.helpers import journey_sending
from tests.panel.conftest import log_in, screenshot
from workspaces.models import Role

pytestmark = pytest.mark.slow


@pytest.fixture
def customers(acme):
    now = timezone.now()
    Profile.objects.create(
        workspace=acme.workspace,
        user_id="ayse",
        traits={"first_name": "Ayşe"},
        locale="tr-TR",
        phone="+905550000001",
        email="ayse@example.com",
        first_seen=now,
        last_seen=now,
    )
    return acme


def _typed(page: Page, selector: str, text: str) -> None:
    """Type into a field and wait for the preview it redraws (htmx, debounced)."""
    with page.expect_response(lambda r: "/messaging/template/preview/" in r.url):
        page.fill(selector, text)


def test_an_sms_template_previews_as_typed_then_a_test_goes_out(page: Page, live_nudge: str, customers):
    base = live_nudge
    log_in(page, base, customers.members[Role.MARKETER].username)

    # Test profiles first: the customer's phone becomes the team's test phone.
    page.goto(f"{base}/messaging/template/test-profiles/")
    page.fill("input[name=who]", "+905550000001")
    page.fill("input[name=label]", "Ayşe (QA phone)")
    page.click("form.wizard-form button[type=submit]")
    expect(page.locator("[data-test-profiles]")).to_contain_text("Ayşe (QA phone)")
    screenshot(page, "messages-test-profiles")

    # A new SMS template: the channel first, then its fields with the preview beside them.
    page.goto(f"{base}/messaging/template/")
    expect(page.locator("[data-empty]")).to_contain_text("No templates yet")
    page.click("text=New template")
    page.click("a[data-channel=sms]")
    page.fill("input[name=name]", "cart-reminder")
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    _typed(page, "textarea[name=c-body]", "Hi {{ profile.first_name }}, your cart is waiting")
    preview = page.locator("[data-preview]")
    expect(preview.locator("[data-sms-body]")).to_have_text("Hi Ayşe, your cart is waiting")
    expect(preview.locator("[data-sms-encoding]")).to_have_attribute("data-sms-encoding", "UCS-2")  # the ş
    expect(preview.locator("[data-segments]")).to_have_text("1 segment")
    _typed(page, "textarea[name=c-body]", "Hi {{ profile.first_name }}, " + "your cart is waiting. " * 4)
    expect(preview.locator("[data-segments]")).to_have_text("2 segments")
    screenshot(page, "messages-sms-editor")
    _typed(page, "textarea[name=c-body]", "Hi there,\n{{ profile.first_name | shout }}")
    expect(preview.locator("[data-preview-problems]")).to_contain_text("line 2")
    expect(preview.locator("[data-preview-problems]")).to_contain_text("{{ profile.first_name | shout }}")
    screenshot(page, "messages-liquid-error")
    _typed(page, "textarea[name=c-body]", "Your cart is waiting: 2 items")
    expect(preview.locator("[data-sms-encoding]")).to_have_attribute("data-sms-encoding", "GSM-7")
    assert page.evaluate("window.__sameDocument") is True

    # A Turkish version: added as a tab, previewed for the Turkish customer.
    page.fill("input[name=new_locale]", "tr")
    page.click("button[name=add_locale]")
    page.click("button[data-tab=tr]")
    _typed(page, "textarea[name=v-tr-body]", "Sepetin seni bekliyor, {{ profile.first_name }}")
    expect(preview.locator("[data-sms-body]")).to_have_text("Sepetin seni bekliyor, Ayşe")
    expect(preview.locator("[data-preview-for]")).to_contain_text("tr version")
    page.click("button[name=save]")
    page.wait_for_url(re.compile(r"/messaging/template/\d+/change/$"))
    saved = Template.objects.get(workspace=customers.workspace, name="cart-reminder")
    assert saved.variants == {"tr": {"body": "Sepetin seni bekliyor, {{ profile.first_name }}"}}

    # A test send goes to the test profile; the log shows it and its history.
    page.click("button[data-test-send]")
    expect(page.locator("body")).to_contain_text("queued to 1 test profile")
    message = Message.objects.get(workspace=customers.workspace)
    assert message.payload["test"] is True and message.template == "cart-reminder"
    page.goto(f"{base}/messaging/message/")
    page.click(f"a.text-primary-600[href$='/messaging/message/{message.pk}/change/']")
    expect(page.locator("[data-history]")).to_contain_text("Written")
    screenshot(page, "messages-message")
    page.goto(f"{base}/messaging/message/")
    screenshot(page, "messages-log")

    # A push notification is previewed as the phone shows it.
    page.goto(f"{base}/messaging/template/add/?channel=push")
    page.fill("input[name=c-title]", "{{ profile.first_name }}, 20% off today")
    page.fill("input[name=c-buttons_0_label]", "Shop now")
    _typed(page, "textarea[name=c-body]", "The shoes in your cart are on sale.")
    expect(preview.locator("[data-push-body]")).to_have_text("The shoes in your cart are on sale.")
    expect(preview.locator("[data-push-title]")).to_have_text("Ayşe, 20% off today")
    screenshot(page, "messages-push-editor")

    # An email, shown as it will look (its HTML in a sandboxed frame).
    page.goto(f"{base}/messaging/template/add/?channel=email")
    page.fill("input[name=name]", "cart-email")
    page.fill("input[name=c-subject]", "{{ profile.first_name }}, still thinking?")
    _typed(
        page,
        "textarea[name=c-html]",
        "<h1 style='color:#7c3aed'>Hi {{ profile.first_name }}</h1><p>Your cart misses you.</p>",
    )
    expect(preview.locator("[data-email-subject]")).to_have_text("Ayşe, still thinking?")
    frame = page.frame_locator("iframe[data-email-html]")
    expect(frame.locator("h1")).to_have_text("Hi Ayşe")
    screenshot(page, "messages-email-editor")
    page.click("button[name=save]")
    page.wait_for_url(re.compile(r"/messaging/template/\d+/change/$"))
    page.goto(f"{base}/messaging/template/")
    screenshot(page, "messages-templates")

    # Deleting: refused while a live journey sends the template, with the journey named; done otherwise.
    journey = journey_sending(customers, {"type": "send", "channel": "sms", "template": "cart-reminder"})
    page.click("a:text-is('cart-reminder')")
    page.click("a.button-danger:text-is('Delete')")
    expect(page.locator("[data-sending]")).to_contain_text(journey.name)
    expect(page.locator("[data-delete] button[data-confirm]")).to_have_count(0)
    screenshot(page, "messages-delete-refused")
    page.goto(f"{base}/messaging/template/")
    page.click("a:text-is('cart-email')")
    page.click("a.button-danger:text-is('Delete')")
    page.click("[data-delete] button[data-confirm]")
    expect(page.locator("body")).to_contain_text("Deleted cart-email.")
    assert list(Template.objects.filter(workspace=customers.workspace).values_list("name", flat=True)) == [
        "cart-reminder"
    ]
