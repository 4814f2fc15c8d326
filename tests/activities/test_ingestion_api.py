"""The Segment HTTP Tracking API end to end through Django: storage, dedupe, profiles, bad input."""

from __future__ import annotations

import gzip
import zlib
from datetime import UTC, datetime

import orjson
import pytest
import time_machine
from django.utils import timezone

from activities.models import Activity, DedupeKey, EvaluationBatch, IngestionError, Profile, PushDevice
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
        "a batch whose every message is bad",
        "/v1/batch",
        {"body": {"batch": [{"type": "track", "userId": "u"}, {"type": "track", "event": "x"}]}},
        400,
        "batch[0].event",
    ),
    (
        "a time before 1970",
        "/v1/track",
        {"body": {"userId": "u", "event": "x", "timestamp": "0001-01-01T00:00:00+14:00"}},
        400,
        "timestamp",
    ),
    (
        "a time in year 9999",
        "/v1/track",
        {"body": {"userId": "u", "event": "x", "timestamp": "9999-12-31T23:59:59-14:00"}},
        400,
        "timestamp",
    ),
    ("a float as a user id", "/v1/track", {"body": {"userId": 1e308, "event": "x"}}, 400, "userId"),
    (
        "nested too deep",
        "/v1/track",
        {"raw": b'{"userId": "u", "event": "x", "properties": ' + b'{"a": ' * 300 + b"1" + b"}" * 301},
        400,
        "properties" + ".a" * 31,
    ),
    ("a number beyond a float", "/v1/identify", {"raw": b'{"userId": "u", "traits": {"n": 1e400}}'}, 400, "body"),
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
        {"body": {"batch": [{"type": "track", "userId": "u", "event": "x", "properties": {"b": "y" * 20_000}}] * 220}},
        400,
        "body",
    ),
    (
        "gzip bomb over the limit",
        "/v1/batch",
        {
            "raw": _gzip_of({"batch": [{"type": "track", "userId": "u", "event": "x", "p": "z" * 5_000_000}]}),
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
    assert answer["code"] and answer["message"] == answer["error"]  # what RudderStack's SDKs read
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


def test_a_batch_stores_its_good_messages_and_names_and_keeps_its_bad_ones(segment: SegmentClient, acme):
    batch = [
        {"type": "track", "userId": "u", "event": "good", "messageId": "m1"},
        {"type": "track", "userId": "u", "event": None, "messageId": "m2"},
        {"type": "track", "userId": "u", "event": "big", "properties": {"b": "y" * 33_000}, "messageId": "m3"},
        {"type": "track", "userId": "u", "event": "late", "timestamp": "0001-01-01T00:00:00+14:00", "messageId": "m4"},
        {"type": "track", "userId": "u", "event": "good too", "messageId": "m5"},
    ]
    response = segment.post("/v1/batch", {"batch": batch})
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "refused": [
            {"index": 1, "field": "batch[1].event", "error": "batch[1].event is required"},
            {"index": 2, "field": "batch[2]", "error": "batch[2] is larger than 32 KB (the per-event limit)"},
            {
                "index": 3,
                "field": "batch[3].timestamp",
                "error": "batch[3].timestamp is not an ISO 8601 date-time: '0001-01-01T00:00:00+14:00'",
            },
        ],
    }
    assert sorted(Activity.objects.values_list("name", flat=True)) == ["good", "good too"]
    kept = IngestionError.objects.filter(workspace=acme.workspace).order_by("pk")
    assert [(e.kind, e.endpoint, e.field, e.message_id) for e in kept] == [
        ("refused", "/v1/batch", "batch[1].event", "m2"),
        ("refused", "/v1/batch", "batch[2]", "m3"),
        ("refused", "/v1/batch", "batch[3].timestamp", "m4"),
    ]
    assert '"event":"late"' in kept[2].excerpt
    # The same answer again: the good ones were deduplicated, the bad ones refused again.
    assert segment.post("/v1/batch", {"batch": batch}).json()["refused"][0]["index"] == 1
    assert Activity.objects.count() == 2


@pytest.mark.parametrize("size", [9, 12])
def test_a_far_offset_is_read_in_utc_whatever_the_batch_size(segment: SegmentClient, size):
    """+23:59 was a 503 (retried forever by SDKs) from ten events up; the same input gets one answer."""
    batch = [
        {"type": "track", "userId": f"u{i}", "event": "x", "timestamp": "2025-06-01T23:59:00+23:59"}
        for i in range(size)
    ]
    assert segment.post("/v1/batch", {"batch": batch}).json() == {"success": True}
    assert set(Activity.objects.values_list("timestamp", flat=True)) == {datetime(2025, 6, 1, 0, 0, tzinfo=UTC)}


def test_a_four_megabyte_batch_as_rudderstack_sends_it_is_accepted(segment: SegmentClient):
    batch = [{"type": "track", "userId": "u", "event": "x", "properties": {"blob": "b" * 6_000}} for _ in range(600)]
    response = segment.post("/v1/batch", {"batch": batch}, gzip=True)
    assert response.status_code == 200, response.content
    assert Activity.objects.count() == 600


def test_a_write_key_past_its_rate_is_told_to_retry_later(segment: SegmentClient, settings):
    settings.NUDGE_INGEST_RATE_PER_SECOND = 1
    settings.NUDGE_INGEST_BURST_SECONDS = 3  # three requests in a window of three seconds
    with time_machine.travel(datetime(2026, 1, 1, 12, 0, 0, 500_000, tzinfo=UTC), tick=False):
        answers = [segment.post("/v1/track", {"userId": "u", "event": "x"}) for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert answers[3]["Retry-After"] == "3"  # the window ends 2.5 s later: rounded up
    assert answers[3].json()["code"] == "rate_limited" and answers[3].json()["field"] == "writeKey"
    assert Activity.objects.count() == 3


def test_whole_numbers_are_ids_and_keep_every_digit(segment: SegmentClient):
    assert segment.post("/v1/track", {"userId": 12345678901234567890, "event": "x"}).status_code == 200
    assert Profile.objects.get().user_id == "12345678901234567890"


@pytest.mark.parametrize("path", ["/v1/track", "/v1/identify", "/v1/batch"])
def test_a_timezone_no_zone_has_is_ignored_and_the_call_stored(segment: SegmentClient, path):
    """A 300-character `context.timezone` made ZoneInfo read a file name too long (OSError, a 500 that the
    SDK retries, holding every event batched with it). The write key is public: it must never cost a call."""
    odd = {"timezone": "x" * 300}
    call = {"userId": "ann", "context": odd, **({"event": "tap"} if path == "/v1/track" else {})}
    body = {"batch": [{"type": "track", "userId": "bob", "event": "ok"}, {"type": "identify", **call}]}
    response = segment.post(path, body if path == "/v1/batch" else call)
    assert response.status_code == 200, response.content
    ann = Profile.objects.live().get(user_id="ann")
    assert ann.timezone in ("", None)
    if path == "/v1/batch":
        assert Profile.objects.live().filter(user_id="bob").exists() and activities(name="ok") == ["ok"]


@pytest.mark.parametrize(
    "name", ["behavior:abandoned_cart", "message_opened", "message_clicked", "segment_entered", "unsubscribed"]
)
def test_names_nudge_records_itself_are_refused_from_the_write_key(segment: SegmentClient, name):
    """The write key ships in every app: a forged behavior firing would enter its journeys (past their
    max_once_per), a forged report would count as an open or a click."""
    single = segment.post("/v1/track", {"userId": "ann", "event": name})
    assert single.status_code == 400 and single.json()["field"] == "event", single.content
    assert "records itself" in single.json()["error"]
    calls = [{"type": "track", "userId": "ann", "event": "tap"}, {"type": "track", "userId": "ann", "event": name}]
    batch = segment.post("/v1/batch", {"batch": calls})
    assert batch.status_code == 200 and batch.json()["refused"][0]["field"] == "batch[1].event"
    assert activities(name=name) == [] and activities(name="tap") == ["tap"]
