"""The Segment HTTP Tracking API end to end through Django: storage, dedupe, profiles, bad input."""

from __future__ import annotations

import gzip
import zlib

import orjson
import pytest
from django.utils import timezone

from activities.models import Activity, DedupeKey, EvaluationBatch, Identity, Profile, PushDevice
from tests.conftest import SegmentClient, basic_auth
from workspaces.models import WriteKey
from workspaces.services import key_revoke

pytestmark = pytest.mark.django_db


def activities(**filters):
    return list(Activity.objects.filter(**filters).order_by("pk").values_list("name", flat=True))


@pytest.mark.parametrize(
    ("path", "body", "name"),
    [
        ("/v1/track", {"userId": "ann", "event": "purchase", "properties": {"price": 150}}, "purchase"),
        ("/v1/page", {"userId": "ann", "name": "Home"}, "viewed"),
        ("/v1/screen", {"userId": "ann", "name": "Spring Discounts"}, "screen_view"),
        ("/v1/identify", {"userId": "ann", "traits": {"plan": "pro"}}, "identify"),
        ("/v1/group", {"userId": "ann", "groupId": "g1"}, "group"),
        ("/v1/alias", {"userId": "ann", "previousId": "anon-1"}, "alias"),
    ],
)
def test_each_call_is_stored_as_its_activity(segment: SegmentClient, path, body, name):
    response = segment.post(path, body)
    assert response.status_code == 200, response.content
    assert response.json() == {"success": True}
    assert activities() == [name]
    assert Profile.objects.live().get().user_id == "ann"


def test_batch_stores_every_message_once_in_one_pipeline_batch(segment: SegmentClient):
    batch = [{"type": "track", "userId": f"u{i % 3}", "event": "tap", "messageId": f"m{i}"} for i in range(10)]
    assert segment.post("/v1/batch", {"batch": batch}).status_code == 200
    assert Activity.objects.count() == 10
    assert Profile.objects.count() == 3
    (pending,) = EvaluationBatch.objects.all()
    assert sorted(pending.activity_ids) == sorted(Activity.objects.values_list("pk", flat=True))


def test_import_endpoint_is_a_batch(segment: SegmentClient):
    assert segment.post("/v1/import", {"batch": [{"type": "track", "userId": "u", "event": "old"}]}).status_code == 200
    assert activities() == ["old"]


def test_resending_the_same_message_ids_stores_nothing_new(segment: SegmentClient):
    batch = {"batch": [{"type": "track", "userId": "u", "event": "tap", "messageId": f"m{i}"} for i in range(5)]}
    assert segment.post("/v1/batch", batch).status_code == 200
    assert segment.post("/v1/batch", batch).status_code == 200
    assert segment.post("/v1/track", batch["batch"][0]).status_code == 200
    assert Activity.objects.count() == 5
    assert DedupeKey.objects.count() == 5
    assert EvaluationBatch.objects.count() == 1


def test_a_message_id_repeated_inside_one_batch_is_stored_once(segment: SegmentClient):
    message = {"type": "track", "userId": "u", "event": "tap", "messageId": "same"}
    assert segment.post("/v1/batch", {"batch": [message, message]}).status_code == 200
    assert Activity.objects.count() == 1


def test_message_ids_are_per_workspace(segment: SegmentClient, globex, client):
    message = {"userId": "u", "event": "tap", "messageId": "shared-id"}
    assert segment.post("/v1/track", message).status_code == 200
    assert SegmentClient(client, globex.write_key).post("/v1/track", message).status_code == 200
    assert Activity.objects.count() == 2


def test_gzip_bodies_are_accepted(segment: SegmentClient):
    response = segment.post("/v1/batch", {"batch": [{"type": "track", "userId": "u", "event": "zipped"}]}, gzip=True)
    assert response.status_code == 200
    assert activities() == ["zipped"]


def test_write_key_in_the_body_is_accepted(acme, client):
    body = {"writeKey": acme.write_key, "batch": [{"type": "track", "userId": "u", "event": "tap"}]}
    assert SegmentClient(client, None).post("/v1/batch", body).status_code == 200
    assert activities(workspace=acme.workspace) == ["tap"]


def test_identify_updates_traits_email_phone_timezone_locale_and_push_token(segment: SegmentClient):
    segment.post("/v1/identify", {"userId": "ann", "traits": {"email": " Ann@Example.COM ", "first_name": "Ann"}})
    segment.post(
        "/v1/identify",
        {
            "userId": "ann",
            "traits": {"phone": "+905551112233", "plan": "pro"},
            "context": {"timezone": "Europe/Istanbul", "locale": "tr-TR", "device": {"token": "apns-1", "type": "ios"}},
        },
    )
    profile = Profile.objects.get(user_id="ann")
    assert profile.traits == {
        "email": " Ann@Example.COM ",
        "first_name": "Ann",
        "phone": "+905551112233",
        "plan": "pro",
    }
    assert (profile.email, profile.phone, profile.timezone, profile.locale) == (
        "ann@example.com",
        "+905551112233",
        "Europe/Istanbul",
        "tr-TR",
    )
    assert list(PushDevice.objects.values_list("profile__user_id", "token", "platform")) == [("ann", "apns-1", "ios")]


def test_a_push_token_moves_to_the_profile_that_sends_it_last(segment: SegmentClient):
    device = {"device": {"token": "shared-phone", "type": "android"}}
    segment.post("/v1/track", {"userId": "ann", "event": "open", "context": device})
    segment.post("/v1/track", {"userId": "bob", "event": "open", "context": device})
    assert list(PushDevice.objects.values_list("profile__user_id", flat=True)) == ["bob"]


def test_traits_apply_in_event_time_order_within_a_batch(segment: SegmentClient):
    batch = [
        {"type": "identify", "userId": "u", "traits": {"plan": "pro"}, "timestamp": "2025-01-02T00:00:00Z"},
        {"type": "identify", "userId": "u", "traits": {"plan": "free"}, "timestamp": "2025-01-01T00:00:00Z"},
    ]
    segment.post("/v1/batch", {"batch": batch})
    assert Profile.objects.get(user_id="u").traits == {"plan": "pro"}


def test_received_at_is_stamped_by_the_server(segment: SegmentClient):
    before = timezone.now()
    segment.post("/v1/track", {"userId": "u", "event": "tap", "timestamp": "2020-01-01T00:00:00Z"})
    activity = Activity.objects.get()
    assert activity.received_at >= before
    assert activity.timestamp.year == 2020


# --- Bad input: every kind gets a 4xx naming the problem, and nothing is stored ------------------

BIG = "x" * (33 * 1024)


def _gzip_of(data: dict) -> bytes:
    return gzip.compress(orjson.dumps(data))


BAD_REQUESTS = [
    # (case, path, kwargs for SegmentClient.post, status, field named in the answer)
    ("not json", "/v1/track", {"raw": b"{not json"}, 400, "body"),
    ("json array body", "/v1/track", {"raw": b"[1, 2]"}, 400, "body"),
    ("empty body", "/v1/track", {"raw": b""}, 400, "body"),
    ("track without event", "/v1/track", {"body": {"userId": "u"}}, 400, "event"),
    ("event of wrong type", "/v1/track", {"body": {"userId": "u", "event": 42}}, 400, "event"),
    ("no ids", "/v1/track", {"body": {"event": "x"}}, 400, "userId"),
    ("id of wrong type", "/v1/track", {"body": {"userId": ["u"], "event": "x"}}, 400, "userId"),
    (
        "properties not an object",
        "/v1/track",
        {"body": {"userId": "u", "event": "x", "properties": "p"}},
        400,
        "properties",
    ),
    ("bad timestamp", "/v1/track", {"body": {"userId": "u", "event": "x", "timestamp": "1/2/2025"}}, 400, "timestamp"),
    ("alias without previousId", "/v1/alias", {"body": {"userId": "u"}}, 400, "previousId"),
    ("batch not a list", "/v1/batch", {"body": {"batch": "nope"}}, 400, "batch"),
    ("batch missing", "/v1/batch", {"body": {"messages": []}}, 400, "batch"),
    (
        "batch message without type",
        "/v1/batch",
        {"body": {"batch": [{"userId": "u", "event": "x"}]}},
        400,
        "batch[0].type",
    ),
    (
        "bad message deep in a batch",
        "/v1/batch",
        {"body": {"batch": [{"type": "track", "userId": "u", "event": "ok"}] * 3 + [{"type": "track", "userId": "u"}]}},
        400,
        "batch[3].event",
    ),
    (
        "oversize single event",
        "/v1/track",
        {"body": {"userId": "u", "event": "x", "properties": {"b": BIG}}},
        400,
        "body",
    ),
    (
        "oversize event in a batch",
        "/v1/batch",
        {"body": {"batch": [{"type": "track", "userId": "u", "event": "x", "properties": {"b": BIG}}]}},
        400,
        "batch[0]",
    ),
    (
        "oversize request",
        "/v1/batch",
        {"body": {"batch": [{"type": "track", "userId": "u", "event": "x", "properties": {"b": "y" * 20_000}}] * 30}},
        400,
        "body",
    ),
    (
        "gzip bomb over the limit",
        "/v1/batch",
        {
            "raw": _gzip_of({"batch": [{"type": "track", "userId": "u", "event": "x", "p": "z" * 600_000}]}),
            "HTTP_CONTENT_ENCODING": "gzip",
        },
        400,
        "body",
    ),
    ("bad gzip", "/v1/track", {"raw": b"definitely not gzip", "HTTP_CONTENT_ENCODING": "gzip"}, 400, "body"),
    (
        "truncated gzip",
        "/v1/track",
        {"raw": gzip.compress(b'{"userId": "u", "event": "x"}')[:-12], "HTTP_CONTENT_ENCODING": "gzip"},
        400,
        "body",
    ),
    (
        "unsupported encoding",
        "/v1/track",
        {"raw": zlib.compress(b'{"userId": "u", "event": "x"}'), "HTTP_CONTENT_ENCODING": "br"},
        400,
        "Content-Encoding",
    ),
    ("NUL in an event name", "/v1/track", {"raw": b'{"userId": "u", "event": "a\\u0000b"}'}, 400, "event"),
    (
        "NUL in a property",
        "/v1/batch",
        {"raw": b'{"batch": [{"type": "track", "userId": "u", "event": "x", "properties": {"note": "a\\u0000"}}]}'},
        400,
        "batch[0].properties.note",
    ),
    ("NUL in a trait key", "/v1/identify", {"raw": b'{"userId": "u", "traits": {"k\\u0000": 1}}'}, 400, "traits.k\x00"),
    ("NUL in a user id", "/v1/track", {"raw": b'{"userId": "u\\u0000", "event": "x"}'}, 400, "userId"),
    (
        "unknown write key",
        "/v1/track",
        {"body": {"userId": "u", "event": "x"}, "HTTP_AUTHORIZATION": basic_auth("wk_nope")},
        401,
        "writeKey",
    ),
    (
        "garbled basic auth",
        "/v1/track",
        {"body": {"userId": "u", "event": "x"}, "HTTP_AUTHORIZATION": "Basic !!!"},
        401,
        "Authorization",
    ),
    ("no write key", "/v1/track", {"body": {"userId": "u", "event": "x"}, "HTTP_AUTHORIZATION": ""}, 401, "writeKey"),
]


@pytest.mark.parametrize(("case", "path", "kwargs", "status", "field"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_bad_input_is_refused_with_the_field_named(segment: SegmentClient, case, path, kwargs, status, field):
    kwargs = dict(kwargs)
    body = kwargs.pop("body", None)
    response = segment.post(path, body, **kwargs)
    assert response.status_code == status, response.content
    answer = response.json()
    assert answer["success"] is False
    assert answer["field"] == field
    assert field in answer["error"]
    assert Activity.objects.count() == 0
    assert DedupeKey.objects.count() == 0


def test_a_revoked_write_key_is_refused(segment: SegmentClient, acme):
    key_revoke(key=WriteKey.objects.get(workspace=acme.workspace), actor=None)
    response = segment.post("/v1/track", {"userId": "u", "event": "x"})
    assert response.status_code == 401
    assert response.json()["field"] == "writeKey"
    assert Activity.objects.count() == 0


def test_get_is_not_allowed(client):
    assert client.get("/v1/track").status_code == 405


def test_a_bad_batch_stores_none_of_its_good_messages(segment: SegmentClient):
    batch = [{"type": "track", "userId": "u", "event": "good"}, {"type": "track", "userId": "u", "event": None}]
    assert segment.post("/v1/batch", {"batch": batch}).status_code == 400
    assert Activity.objects.count() == 0
    assert Identity.objects.count() == 0
