"""What was a 500 on the management API is a 400 naming the problem: NUL characters in bodies and URLs,
numbers beyond a float, deep nesting, far UTC offsets in date filters. Tokens die with their user;
a token past its rate is told to wait."""

from __future__ import annotations

import orjson
import pytest
import time_machine
from django.test import Client

from activities.models import Profile
from tests.conftest import basic_auth
from tests.personas import Tenant

pytestmark = pytest.mark.django_db


def _post(client: Client, tenant: Tenant, path: str, raw: bytes, method: str = "post") -> dict:
    response = getattr(client, method)(path, data=raw, content_type="application/json", **tenant.auth("marketer"))
    assert response.status_code == 400, response.content
    return response.json()


JOURNEY = b'{"name": "J", "entry": {"type": "event", "event": "x"}, "start": "s", "nodes": {}}'


@pytest.mark.parametrize(
    ("path", "method", "raw", "where"),
    [
        ("/api/v1/journeys/", "post", JOURNEY.replace(b'"J"', b'"J\\u0000"'), "name"),
        ("/api/v1/journeys/", "post", JOURNEY.replace(b'"nodes"', b'"no\\u0000des"'), "no\x00des"),
        (
            "/api/v1/templates/",
            "post",
            b'{"name": "t", "channel": "sms", "content": {"body": "hi\\u0000"}}',
            "content.body",
        ),
        (
            "/api/v1/behaviors/",
            "post",
            b'{"name": "b", "slug": "b", "steps": [{"performed": "a\\u0000"}]}',
            "steps[0].performed",
        ),
    ],
)
def test_a_nul_character_in_a_body_is_refused_naming_where(client, acme, path, method, raw, where):
    assert _post(client, acme, path, raw, method)["detail"].startswith(f"{where} contains a NUL character")


def test_profile_traits_and_consent_refuse_nul_and_infinity(client, acme):
    ann = Profile.objects.create(workspace=acme.workspace, user_id="ann")
    path = f"/api/v1/profiles/{ann.pk}/"
    assert "traits.note" in _post(client, acme, path, b'{"traits": {"note": "a\\u0000"}}', "patch")["detail"]
    assert "consent.e\x00mail" in _post(client, acme, path, b'{"consent": {"e\\u0000mail": false}}', "patch")["detail"]
    assert "infinity" in _post(client, acme, path, b'{"traits": {"n": 1e400}}', "patch")["detail"]
    ann.refresh_from_db()
    assert ann.traits == {} and ann.consent == {}


def test_deep_nesting_is_refused_whatever_the_depth(client, acme):
    for depth in (40, 3_000):
        raw = b'{"traits": ' + b'{"a": ' * depth + b"1" + b"}" * (depth + 1)
        detail = _post(client, acme, "/api/v1/journeys/", raw)["detail"]
        assert "nests deeper than 32 levels" in detail or "JSON parse error" in detail


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/activities/?since=2024-01-01T00:00:00-22:00&until=2030-01-01T00:00:00%2B23:59",
        "/api/v1/profiles/?seen_after=2024-01-01T00:00:00-22:00",
        "/api/v1/messages/?since=2024-01-01T00:00:00-22:00",
        "/api/v1/ingestion-errors/?since=0001-01-01T00:00:00%2B14:00",
    ],
)
def test_date_filters_with_far_offsets_are_read_in_utc(client, acme, path):
    response = client.get(path, **acme.auth("analyst"))
    assert response.status_code == 200, response.content


def test_a_nul_character_in_a_url_is_refused_before_any_view(client, acme):
    for path in ("/api/v1/profiles/?user_id=%00", "/api/v1/segments/?name=a%00b"):
        response = client.get(path, **acme.auth("analyst"))
        assert response.status_code == 400 and "contains a NUL character" in response.json()["detail"]
    inapp = client.get("/v1/inapp?userId=%00", HTTP_AUTHORIZATION=basic_auth(acme.write_key))
    assert inapp.status_code == 400 and inapp.json()["field"] == "userId"


def test_a_deactivated_users_tokens_stop_working(client, acme):
    assert client.get("/api/v1/profiles/", **acme.auth("marketer")).status_code == 200
    marketer = acme.members["marketer"]
    marketer.is_active = False
    marketer.save(update_fields=["is_active"])
    response = client.get("/api/v1/profiles/", **acme.auth("marketer"))
    assert response.status_code == 401
    body = orjson.dumps({"name": "t", "channel": "sms", "content": {"body": "hi"}})
    assert (
        client.post("/api/v1/templates/", body, content_type="application/json", **acme.auth("marketer")).status_code
        == 401
    )


def test_a_token_past_its_rate_is_told_when_to_come_back(client, acme, settings):
    settings.NUDGE_API_RATE = "3/hour"
    with time_machine.travel("2026-01-01T12:00:00Z", tick=False):
        answers = [client.get("/api/v1/profiles/", **acme.auth("analyst")) for _ in range(4)]
        other = client.get("/api/v1/profiles/", **acme.auth("owner"))  # each token has its own count
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[3]["Retry-After"] == "3600"
    assert other.status_code == 200


def test_a_panel_member_calling_the_api_has_a_rate_too(client, acme, settings):
    settings.NUDGE_API_RATE = "2/hour"
    client.force_login(acme.members["analyst"])
    with time_machine.travel("2026-01-01T12:00:00Z", tick=False):
        answers = [client.get("/api/v1/profiles/") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
