"""The Segment message format: mapping to activities, clock-skew correction and field errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from activities.segment_spec import SpecError, parse_batch, parse_message

RECEIVED = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)


def _deep(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels):
        value = {"a": value}
    return value


def parse(raw: dict, call: str | None = None):
    return parse_message(raw, call=call, received_at=RECEIVED)


def test_track_maps_event_to_activity_name_and_keeps_properties():
    message = parse({"userId": "ann", "event": "purchase", "properties": {"price": 150}}, "track")
    assert (message.type, message.name, message.properties, message.user_id) == (
        "track",
        "purchase",
        {"price": 150},
        "ann",
    )


def test_page_becomes_viewed_with_name_url_path_title():
    message = parse(
        {
            "anonymousId": "a1",
            "name": "Pricing",
            "properties": {"plan": "pro"},
            "context": {"page": {"url": "https://x.test/p", "path": "/p", "title": "Pricing page"}},
        },
        "page",
    )
    assert message.name == "viewed"
    assert message.properties == {
        "plan": "pro",
        "name": "Pricing",
        "url": "https://x.test/p",
        "path": "/p",
        "title": "Pricing page",
    }


def test_page_properties_win_over_context_page():
    message = parse(
        {"userId": "u", "properties": {"url": "https://explicit"}, "context": {"page": {"url": "x"}}}, "page"
    )
    assert message.properties["url"] == "https://explicit"


def test_screen_becomes_screen_view_with_screen_name():
    message = parse({"userId": "u", "name": "Spring Discounts"}, "screen")
    assert (message.name, message.properties) == ("screen_view", {"screen_name": "Spring Discounts"})


def test_identify_carries_traits_and_is_an_identify_activity():
    message = parse({"userId": "u", "traits": {"email": "u@x.test"}}, "identify")
    assert (message.name, message.traits, message.properties) == (
        "identify",
        {"email": "u@x.test"},
        {"email": "u@x.test"},
    )


def test_alias_and_group_map_their_ids():
    alias = parse({"userId": "new", "previousId": "old"}, "alias")
    assert (alias.name, alias.previous_id, alias.properties) == ("alias", "old", {"previous_id": "old"})
    group = parse({"userId": "u", "groupId": 42, "traits": {"name": "Acme"}}, "group")
    assert group.properties == {"group_id": "42", "traits": {"name": "Acme"}}


def test_numeric_ids_become_strings_and_empty_ids_count_as_missing():
    message = parse({"userId": 7, "anonymousId": "", "event": "x"}, "track")
    assert (message.user_id, message.anonymous_id) == ("7", None)


def test_missing_message_id_gets_one():
    first, second = parse({"userId": "u", "event": "x"}, "track"), parse({"userId": "u", "event": "x"}, "track")
    assert first.message_id and first.message_id != second.message_id


def test_timestamp_is_corrected_for_device_clock_skew():
    # The device clock is 1 hour fast: it says it sent at 13:00 an event it recorded at 12:55.
    message = parse(
        {"userId": "u", "event": "x", "timestamp": "2025-01-10T12:55:00Z", "sentAt": "2025-01-10T13:00:00Z"}, "track"
    )
    assert message.timestamp == RECEIVED - timedelta(minutes=5)


def test_an_explicit_timestamp_wins_over_original_timestamp_and_is_skew_corrected():
    """RudderStack's Node SDK sends originalTimestamp (when the call was queued) beside the timestamp an
    integrator gave a historical event: the explicit one is the event's, as RudderStack's server has it."""
    message = parse(
        {
            "userId": "u",
            "event": "x",
            "originalTimestamp": "2025-01-10T11:00:00Z",
            "timestamp": "2025-01-10T08:00:00Z",
            "sentAt": "2025-01-10T11:30:00Z",
        },
        "track",
    )
    assert message.timestamp == RECEIVED - timedelta(hours=3, minutes=30)
    alone = parse(
        {"userId": "u", "event": "x", "originalTimestamp": "2025-01-10T11:00:00Z", "sentAt": "2025-01-10T11:30:00Z"},
        "track",
    )
    assert alone.timestamp == RECEIVED - timedelta(minutes=30)


def test_batch_level_sent_at_applies_to_every_message():
    messages = parse_batch(
        {
            "sentAt": "2025-01-10T12:10:00Z",
            "batch": [{"type": "track", "userId": "u", "event": "x", "timestamp": "2025-01-10T12:09:00Z"}],
        },
        received_at=RECEIVED,
        max_event_bytes=32 * 1024,
        size=100,
    )
    assert messages.messages[0].timestamp == RECEIVED - timedelta(minutes=1)


def test_timestamp_without_sent_at_is_used_as_is_and_naive_means_utc():
    message = parse({"userId": "u", "event": "x", "timestamp": "2024-12-17T12:00:00"}, "track")
    assert message.timestamp == datetime(2024, 12, 17, 12, 0, tzinfo=UTC)


def test_no_timestamp_means_received_at():
    assert parse({"userId": "u", "event": "x"}, "track").timestamp == RECEIVED


def test_context_gives_timezone_locale_and_push_token():
    message = parse(
        {
            "userId": "u",
            "event": "x",
            "context": {"timezone": "Europe/Istanbul", "locale": "tr-TR", "device": {"token": "tok-1", "type": "iOS"}},
        },
        "track",
    )
    assert (message.timezone, message.locale, message.device) == ("Europe/Istanbul", "tr-TR", ("tok-1", "ios", {}))


@pytest.mark.parametrize(
    ("subscription", "device"),
    [
        (
            {"endpoint": "https://push.example/1", "keys": {"p256dh": "k", "auth": "a"}},
            (
                "https://push.example/1",
                "web",
                {"endpoint": "https://push.example/1", "keys": {"p256dh": "k", "auth": "a"}},
            ),
        ),
        ({"endpoint": "http://insecure.example/1", "keys": {}}, None),  # push services are https only
        ({"endpoint": "https://push.example/1"}, None),  # no keys: nothing can be encrypted for it
        ("https://push.example/1", None),
    ],
)
def test_context_gives_a_web_push_subscription(subscription, device):
    message = parse(
        {"userId": "u", "event": "x", "context": {"device": {"type": "web", "subscription": subscription}}}, "track"
    )
    assert message.device == device


@pytest.mark.parametrize("zone", ["Mars/Olympus", "x" * 300, "../../etc/passwd", "", 3, ["UTC"], "utc "])
def test_an_unknown_timezone_is_ignored_not_fatal(zone):
    message = parse({"userId": "u", "event": "x", "context": {"timezone": zone}}, "track")
    assert message.timezone is None


@pytest.mark.parametrize(
    ("raw", "call", "field"),
    [
        ({"userId": "u"}, "track", "event"),
        ({"userId": "u", "event": 5}, "track", "event"),
        ({"userId": "u", "event": "x" * 201}, "track", "event"),
        ({"event": "x"}, "track", "userId"),
        ({"userId": {"id": 1}, "event": "x"}, "track", "userId"),
        ({"userId": True, "event": "x"}, "track", "userId"),
        ({"anonymousId": ["a"], "event": "x"}, "track", "anonymousId"),
        ({"userId": "u" * 256, "event": "x"}, "track", "userId"),
        ({"userId": "u", "event": "x", "properties": []}, "track", "properties"),
        ({"userId": "u", "event": "x", "context": "c"}, "track", "context"),
        ({"userId": "u", "traits": "t"}, "identify", "traits"),
        ({"userId": "u", "event": "x", "timestamp": "yesterday"}, "track", "timestamp"),
        ({"userId": "u", "event": "x", "timestamp": 1700000000}, "track", "timestamp"),
        ({"userId": "u", "event": "x", "sentAt": "soon"}, "track", "sentAt"),
        (
            {"userId": "u", "event": "x", "timestamp": "2025-01-01T00:00:00Z", "sentAt": "0001-01-01T00:00:00Z"},
            "track",
            "sentAt",
        ),
        # Times outside 1970 to a day ahead (after the skew correction) are refused, naming the field.
        ({"userId": "u", "event": "x", "timestamp": "0001-01-01T00:00:00+14:00"}, "track", "timestamp"),
        ({"userId": "u", "event": "x", "timestamp": "9999-12-31T23:59:59-14:00"}, "track", "timestamp"),
        ({"userId": "u", "event": "x", "originalTimestamp": "1969-12-31T23:59:59Z"}, "track", "originalTimestamp"),
        ({"userId": "u", "event": "x", "timestamp": "2025-01-12T12:00:01Z"}, "track", "timestamp"),
        (
            {"userId": "u", "event": "x", "timestamp": "1970-01-02T00:00:00Z", "sentAt": "2025-02-01T00:00:00Z"},
            "track",
            "timestamp",
        ),
        ({"userId": 1e308, "event": "x"}, "track", "userId"),  # a float is no id
        ({"userId": 1.5, "event": "x"}, "track", "userId"),
        ({"userId": "u", "event": "x", "messageId": {"a": 1}}, "track", "messageId"),
        ({"userId": "u", "event": "x", "messageId": "m" * 101}, "track", "messageId"),
        ({"userId": "u"}, "alias", "previousId"),
        ({"anonymousId": "a", "previousId": "p"}, "alias", "userId"),
        ({"userId": "u"}, "group", "groupId"),
        ({"userId": "u", "name": 3}, "screen", "name"),
        ({"userId": "u", "event": "x"}, None, "type"),
        ({"type": "explode", "userId": "u"}, None, "type"),
    ],
)
def test_each_bad_field_is_named(raw, call, field):
    with pytest.raises(SpecError) as caught:
        parse(raw, call)
    assert caught.value.field == field


def test_a_batch_keeps_its_good_messages_and_names_each_bad_one():
    parsed = parse_batch(
        {
            "batch": [
                {"type": "track", "userId": "u", "event": "ok"},
                {"type": "track", "userId": "u"},
                {"type": "track", "userId": "u", "event": "late", "timestamp": "0001-01-01T00:00:00+14:00"},
                {"type": "track", "userId": "u", "event": "nul", "properties": {"k": "a\x00"}},
                "not an object",
                {"type": "track", "userId": "u", "event": "ok too"},
            ]
        },
        received_at=RECEIVED,
        max_event_bytes=32 * 1024,
        size=100,
    )
    assert [m.name for m in parsed.messages] == ["ok", "ok too"]
    assert [(r.index, r.field) for r in parsed.refused] == [
        (1, "batch[1].event"),
        (2, "batch[2].timestamp"),
        (3, "batch[3].properties.k"),
        (4, "batch[4]"),
    ]


def test_nesting_is_bounded_and_the_deep_place_named():
    with pytest.raises(SpecError) as caught:
        parse({"userId": "u", "event": "x", "properties": {"deep": _deep(40)}}, "track")
    assert caught.value.field.startswith("properties.deep.a.a") and "nests deeper than 32 levels" in str(caught.value)
    assert parse({"userId": "u", "event": "x", "properties": {"ok": _deep(20)}}, "track").properties


def test_whole_numbers_are_ids_with_every_digit():
    message = parse({"userId": 2**200, "event": "x"}, "track")
    assert message.user_id == str(2**200)


def test_offsets_beyond_sixteen_hours_are_read_in_utc():
    message = parse({"userId": "u", "event": "x", "timestamp": "2025-01-10T23:59:00+23:59"}, "track")
    assert message.timestamp == datetime(2025, 1, 10, 0, 0, tzinfo=UTC)


def test_batch_must_be_a_list():
    with pytest.raises(SpecError) as caught:
        parse_batch({"batch": {"type": "track"}}, received_at=RECEIVED, max_event_bytes=32 * 1024, size=100)
    assert caught.value.field == "batch"


def test_an_oversize_event_inside_a_batch_is_named():
    big = {"type": "track", "userId": "u", "event": "x", "properties": {"blob": "y" * 40_000}}
    parsed = parse_batch(
        {"batch": [{"type": "track", "userId": "u", "event": "x"}, big]},
        received_at=RECEIVED,
        max_event_bytes=32 * 1024,
        size=41_000,
    )
    assert len(parsed.messages) == 1
    assert [(r.field, r.message) for r in parsed.refused] == [
        ("batch[1]", "is larger than 32 KB (the per-event limit)")
    ]


def test_an_event_nested_too_deep_is_refused_naming_where_and_its_neighbours_are_stored():
    deep: dict = {"leaf": 1}
    for _ in range(40):
        deep = {"a": [deep]}
    batch = [
        {"type": "track", "userId": "u", "event": "ok"},
        {"type": "track", "userId": "u", "event": "e", "properties": {"x": 1, "deep": deep}},
    ]
    parsed = parse_batch({"batch": batch}, received_at=RECEIVED, max_event_bytes=32 * 1024, size=0)
    assert [m.name for m in parsed.messages] == ["ok"]
    ((refused),) = parsed.refused
    assert refused.index == 1 and refused.message == "nests deeper than 32 levels"
    assert refused.field == "batch[1].properties.deep" + ".a[0]" * 15
