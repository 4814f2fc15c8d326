"""The management API over profiles and activities: filters, shapes, timeline, privacy delete/export."""

from __future__ import annotations

import orjson
import pytest

from activities.models import Activity, EvaluationBatch, Identity, Profile, PushDevice
from activities.pipeline import batch_process
from tests.conftest import SegmentClient
from workspaces.models import AuditLogEntry, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def story(segment: SegmentClient) -> None:
    segment.post("/v1/track", {"anonymousId": "anon-ann", "event": "browse", "timestamp": "2025-01-01T10:00:00Z"})
    segment.post(
        "/v1/identify",
        {
            "userId": "ann",
            "anonymousId": "anon-ann",
            "traits": {"email": "ann@x.test", "country": "TR"},
            "context": {"timezone": "Europe/Istanbul", "device": {"token": "t1", "type": "ios"}},
            "timestamp": "2025-01-01T11:00:00Z",
        },
    )
    segment.post(
        "/v1/track",
        {
            "userId": "ann",
            "event": "purchase",
            "properties": {"price": 150},
            "timestamp": "2025-01-02T10:00:00Z",
            "messageId": "ann-purchase",
        },
    )
    segment.post(
        "/v1/track",
        {"userId": "bob", "event": "purchase", "properties": {"price": 20}, "timestamp": "2025-01-03T10:00:00Z"},
    )
    for batch in EvaluationBatch.objects.order_by("pk"):  # what the worker does: seen times, registry
        batch_process(batch.pk)


def test_profiles_filter_by_user_id_with_the_contract_shape(client, acme, story):
    answer = client.get("/api/v1/profiles/?user_id=ann", **acme.auth(Role.ANALYST)).json()
    assert answer["count"] == 1 and answer["next"] is None and answer["previous"] is None
    (ann,) = answer["results"]
    assert ann["user_id"] == "ann"
    assert ann["anonymous_ids"] == ["anon-ann"]
    assert ann["traits"] == {"email": "ann@x.test", "country": "TR"}
    assert ann["timezone"] == "Europe/Istanbul"
    assert ann["push_devices"][0]["token"] == "t1"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("anonymous_id=anon-ann", ["ann"]),
        ("email=ANN@x.test", ["ann"]),
        ("seen_after=2025-01-03T00:00:00Z", ["bob"]),
        ("seen_before=2025-01-03T00:00:00Z", ["ann"]),
        ("", ["bob", "ann"]),
    ],
)
def test_profile_filters(client, acme, story, query, expected):
    answer = client.get(f"/api/v1/profiles/?{query}", **acme.auth()).json()
    assert [p["user_id"] for p in answer["results"]] == expected


def test_activities_filter_by_user_id_and_name(client, acme, story):
    answer = client.get("/api/v1/activities/?user_id=ann&name=purchase", **acme.auth(Role.ANALYST)).json()
    assert answer["count"] == 1
    (purchase,) = answer["results"]
    assert purchase["name"] == "purchase"
    assert purchase["properties"] == {"price": 150}
    assert purchase["timestamp"] == "2025-01-02T10:00:00Z"
    assert purchase["message_id"] == "ann-purchase"


def test_activities_time_window_and_pagination(client, acme, story):
    answer = client.get(
        "/api/v1/activities/?since=2025-01-01T10:30:00Z&until=2025-01-03T00:00:00Z", **acme.auth()
    ).json()
    assert [a["name"] for a in answer["results"]] == ["purchase", "identify"]
    page = client.get("/api/v1/activities/?page_size=2", **acme.auth()).json()
    assert page["count"] == 4 and len(page["results"]) == 2 and page["next"]


def test_bad_filter_values_are_400_naming_the_field(client, acme, story):
    response = client.get("/api/v1/activities/?since=yesterday", **acme.auth())
    assert response.status_code == 400
    assert "since" in response.json()


def test_timeline_lists_a_profiles_history_newest_first(client, acme, story):
    ann = Profile.objects.get(user_id="ann")
    answer = client.get(f"/api/v1/profiles/{ann.pk}/timeline/", **acme.auth(Role.ANALYST)).json()
    assert [a["name"] for a in answer["results"]] == ["purchase", "identify", "browse"]


def test_update_merges_traits_tags_timezone_and_consent_and_is_audited(client, acme, story):
    ann = Profile.objects.get(user_id="ann")
    response = client.patch(
        f"/api/v1/profiles/{ann.pk}/",
        data={
            "traits": {"plan": "pro", "country": None},
            "tags_add": ["vip", "beta"],
            "timezone": "UTC",
            "consent": {"sms": False},
        },
        content_type="application/json",
        **acme.auth(Role.MARKETER),
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["traits"] == {"email": "ann@x.test", "plan": "pro"}
    assert body["tags"] == ["beta", "vip"]
    assert (body["timezone"], body["consent"]) == ("UTC", {"sms": False})
    assert AuditLogEntry.objects.filter(action="changed", object_type="profile", object_id=str(ann.pk)).exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"timezone": "x" * 300}, "timezone"),
        ({"consent": {"email": "maybe"}}, "consent"),
        ({"traits": "plan=pro"}, "traits"),
        ({"tags_add": "vip"}, "tags_add"),
        ({}, "non_field_errors"),
    ],
)
def test_bad_updates_are_400_naming_the_field_and_change_nothing(client, acme, story, payload, field):
    ann = Profile.objects.get(user_id="ann")
    response = client.patch(f"/api/v1/profiles/{ann.pk}/", data=payload, content_type="application/json", **acme.auth())
    assert response.status_code == 400
    assert field in response.json()
    assert Profile.objects.get(pk=ann.pk).traits == ann.traits


def test_unknown_profile_is_404(client, acme):
    assert client.get("/api/v1/profiles/999999/", **acme.auth()).status_code == 404
    assert client.get("/api/v1/profiles/not-a-number/", **acme.auth()).status_code == 404


def test_export_returns_everything_stored_about_a_profile(client, acme, story):
    ann = Profile.objects.get(user_id="ann")
    response = client.get(f"/api/v1/profiles/{ann.pk}/export/", **acme.auth(Role.OWNER))
    assert response.status_code == 200
    document = orjson.loads(b"".join(response.streaming_content))
    exported = AuditLogEntry.objects.get(action="exported", object_type="profile")  # who took personal data
    assert exported.actor == acme.owner and exported.object_id == str(ann.pk)
    assert document["profile"]["user_id"] == "ann"
    assert {"kind": "anonymous_id", "value": "anon-ann"} in document["profile"]["identities"]
    assert document["profile"]["push_devices"][0]["token"] == "t1"
    assert [a["name"] for a in document["activities"]] == ["browse", "identify", "purchase"]


def test_privacy_delete_removes_traits_addresses_identities_and_activities(client, acme, story):
    ann = Profile.objects.get(user_id="ann")
    response = client.delete(f"/api/v1/profiles/{ann.pk}/", **acme.auth(Role.OWNER))
    assert response.status_code == 204
    assert not Profile.objects.filter(pk=ann.pk).exists()
    assert not Profile.objects.filter(merged_into_id=ann.pk).exists()
    assert not Activity.objects.filter(profile__user_id="ann").exists()
    assert not Identity.objects.filter(value__in=["ann", "anon-ann"]).exists()
    assert not PushDevice.objects.filter(token="t1").exists()
    assert Activity.objects.filter(profile__user_id="bob").count() == 1
    entry = AuditLogEntry.objects.get(action="deleted", object_type="profile")
    assert entry.object_repr == "" and "ann" not in str(entry.changes)


@pytest.mark.parametrize(
    ("role", "method", "path_suffix", "allowed"),
    [
        (Role.ANALYST, "get", "", True),
        (Role.ANALYST, "get", "timeline/", True),
        (Role.ANALYST, "get", "export/", False),
        (Role.ANALYST, "patch", "", False),
        (Role.ANALYST, "delete", "", False),
        (Role.MARKETER, "get", "export/", False),
        (Role.OWNER, "get", "export/", True),
        (Role.MARKETER, "patch", "", True),
        (Role.MARKETER, "delete", "", False),
        (Role.OWNER, "delete", "", True),
    ],
)
def test_roles_are_enforced_on_profile_endpoints(client, acme, story, role, method, path_suffix, allowed):
    ann = Profile.objects.get(user_id="ann")
    call = getattr(client, method)
    response = call(
        f"/api/v1/profiles/{ann.pk}/{path_suffix}",
        data={"tags_add": ["x"]} if method == "patch" else None,
        content_type="application/json",
        **acme.auth(role),
    )
    assert (response.status_code < 400) is allowed, response.status_code
    if not allowed:
        assert response.status_code == 403


@pytest.mark.parametrize("header", ["", "Bearer nt_unknown", "Bearer", "Token a b"])
def test_missing_or_bad_tokens_are_401(client, story, header):
    response = client.get("/api/v1/profiles/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401


def test_a_revoked_token_is_401(client, acme):
    from workspaces.models import ApiToken
    from workspaces.services import key_revoke

    key_revoke(key=ApiToken.objects.get(workspace=acme.workspace, membership__role=Role.ANALYST), actor=None)
    assert client.get("/api/v1/profiles/", **acme.auth(Role.ANALYST)).status_code == 401


def test_a_token_follows_its_members_current_role(client, acme):
    from workspaces.models import Membership

    Membership.objects.filter(user=acme.members[Role.MARKETER]).update(role=Role.ANALYST)
    profile = Profile.objects.create(workspace=acme.workspace, user_id="p")
    response = client.patch(
        f"/api/v1/profiles/{profile.pk}/",
        data={"tags_add": ["x"]},
        content_type="application/json",
        **acme.auth(Role.MARKETER),
    )
    assert response.status_code == 403


def test_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/profiles/" in schema.content and b"/api/v1/activities/" in schema.content
    assert client.get("/api/docs/").status_code == 200
