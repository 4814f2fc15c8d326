"""/api/v1/templates/: CRUD with every problem named, preview by profile and locale, test sends, roles
and workspace isolation."""

from __future__ import annotations

import pytest
from django.test import Client

from activities.models import Profile
from messaging.models import Message, Template
from tests.messaging.helpers import journey_sending, template
from workspaces.models import Role
from workspaces.models import TestProfile as SendTarget

pytestmark = pytest.mark.django_db

EMAIL = {
    "name": "welcome",
    "channel": "email",
    "category": "promotional",
    "content": {
        "subject": 'Welcome, {{ profile.first_name | default: "friend" }}',
        "html": '<p>Hi {{ profile.first_name }}</p><a href="https://shop.example/new">New in</a>',
        "text": "Hi {{ profile.first_name }}",
    },
    "variants": {"tr": {"subject": "Hoş geldin, {{ profile.first_name }}"}},
}


def _post(client: Client, tenant, body, role=Role.MARKETER, path="/api/v1/templates/"):
    return client.post(path, body, content_type="application/json", **tenant.auth(role))


def _fields(response) -> dict[str, str]:
    assert response.status_code == 400, response.content
    return {p["field"]: p["message"] for p in response.json()["template"]}


def test_create_list_get_update_delete(client, acme):
    created = _post(client, acme, EMAIL)
    assert created.status_code == 201, created.content
    template_id = created.json()["id"]
    listed = client.get("/api/v1/templates/?channel=email", **acme.auth(Role.ANALYST)).json()
    assert [t["name"] for t in listed["results"]] == ["welcome"]
    changed = client.patch(
        f"/api/v1/templates/{template_id}/",
        {"content": {**EMAIL["content"], "subject": "Hello"}},
        content_type="application/json",
        **acme.auth(Role.MARKETER),
    )
    assert changed.status_code == 200, changed.content
    assert Template.objects.get(pk=template_id).content["subject"] == "Hello"
    assert client.delete(f"/api/v1/templates/{template_id}/", **acme.auth(Role.MARKETER)).status_code == 204
    assert not Template.objects.filter(pk=template_id).exists()


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"channel": "fax"}, "channel", "must be one of"),
        ({"name": "no spaces here"}, "name", "letters, digits"),
        ({"content": {"html": "<p>x</p>"}}, "content.subject", "is required"),
        ({"content": {"subject": "x"}}, "content.html", "html or a text body"),
        ({"content": {**EMAIL["content"], "colour": "red"}}, "content.colour", "is not a email field"),
        ({"content": {**EMAIL["content"], "subject": "Hi\n{% if %}"}}, "content.subject", "line 2"),
        ({"content": {**EMAIL["content"], "text": "{{ x | shout }}"}}, "content.text", "unknown filter 'shout'"),
        ({"content": {**EMAIL["content"], "subject": 5}}, "content.subject", "must be a string"),
        ({"variants": {"tr": {"subject": "{% endif %}"}}}, "variants.tr.subject", "Liquid error"),
        ({"variants": ["tr"]}, "variants", "must map locales"),
        ({"category": "gossip"}, "category", "workspace's categories"),
    ],
)
def test_each_bad_template_is_refused_naming_the_field(client, acme, change, field, words):
    response = _post(client, acme, {**EMAIL, **change})
    problems = _fields(response)
    assert field in problems, problems
    assert words in problems[field]
    assert not Template.objects.exists()


@pytest.mark.parametrize(
    ("channel", "content", "field"),
    [
        ("push", {"title": "Hi", "body": "x", "buttons": [{"label": ""}]}, "content.buttons[0].label"),
        ("push", {"title": "Hi", "body": "x", "deep_link": "nowhere"}, "content.deep_link"),
        ("push", {"title": "Hi", "body": "x", "data": {"k": 1}}, "content.data"),
        ("in_app", {"body": "x", "layout": "popover"}, "content.layout"),
        ("webhook", {"url": "https://x.test", "method": "YELL"}, "content.method"),
        ("sms", {}, "content.body"),
        ("web_push", {"title": "t"}, "content.body"),
    ],
)
def test_channel_fields_are_checked(client, acme, channel, content, field):
    problems = _fields(_post(client, acme, {"name": "t", "channel": channel, "content": content}))
    assert field in problems, problems


def test_a_body_that_is_not_an_object_is_a_400(client, acme):
    response = client.post("/api/v1/templates/", "[1]", content_type="application/json", **acme.auth(Role.MARKETER))
    assert response.status_code == 400
    malformed = client.post("/api/v1/templates/", "{", content_type="application/json", **acme.auth(Role.MARKETER))
    assert malformed.status_code == 400


def test_the_same_name_twice_on_a_channel_is_refused(client, acme):
    assert _post(client, acme, EMAIL).status_code == 201
    assert _fields(_post(client, acme, EMAIL))["name"] == "a template named 'welcome' already exists for email"
    assert Template.objects.count() == 1


def test_preview_renders_the_profiles_locale_and_counts_sms_segments(client, acme):
    template_id = _post(client, acme, EMAIL).json()["id"]
    Profile.objects.create(workspace=acme.workspace, user_id="ayse", locale="tr-TR", traits={"first_name": "Ayşe"})
    preview = _post(client, acme, {"user_id": "ayse"}, path=f"/api/v1/templates/{template_id}/preview")
    assert preview.status_code == 200, preview.content
    assert preview.json()["content"]["subject"] == "Hoş geldin, Ayşe"
    assert preview.json()["content"]["text"] == "Hi Ayşe"
    sms = _post(client, acme, {"name": "code", "channel": "sms", "content": {"body": "Kodun: {{ event.code }} ğ"}})
    shown = _post(
        client,
        acme,
        {"user_id": "ayse", "event": {"code": "1234"}},
        path=f"/api/v1/templates/{sms.json()['id']}/preview",
    )
    assert shown.json()["content"]["body"] == "Kodun: 1234 ğ"
    assert shown.json()["sms"] == {"encoding": "UCS-2", "characters": 13, "segments": 1}
    missing = _post(client, acme, {"user_id": "nobody"}, path=f"/api/v1/templates/{template_id}/preview")
    assert missing.status_code == 400


def test_test_send_queues_one_message_per_test_profile(client, acme):
    template_id = _post(client, acme, EMAIL).json()["id"]
    for user in ("qa1", "qa2"):
        profile = Profile.objects.create(workspace=acme.workspace, user_id=user, email=f"{user}@acme.test")
        SendTarget.objects.create(workspace=acme.workspace, profile=profile, label=user)
    response = _post(client, acme, {}, path=f"/api/v1/templates/{template_id}/test-send")
    assert response.status_code == 202
    assert Message.objects.filter(template="welcome", payload__test=True).count() == 2


def test_roles_analysts_read_only(client, acme):
    assert _post(client, acme, EMAIL, role=Role.ANALYST).status_code == 403
    template_id = _post(client, acme, EMAIL).json()["id"]
    assert client.delete(f"/api/v1/templates/{template_id}/", **acme.auth(Role.ANALYST)).status_code == 403
    assert client.get(f"/api/v1/templates/{template_id}/", **acme.auth(Role.ANALYST)).status_code == 200
    assert client.get("/api/v1/messages/", **acme.auth(Role.ANALYST)).status_code == 200


def test_workspaces_are_sealed(client, acme, globex):
    template_id = _post(client, acme, EMAIL).json()["id"]
    assert client.get(f"/api/v1/templates/{template_id}/", **globex.auth()).status_code == 404
    assert client.delete(f"/api/v1/templates/{template_id}/", **globex.auth()).status_code == 404
    assert _post(client, globex, {}, path=f"/api/v1/templates/{template_id}/test-send").status_code == 404
    assert client.get("/api/v1/templates/", **globex.auth()).json()["count"] == 0
    Message.objects.create(
        workspace=acme.workspace,
        profile=Profile.objects.create(workspace=acme.workspace, user_id="u"),
        channel="email",
        idempotency_key="k",
    )
    assert client.get("/api/v1/messages/", **globex.auth()).json()["count"] == 0
    assert client.get("/api/v1/messages/", **acme.auth()).json()["count"] == 1


def test_a_template_a_running_journey_sends_is_neither_deleted_nor_renamed(client, acme):
    from journeys.services import journey_pause, journey_stop
    from workspaces.models import AuditLogEntry

    sms = template(acme, "survey", "sms", {"body": "Hi"})
    journey = journey_sending(acme, {"type": "send", "channel": "sms", "template": "survey"})
    path = f"/api/v1/templates/{sms.pk}/"
    for pause in (False, True):  # live, then paused: both would send it again
        if pause:
            journey_pause(journey=journey, actor=None)
        journey.refresh_from_db()
        refused = client.delete(path, **acme.auth(Role.MARKETER))
        assert refused.status_code == 409, refused.content
        assert "'on signup'" in refused.json()["detail"]
        assert refused.json()["journeys"] == [{"id": journey.pk, "name": "on signup", "status": journey.status}]
    renamed = client.patch(path, {"name": "thanks"}, content_type="application/json", **acme.auth(Role.MARKETER))
    assert "cannot change while journey 'on signup' (paused) sends it" in _fields(renamed)["name"]
    moved = client.patch(path, {"channel": "email"}, content_type="application/json", **acme.auth(Role.MARKETER))
    assert "channel" in _fields(moved)
    edited = client.patch(
        path, {"content": {"body": "Thanks!"}}, content_type="application/json", **acme.auth(Role.MARKETER)
    )
    assert edited.status_code == 200  # its words may change: the journeys send the new ones
    assert Template.objects.get(pk=sms.pk).name == "survey"
    assert not AuditLogEntry.objects.filter(action="deleted", object_type="template").exists()
    journey_stop(journey=journey, actor=None)
    assert client.delete(path, **acme.auth(Role.MARKETER)).status_code == 204
