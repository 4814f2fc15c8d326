"""The simulate API answers what the live path does: the same events, once through
`POST /api/v1/behaviors/{id}/simulate` and once through ingestion, the pipeline and the timer sweep with
the clock travelled, give the same firings (when, with which properties) and the same open matches (step,
since, until) — for §7's five behaviors on §13's timelines 2–4 and for one written with every optional
field sent as null and a `max_once_per`."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine

from activities.models import Activity
from behaviors.models import Behavior
from tests.behaviors.test_live import _at, _drain, _fire_until
from tests.conftest import SegmentClient
from workspaces.models import Role

pytestmark = pytest.mark.django_db

BROWSED = {
    "name": "Browsed, added, then quiet",
    "slug": "browsed_quiet",
    "description": None,
    "max_once_per": "P10D",
    "steps": [
        {
            "performed": "viewed",
            "not_performed": None,
            "inactive": None,
            "where": [{"property": "price", "op": "gt", "value": 100}],
            "within": None,
        },
        {"performed": "add_to_cart", "not_performed": None, "inactive": None, "where": None, "within": None},
        {"performed": None, "not_performed": None, "inactive": "P3D", "where": None, "within": None},
    ],
}


def _event(user: str, name: str, when: str, **properties: Any) -> dict[str, Any]:
    return {"user_id": user, "event": name, "timestamp": when, "properties": properties}


EVENTS = [
    # §13 timelines 2–4
    _event("dee", "update_cart", "2025-01-01T10:00:00Z", items=2),
    _event("dee", "update_cart", "2025-01-03T09:00:00Z", items=3),
    _event("eve", "update_cart", "2025-01-01T10:00:00Z"),
    _event("eve", "purchase", "2025-01-02T10:00:00Z"),
    _event("fay", "viewed", "2025-01-01T00:00:00Z"),
    _event("fay", "viewed", "2025-01-06T00:00:00Z"),
    _event("fay", "purchase", "2025-01-21T00:00:00Z"),
    _event("gus", "viewed", "2025-01-01T00:00:00Z"),
    _event("gus", "viewed", "2025-01-10T00:00:00Z"),
    _event("hal", "failed_payment", "2025-01-04T12:00:00Z"),
    # browsed_quiet: fires day 4; the day-9 completion is inside max_once_per; fires again on day 18 12:00
    _event("kim", "viewed", "2025-01-01T00:00:00Z", price=150),
    _event("kim", "add_to_cart", "2025-01-02T00:00:00Z", sku="a1"),
    _event("kim", "viewed", "2025-01-06T00:00:00Z", price=200),
    _event("kim", "add_to_cart", "2025-01-07T00:00:00Z"),
    _event("kim", "viewed", "2025-01-16T00:00:00Z", price=300),
    _event("kim", "add_to_cart", "2025-01-16T12:00:00Z"),
    _event("lee", "viewed", "2025-01-01T00:00:00Z", price=50),  # the filter refuses it
    _event("lee", "add_to_cart", "2025-01-02T00:00:00Z"),
    # still open at the end: a quiet window that started again, a step without an end, a cart window
    _event("max", "viewed", "2025-02-20T00:00:00Z", price=150),
    _event("max", "add_to_cart", "2025-02-21T00:00:00Z"),
    _event("max", "search", "2025-02-23T00:00:00Z"),
    _event("ned", "viewed", "2025-02-23T00:00:00Z", price=120),
    _event("ola", "update_cart", "2025-02-24T00:00:00Z"),
]
UNTIL = "2025-02-25T00:00:00Z"


def _live(client, acme) -> None:
    """Start the ready-made behaviors, then play the events through ingestion with the sweep firing in
    between, as workers would."""
    with time_machine.travel(_at("2024-12-31T00:00:00Z"), tick=False):
        for behavior in Behavior.objects.filter(workspace=acme.workspace, journey__isnull=True):
            started = client.post(f"/api/v1/behaviors/{behavior.pk}/resume", **acme.auth(Role.MARKETER))
            assert started.status_code == 200, started.content
    segment = SegmentClient(client, acme.write_key)
    for event in sorted(EVENTS, key=lambda e: e["timestamp"]):
        when = event["timestamp"]
        _fire_until(_at(when))
        with time_machine.travel(_at(when), tick=False):
            call = {"userId": event["user_id"], "event": event["event"], "timestamp": when}
            call["properties"] = event["properties"]
            assert segment.post("/v1/track", call).status_code == 200
            _drain()
    _fire_until(_at(UNTIL))


def _moment(text: str | None) -> Any:
    return _at(text) if text is not None else None


def test_the_simulate_api_answers_what_the_live_path_does(client, acme):
    with time_machine.travel(_at("2024-12-31T00:00:00Z"), tick=False):
        created = client.post("/api/v1/behaviors/", BROWSED, content_type="application/json", **acme.auth())
        assert created.status_code == 201, created.content
    simulated = {
        behavior.slug: client.post(
            f"/api/v1/behaviors/{behavior.pk}/simulate",
            {"events": EVENTS, "until": UNTIL},
            content_type="application/json",
            **acme.auth(Role.ANALYST),
        ).json()["profiles"]
        for behavior in Behavior.objects.filter(workspace=acme.workspace)
    }
    _live(client, acme)

    for behavior in Behavior.objects.filter(workspace=acme.workspace):
        answer = simulated[behavior.slug]
        fired: dict[str, list[tuple[Any, dict]]] = {}
        for user, moment, properties in (
            Activity.objects.filter(workspace=acme.workspace, name=f"behavior:{behavior.slug}")
            .order_by("timestamp")
            .values_list("profile__user_id", "timestamp", "properties")
        ):
            fired.setdefault(user, []).append((moment, properties))
        assert fired == {
            user: [(_at(f["at"]), f["properties"]) for f in person["firings"]]
            for user, person in answer.items()
            if person["firings"]
        }, behavior.slug
        matches = client.get(f"/api/v1/behaviors/{behavior.pk}/matches", **acme.auth(Role.ANALYST)).json()
        assert {
            m["profile"]["user_id"]: (m["waiting_for"]["step"], _moment(m["since"]), _moment(m["until"]))
            for m in matches["results"]
        } == {
            user: (person["open"]["step"], _moment(person["open"]["since"]), _moment(person["open"]["until"]))
            for user, person in answer.items()
            if person["open"] is not None
        }, behavior.slug

    # And what they agree on is §13's answer.
    assert simulated["abandoned_cart"]["dee"]["fired"] == ["2025-01-06T09:00:00Z"]
    assert simulated["abandoned_cart"]["dee"]["firings"][0]["properties"] == {"items": 3}
    assert simulated["slipping_away"]["fay"]["fired"] == ["2025-02-20T00:00:00Z"]
    assert simulated["skips_payment"]["hal"]["fired"] == ["2025-01-04T12:00:00Z"]
    browsed = simulated["browsed_quiet"]
    assert browsed["kim"]["fired"] == ["2025-01-05T00:00:00Z", "2025-01-19T12:00:00Z"]
    assert browsed["kim"]["firings"][0]["properties"] == {"price": 150}
    assert browsed["lee"]["fired"] == []
    assert browsed["max"]["open"] == {"step": 2, "since": "2025-02-23T00:00:00Z", "until": "2025-02-26T00:00:00Z"}
    assert browsed["ned"]["open"] == {"step": 1, "since": "2025-02-23T00:00:00Z", "until": None}
    assert simulated["abandoned_cart"]["ola"]["open"] == {
        "step": 1,
        "since": "2025-02-24T00:00:00Z",
        "until": "2025-02-27T00:00:00Z",
    }
