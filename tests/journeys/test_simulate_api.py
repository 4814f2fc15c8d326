"""`POST /api/v1/journeys/simulate`: the §8.8 shapes, every role, bad input named, nothing stored, null as absent."""

from __future__ import annotations

import copy

import pytest

from activities.models import Activity, Profile
from tests.journeys.documents import TIMELINE_1, TIMELINE_1_EVENTS, TIMELINE_1_PROFILES, discounts
from workspaces.models import Role

pytestmark = pytest.mark.django_db


def post(client, tenant, body, role=Role.ANALYST):
    return client.post("/api/v1/journeys/simulate", data=body, content_type="application/json", **tenant.auth(role))


def test_timeline_1_through_the_api(client, acme):
    response = post(
        client,
        acme,
        {
            "journey": TIMELINE_1,
            "until": "2025-02-01T00:00:00Z",
            "profiles": TIMELINE_1_PROFILES,
            "events": TIMELINE_1_EVENTS,
        },
    )
    assert response.status_code == 200, response.content
    profiles = response.json()["profiles"]
    assert set(profiles) == {"ann", "bob", "cem"}
    assert profiles["ann"]["entries"][0]["messages"][0]["template"] == "post-purchase-survey"
    assert profiles["bob"]["not_entered"] == [{"at": "2024-12-17T12:30:00Z", "reason": "filters"}]
    assert [r["reason"] for r in profiles["cem"]["not_entered"]] == ["lock", "cap"]
    assert not Profile.objects.exists() and not Activity.objects.exists()  # nothing stored


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "journey"),
        ({"journey": discounts(start="nowhere"), "until": "2025-01-01T00:00:00Z"}, "journey"),
        ({"journey": discounts(), "until": "someday"}, "until"),
        ({"journey": discounts(), "until": "2025-01-01T00:00:00Z", "profiles": "ann"}, "profiles"),
        (
            {
                "journey": discounts(),
                "until": "2025-01-01T00:00:00Z",
                "profiles": [{"user_id": "a", "timezone": "Mars/X"}],
            },
            "profiles[0].timezone",
        ),
        (
            {
                "journey": discounts(),
                "until": "2025-01-01T00:00:00Z",
                "profiles": [{"user_id": "a", "timezone": "x" * 300}],
            },
            "profiles[0].timezone",
        ),
        (
            {
                "journey": discounts(),
                "until": "2025-01-01T00:00:00Z",
                "profiles": [{"user_id": "a", "timezone": ["UTC"]}],
            },
            "profiles[0].timezone",
        ),
        (
            {"journey": discounts(), "until": "2025-01-01T00:00:00Z", "events": [{"user_id": "a", "event": "x"}]},
            "events[0].timestamp",
        ),
        (
            {
                "journey": discounts(),
                "until": "2025-01-01T00:00:00Z",
                "events": [{"event": "x", "timestamp": "2025-01-01"}],
            },
            "events[0].user_id",
        ),
    ],
)
def test_bad_requests_are_400_naming_the_field(client, acme, body, field):
    response = post(client, acme, body)
    assert response.status_code == 400
    assert field in response.json()


def test_document_problems_are_listed_with_their_fields(client, acme):
    response = post(client, acme, {"journey": discounts(start="nowhere", name=""), "until": "2025-01-01T00:00:00Z"})
    fields = {p["field"] for p in response.json()["journey"]}
    assert {"start", "name"} <= fields


def test_a_token_is_required(client):
    assert client.post("/api/v1/journeys/simulate", data={}, content_type="application/json").status_code == 401


def test_malformed_json_is_400(client, acme):
    response = client.post("/api/v1/journeys/simulate", data=b"{nope", content_type="application/json", **acme.auth())
    assert response.status_code == 400


def test_a_journey_with_every_unused_field_null_simulates_as_without_them(client, acme):
    """Timeline 1 written by a client that sends every field: what it leaves unset is null."""
    written = copy.deepcopy(TIMELINE_1)
    written["description"] = None
    written["entry"]["every_day_at"] = None
    written["audience"] = {"segments": None, "exclude_segments": None}
    written["messaging"] = {"quiet_hours": None, "frequency_caps": None}
    written["nodes"]["fav"]["where"] = None
    timeline = {"until": "2025-02-01T00:00:00Z", "profiles": TIMELINE_1_PROFILES, "events": TIMELINE_1_EVENTS}
    as_written = post(client, acme, {**timeline, "journey": written})
    assert as_written.status_code == 200, as_written.content
    assert as_written.json() == post(client, acme, {**timeline, "journey": TIMELINE_1}).json()
    unbounded = copy.deepcopy(written)
    unbounded["reentry"] = {"mode": None, "lock": None, "cap": None}  # absent: enter as often as you like
    profiles = post(client, acme, {**timeline, "journey": unbounded}).json()["profiles"]
    assert profiles["cem"]["not_entered"] == [] and len(profiles["cem"]["entries"]) == 5


LOOP = {
    "name": "every minute",
    "entry": {"type": "event", "event": "signup"},
    "start": "wait",
    "nodes": {
        "wait": {"type": "delay", "duration": "PT1M", "next": "ping"},
        "ping": {"type": "webhook", "url": "https://hooks.example.com/x", "next": "wait"},
    },
}


@pytest.mark.parametrize(
    "body",
    [
        {  # a one-minute loop for three months: 130,000 steps for one profile
            "journey": LOOP,
            "until": "2025-04-01T00:00:00Z",
            "events": [{"user_id": "a", "event": "signup", "timestamp": "2025-01-01T00:00:00Z"}],
        },
        {  # a daily scheduled entry from year 1000: 375,000 days of entries
            "journey": {
                "name": "daily",
                "entry": {"type": "segment", "every_day_at": "10:00"},
                "schedule": {"start_at": "1000-01-01T00:00:00Z"},
                "start": "bye",
                "nodes": {"bye": {"type": "exit"}},
            },
            "profiles": [{"user_id": "a"}],
            "until": "2025-01-01T00:00:00Z",
        },
    ],
)
def test_a_simulation_past_its_budget_is_refused_at_until_not_run_for_minutes(client, acme, body):
    response = post(client, acme, body)
    assert response.status_code == 400, response.content[:300]
    assert "runs past 50,000 steps" in str(response.json()["until"])
