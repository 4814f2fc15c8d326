"""Messaging in the admin: provider secrets are write-only; templates and policies are checked as the
API checks them."""

from __future__ import annotations

import pytest
from django.test import Client

from messaging.models import MessagingPolicy, ProviderConfig, Template

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(django_user_model) -> Client:
    browser = Client()
    browser.force_login(django_user_model.objects.create_superuser("op", "op@x.test", "pw"))
    return browser


def test_a_provider_secret_is_never_shown_back(operator, acme):
    settings = '{"account_sid": "AC1", "from_number": "+15550000"}'
    form = {"workspace": acme.workspace.pk, "channel": "sms", "kind": "twilio", "settings": settings}
    response = operator.post("/admin/messaging/providerconfig/add/", {**form, "secret": "sk-live-1234567890"})
    assert response.status_code == 302, response.content
    config = ProviderConfig.objects.get()
    assert config.secret == "sk-live-1234567890"
    page = operator.get(f"/admin/messaging/providerconfig/{config.pk}/change/").content.decode()
    listing = operator.get("/admin/messaging/providerconfig/").content.decode()
    assert "sk-live-1234567890" not in page and "sk-live-1234567890" not in listing
    assert "…7890" in listing
    operator.post(f"/admin/messaging/providerconfig/{config.pk}/change/", {**form, "secret": ""})
    config.refresh_from_db()
    assert config.secret == "sk-live-1234567890"  # left empty: kept


def test_an_unknown_provider_kind_is_a_form_error(operator, acme):
    response = operator.post(
        "/admin/messaging/providerconfig/add/",
        {"workspace": acme.workspace.pk, "channel": "sms", "kind": "pigeon", "settings": "{}"},
    )
    assert response.status_code == 200
    assert "pigeon is not one of the available choices" in response.content.decode()
    assert not ProviderConfig.objects.exists()


def test_a_template_with_a_liquid_error_is_refused_naming_field_and_line(operator, acme):
    response = operator.post(
        "/admin/messaging/template/add/",
        {
            "workspace": acme.workspace.pk,
            "name": "promo",
            "channel": "sms",
            "category": "promotional",
            "content": '{"body": "Hi\\n{{ x | shout }}"}',
            "variants": "{}",
        },
    )
    assert response.status_code == 200
    assert "content.body: Liquid error on line 2: unknown filter &#x27;shout&#x27;" in response.content.decode()
    assert not Template.objects.exists()


def test_bad_frequency_caps_are_refused(operator, acme):
    response = operator.post(
        "/admin/messaging/messagingpolicy/add/",
        {
            "workspace": acme.workspace.pk,
            "categories": '[{"slug": "promotional"}]',
            "frequency_caps": '[{"max": 3, "per": "soon"}]',
        },
    )
    assert response.status_code == 200
    assert "frequency_caps[0].per" in response.content.decode()
    assert not MessagingPolicy.objects.exists()


@pytest.mark.parametrize(
    ("channel", "kind", "options", "secret", "words"),
    [
        ("sms", "twilio", '{"account_sid": "AC1"}', "token", "needs account_sid, from_number and an auth token"),
        ("push", "fcm", '{"project_id": "p"}', "not json", "service-account JSON key"),
        ("push", "apns", '{"team_id": "T"}', "key", "needs team_id, key_id, bundle_id"),
        ("web_push", "webpush", '{"vapid_subject": "ops@acme.test"}', "key", "vapid_subject (mailto: or https:)"),
        ("sms", "twilio", "[1, 2]", "token", "must be a JSON object"),
    ],
)
def test_a_provider_configuration_that_cannot_work_is_refused(operator, acme, channel, kind, options, secret, words):
    response = operator.post(
        "/admin/messaging/providerconfig/add/",
        {"workspace": acme.workspace.pk, "channel": channel, "kind": kind, "settings": options, "secret": secret},
    )
    assert response.status_code == 200
    assert words in response.content.decode()
    assert not ProviderConfig.objects.exists()
