"""The Django admin works for operators: every registered page renders; keys are shown once."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client

from activities.models import Profile
from tests.conftest import SegmentClient
from workspaces.keys import key_hash
from workspaces.models import AuditLogEntry, WriteKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(django_user_model) -> Client:
    browser = Client()
    browser.force_login(django_user_model.objects.create_superuser("op", "op@x.test", "pw"))
    return browser


def test_every_admin_page_renders_for_an_operator(operator, acme, segment: SegmentClient):
    segment.post(
        "/v1/identify",
        {
            "userId": "ann",
            "anonymousId": "a1",
            "traits": {"email": "a@x.test"},
            "context": {"device": {"token": "tok", "type": "ios"}},
        },
    )
    for model, model_admin in admin.site._registry.items():
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        assert operator.get(base).status_code == 200, base
        assert operator.get(base + "?q=ann").status_code == 200, base
        if model_admin.has_add_permission(operator.get(base).wsgi_request):
            assert operator.get(base + "add/").status_code == 200, base
        first = model.objects.first()
        if first is not None:
            assert operator.get(f"{base}{first.pk}/change/").status_code == 200, base


def test_creating_a_write_key_in_the_admin_shows_it_once_and_stores_a_hash(operator, acme):
    response = operator.post(
        "/admin/workspaces/writekey/add/", {"workspace": acme.workspace.pk, "name": "Web"}, follow=True
    )
    message = next(str(m) for m in response.context["messages"] if "not shown again" in str(m))
    raw = message.rsplit(" ", 1)[-1]
    key = WriteKey.objects.get(name="Web")
    assert key.key_hash == key_hash(raw) and raw not in key.key_hash
    assert AuditLogEntry.objects.filter(object_type="writekey", object_id=str(key.pk), action="created").exists()
    assert SegmentClient(Client(), raw).post("/v1/track", {"userId": "u", "event": "x"}).status_code == 200
    operator.post("/admin/workspaces/writekey/", {"action": "revoke_keys", "_selected_action": [key.pk]})
    assert SegmentClient(Client(), raw).post("/v1/track", {"userId": "u", "event": "x"}).status_code == 401
    assert AuditLogEntry.objects.filter(object_id=str(key.pk), action="revoked").exists()


def test_the_audit_log_cannot_be_edited_or_deleted(operator, acme):
    entry = AuditLogEntry.objects.filter(workspace=acme.workspace).first()
    operator.post(f"/admin/workspaces/auditlogentry/{entry.pk}/delete/", {"post": "yes"})
    assert AuditLogEntry.objects.filter(pk=entry.pk).exists()
    assert operator.get("/admin/workspaces/auditlogentry/add/").status_code == 403


def test_merged_profiles_are_hidden_from_the_profile_list(operator, segment: SegmentClient):
    segment.post("/v1/track", {"anonymousId": "a1", "event": "x"})
    segment.post("/v1/identify", {"anonymousId": "a1", "userId": "ann"})
    html = operator.get("/admin/activities/profile/").content.decode()
    merged = Profile.objects.get(merged_into__isnull=False)
    assert f"/admin/activities/profile/{merged.pk}/change/" not in html
