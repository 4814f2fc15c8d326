"""Journey documents: every bad field is named, the graph checks hold, and an optional field sent as
null is absent."""

from __future__ import annotations

from typing import Any

import pytest

from journeys.document import Delay, DocumentError, Split, Webhook, parse_journey
from tests.journeys.documents import DISCOUNTS, discounts


def problems(document: Any, **kwargs: Any) -> list[str]:
    with pytest.raises(DocumentError) as caught:
        parse_journey(document, **kwargs)
    return [p.field for p in caught.value.problems]


def nodes(**extra: Any) -> dict[str, Any]:
    return {**DISCOUNTS["nodes"], **extra}


def test_the_product_brief_document_parses():
    journey = parse_journey(DISCOUNTS)
    assert journey.start == "fav" and set(journey.nodes) == {"fav", "thanks", "nudge"}
    assert journey.conversion is not None and journey.conversion.exit_on_conversion
    assert journey.reentry.cap is not None and journey.reentry.cap.max_entries == 2


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ("not a journey", "journey"),
        (discounts(name=""), "name"),
        (discounts(conversion={"event": "purchase", "window": "thirty days"}), "conversion.window"),
        (
            discounts(conversion={"event": "purchase", "window": "P30D", "exit_on_conversion": "yes"}),
            "conversion.exit_on_conversion",
        ),
        (
            discounts(conversion={"event": "purchase", "window": "P30D", "where": [{"property": "price", "op": "gt"}]}),
            "conversion.where[0].value",
        ),
        (discounts(entry={"type": "sometimes"}), "entry.type"),
        (discounts(entry={"type": "event"}), "entry.event"),
        (
            discounts(entry={"type": "event", "event": "x", "where": {"property": "a", "op": "nope", "value": 1}}),
            "entry.where.op",
        ),
        (discounts(entry={"type": "segment", "every_day_at": "25:00"}), "entry.every_day_at"),
        (discounts(schedule={"start_at": "tomorrow"}), "schedule.start_at"),
        (discounts(schedule={"start_at": "2025-01-02T00:00:00Z", "end_at": "2025-01-01T00:00:00Z"}), "schedule.end_at"),
        (discounts(reentry={"mode": "twice"}), "reentry.mode"),
        (discounts(reentry={"lock": "P0D"}), "reentry.lock"),
        (discounts(reentry={"cap": {"max_entries": 0}}), "reentry.cap.max_entries"),
        (discounts(audience={"segments": "vip"}), "audience.segments"),
        (discounts(start="nowhere"), "start"),
        (discounts(start=None), "start"),
        (discounts(nodes={}), "nodes"),
        (
            discounts(
                nodes=nodes(
                    fav={
                        "type": "wait_event",
                        "event": "x",
                        "timeout": "P3D",
                        "on_performed": "ghost",
                        "on_timeout": None,
                    }
                )
            ),
            "nodes.fav.on_performed",
        ),
        (
            discounts(
                nodes=nodes(fav={"type": "wait_event", "event": "x", "on_performed": "thanks", "on_timeout": "nudge"})
            ),
            "nodes.fav.timeout",
        ),
        (
            discounts(
                nodes=nodes(fav={"type": "wait_event", "event": "x", "timeout": "P3D", "on_performed": "thanks"})
            ),
            "nodes.fav.on_timeout",
        ),
        (
            discounts(nodes=nodes(thanks={"type": "send", "channel": "fax", "template": "t", "next": None})),
            "nodes.thanks.channel",
        ),
        (discounts(nodes=nodes(thanks={"type": "send", "channel": "sms", "next": None})), "nodes.thanks.template"),
        (discounts(nodes=nodes(thanks={"type": "teleport"})), "nodes.thanks.type"),
        (discounts(nodes=nodes(orphan={"type": "exit"})), "nodes.orphan"),
        (discounts(nodes=nodes(thanks={"type": "delay", "next": None})), "nodes.thanks"),
        (discounts(nodes=nodes(thanks={"type": "delay", "until": "noon", "next": None})), "nodes.thanks.until"),
        (discounts(nodes=nodes(thanks={"type": "branch", "branches": [], "else": None})), "nodes.thanks.branches"),
        (
            discounts(nodes=nodes(thanks={"type": "branch", "branches": [{"next": None}], "else": None})),
            "nodes.thanks.branches[0].if",
        ),
        (
            discounts(
                nodes=nodes(
                    thanks={
                        "type": "split",
                        "arms": [
                            {"name": "a", "percent": 50, "next": None},
                            {"name": "b", "percent": 40, "next": None},
                        ],
                    }
                )
            ),
            "nodes.thanks.arms",
        ),
        (
            discounts(
                nodes=nodes(
                    thanks={
                        "type": "split",
                        "arms": [
                            {"name": "a", "percent": 50, "next": "ghost"},
                            {"name": "b", "percent": 50, "next": None},
                        ],
                    }
                )
            ),
            "nodes.thanks.arms[0].next",
        ),
        (discounts(nodes=nodes(thanks={"type": "update_profile", "next": None})), "nodes.thanks"),
        (discounts(nodes=nodes(thanks={"type": "webhook", "url": "ftp://x", "next": None})), "nodes.thanks.url"),
        (
            discounts(nodes=nodes(thanks={"type": "webhook", "url": "https://x", "method": "BREW", "next": None})),
            "nodes.thanks.method",
        ),
        (discounts(nodes={"bad id!": {"type": "exit"}}), "nodes.bad id!"),
        (discounts(entry={}), "entry.type"),  # was a 500 (an assertion)
        # a key the document does not know is named, not ignored (a typo'd filter would enter everyone)
        (discounts(conversoin={"event": "purchase", "window": "P1D"}), "conversoin"),
        (discounts(entry={"type": "event", "event": "screen_view", "wehre": {"tag": "x"}}), "entry.wehre"),
        (discounts(reentry={"mode": "once", "lok": "P1D"}), "reentry.lok"),
        (discounts(audience={"exclude_segment": ["a"]}), "audience.exclude_segment"),
        (
            discounts(nodes=nodes(thanks={"type": "update_profile", "add_tags": ["t"], "set": {}, "next": None})),
            "nodes.thanks.set",
        ),
        (discounts(nodes=nodes(thanks={"type": "exit", "nxt": None})), "nodes.thanks.nxt"),  # even null
        (discounts(entry={"type": "event", "event": "screen_view", "every_day_at": "10:00"}), "entry.every_day_at"),
        (discounts(entry={"type": "segment", "event": "screen_view"}), "entry.event"),
    ],
)
def test_each_problem_is_named(document, field):
    assert field in problems(document)


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        ({"url": "https://x.test/{{ profile.user_id"}, "nodes.thanks.url", "expected '}}'"),
        ({"url": "https://x.test", "body": '{"n": "{{ profile.first_name "}'}, "nodes.thanks.body", "line 1"),
        (
            {"url": "https://x.test", "headers": {"X-Id": "{{ event.id | shout }}"}},
            "nodes.thanks.headers.X-Id",
            "shout",
        ),
    ],
)
def test_a_webhooks_liquid_is_checked_as_a_templates(spec, field, words):
    with pytest.raises(DocumentError) as caught:
        parse_journey(discounts(nodes=nodes(thanks={"type": "webhook", **spec, "next": None})))
    found = {p.field: p.message for p in caught.value.problems}
    assert field in found and "Liquid error on" in found[field] and words in found[field], found


def test_all_problems_are_reported_at_once():
    found = problems(discounts(name="", start="nowhere", reentry={"mode": "twice"}))
    assert {"name", "start", "reentry.mode"} <= set(found)


def test_a_cycle_without_a_wait_is_refused_but_a_cycle_through_a_wait_is_fine():
    looping = {
        "a": {"type": "branch", "branches": [{"if": {"tag": "x"}, "next": "b"}], "else": None},
        "b": {"type": "update_profile", "add_tags": ["x"], "next": "a"},
    }
    assert "nodes.a" in problems(discounts(start="a", nodes=looping)) or "nodes.b" in problems(
        discounts(start="a", nodes=looping)
    )
    waiting = {
        "a": {"type": "send", "channel": "push", "template": "t", "next": "w"},
        "w": {"type": "delay", "duration": "P1D", "next": "a"},
    }
    assert set(parse_journey(discounts(start="a", nodes=waiting)).nodes) == {"a", "w"}


def test_templates_are_checked_when_a_lookup_is_given():
    known = {("sms", "post-purchase-survey")}
    assert problems(DISCOUNTS, template_exists=lambda channel, name: (channel, name) in known) == [
        "nodes.nudge.template"
    ]


def test_delay_and_split_shapes():
    journey = parse_journey(
        discounts(
            start="d",
            nodes={
                "d": {"type": "delay", "until": "10:00", "next": "s"},
                "s": {
                    "type": "split",
                    "arms": [
                        {"name": "A", "percent": 90, "next": None},
                        {"name": "holdout", "percent": 10, "next": None},
                    ],
                },
            },
        )
    )
    delay, split = journey.nodes["d"], journey.nodes["s"]
    assert isinstance(delay, Delay) and delay.until_time is not None and delay.until_time.hour == 10
    assert isinstance(split, Split) and [a.percent for a in split.arms] == [90, 10]


# Every optional field of a journey, sent as null by a client that writes every field. Edges keep their
# own meaning of null (the path ends there).
EVERY_OPTIONAL_NULL: dict[str, Any] = {
    "name": "Everything written",
    "description": None,
    "conversion": {"event": "purchase", "where": None, "window": "P30D", "exit_on_conversion": None},
    "entry": {"type": "event", "event": "screen_view", "where": None, "every_day_at": None},
    "schedule": {"start_at": None, "end_at": None},
    "reentry": {"mode": None, "lock": None, "cap": {"max_entries": 2, "period": None}},
    "audience": {"segments": None, "exclude_segments": None},
    "messaging": {"quiet_hours": None, "frequency_caps": None},
    "start": "fav",
    "nodes": {
        "fav": {
            "type": "wait_event",
            "event": "add_to_favorites",
            "where": None,
            "timeout": "P3D",
            "on_performed": "quiet",
            "on_timeout": None,
        },
        "quiet": {"type": "wait_inactive", "duration": "P1D", "next": "later"},
        "later": {"type": "delay", "duration": None, "until": "10:00", "next": "pick"},
        "pick": {"type": "branch", "branches": [{"if": {"tag": "vip"}, "next": "tag"}], "else": "ab"},
        "ab": {
            "type": "split",
            "arms": [{"name": "a", "percent": 50, "next": "hook"}, {"name": "b", "percent": 50, "next": "record"}],
        },
        "tag": {"type": "update_profile", "traits": None, "add_tags": ["seen"], "remove_tags": None, "next": "bye"},
        "hook": {
            "type": "webhook",
            "url": "https://example.com/hook",
            "method": None,
            "headers": None,
            "body": None,
            "next": None,
        },
        "record": {"type": "record_activity", "name": "went_quiet", "next": "thanks"},
        "thanks": {"type": "send", "channel": "sms", "template": "post-purchase-survey", "next": None},
        "bye": {"type": "exit"},
    },
}
EDGES = ("next", "on_performed", "on_timeout", "else")


def without_nulls(value: Any) -> Any:
    """The document as a client that leaves unset fields out writes it (edges stay: null ends a path)."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None or k in EDGES}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def test_every_optional_field_sent_as_null_is_absent():
    journey = parse_journey(EVERY_OPTIONAL_NULL)
    assert journey == parse_journey(without_nulls(EVERY_OPTIONAL_NULL))
    assert journey.conversion is not None and journey.conversion.exit_on_conversion is False
    assert journey.reentry.mode == "multiple" and journey.reentry.lock is None
    assert journey.reentry.cap is not None and journey.reentry.cap.period is None
    assert (journey.quiet_hours, journey.frequency_caps) == (True, True)
    assert (journey.schedule_start, journey.schedule_end, journey.audience_segments) == (None, None, ())
    hook = journey.nodes["hook"]
    assert isinstance(hook, Webhook) and (hook.method, hook.body, hook.next) == ("POST", "", None)


@pytest.mark.parametrize("key", ["conversion", "schedule", "reentry", "audience", "messaging", "description"])
def test_an_optional_section_sent_as_null_is_absent(key):
    assert parse_journey(discounts(**{key: None})) == parse_journey({k: v for k, v in DISCOUNTS.items() if k != key})


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (discounts(name=None), "name"),
        (discounts(entry=None), "entry"),
        (discounts(entry={"type": None}), "entry.type"),
        (discounts(entry={"type": "event", "event": None}), "entry.event"),
        (discounts(conversion={"event": "purchase", "window": None}), "conversion.window"),
        (discounts(reentry={"cap": {"max_entries": None}}), "reentry.cap.max_entries"),
        (discounts(messaging={"quiet_hours": "no"}), "messaging.quiet_hours"),
        (discounts(nodes=nodes(thanks=None)), "nodes.thanks"),
        (
            discounts(nodes=nodes(thanks={"type": "branch", "branches": [{"if": None, "next": None}], "else": None})),
            "nodes.thanks.branches[0].if",  # null is no condition, not "always"
        ),
        (
            discounts(
                nodes=nodes(
                    fav={"type": "wait_event", "event": "x", "timeout": None, "on_performed": None, "on_timeout": None}
                )
            ),
            "nodes.fav.timeout",
        ),
        (discounts(nodes=nodes(thanks={"type": "send", "channel": "sms", "template": "t"})), "nodes.thanks.next"),
    ],
)
def test_null_for_a_required_field_is_still_missing(document, field):
    assert field in problems(document)
