"""/api/v1/behaviors/: CRUD (a behavior is published as its compiled journey, hidden from the journeys
list), every bad document named, pause/resume, simulate, counts, roles and workspace isolation."""

from __future__ import annotations

import io

import pytest
import yaml
from django.core.management import call_command

from activities.models import EvaluationBatch, Profile
from activities.pipeline import batch_process
from behaviors.backfill import backfills_run
from behaviors.examples import EXAMPLES
from behaviors.models import Backfill, Behavior
from journeys.models import JourneyStatus
from tests.conftest import SegmentClient
from workspaces.models import Role

pytestmark = pytest.mark.django_db

# The workspace already has §7's examples as drafts; the tests create their own behavior beside them.
CART = {**next(e for e in EXAMPLES if e["slug"] == "abandoned_cart"), "name": "Cart left", "slug": "cart_left"}


def call(client, tenant, method, path, body=None, role=Role.MARKETER):
    return getattr(client, method)(
        f"/api/v1/behaviors/{path}", data=body, content_type="application/json", **tenant.auth(role)
    )


def test_create_edit_pause_resume_delete(client, acme):
    created = call(client, acme, "post", "", CART)
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["slug"], body["activity"], body["status"]) == ("cart_left", "behavior:cart_left", "live")
    behavior = Behavior.objects.get(slug="cart_left")
    assert behavior.journey.live_version is not None
    journeys = client.get("/api/v1/journeys/", **acme.auth()).json()
    assert journeys["count"] == 0  # the compiled journey is the behavior's
    assert client.get(f"/api/v1/journeys/{behavior.journey_id}/", **acme.auth()).status_code == 404

    longer = {**CART, "steps": [CART["steps"][0], {"not_performed": "purchase", "within": "P5D"}]}
    assert call(client, acme, "put", f"{behavior.pk}/", longer).status_code == 200
    assert behavior.journey.versions.count() == 2  # open matches finish on the version they started on
    renamed = call(client, acme, "put", f"{behavior.pk}/", {**CART, "slug": "other"})
    assert renamed.status_code == 400 and renamed.json()["behavior"][0]["field"] == "slug"

    assert call(client, acme, "post", f"{behavior.pk}/pause").json()["status"] == "paused"
    assert call(client, acme, "post", f"{behavior.pk}/pause").status_code == 409
    assert call(client, acme, "post", f"{behavior.pk}/resume").json()["status"] == "live"
    assert call(client, acme, "get", f"{behavior.pk}/counts", role=Role.ANALYST).json() == {
        "open_matches": 0,
        "fired": [],
    }
    journey = behavior.journey
    assert call(client, acme, "delete", f"{behavior.pk}/").status_code == 204
    journey.refresh_from_db()
    assert not Behavior.objects.filter(slug="cart_left").exists() and journey.status == JourneyStatus.STOPPED


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({**CART, "slug": "Bad Slug"}, "slug"),
        ({**CART, "steps": [{"inactive": "P1D"}]}, "steps[0].inactive"),
        ({**CART, "steps": [{"performed": "a"}, {"not_performed": "b", "within": "soon"}]}, "steps[1].within"),
        ({**CART, "max_once_per": 7}, "max_once_per"),
    ],
)
def test_bad_documents_are_refused_naming_the_field(client, acme, document, field):
    response = call(client, acme, "post", "", document)
    assert response.status_code == 400
    assert field in [p["field"] for p in response.json()["behavior"]]
    assert Behavior.objects.filter(workspace=acme.workspace).count() == len(EXAMPLES)


def test_a_document_with_every_optional_field_null_is_created_and_runs(client, acme):
    """Clients that write every field send null for what they leave unset: it is absent."""
    document = {
        "name": "Cart left",
        "slug": "cart_left",
        "description": None,
        "max_once_per": None,
        "steps": [
            {"performed": "update_cart", "not_performed": None, "inactive": None, "where": None, "within": None},
            {"performed": None, "not_performed": "purchase", "inactive": None, "where": None, "within": "P3D"},
        ],
    }
    created = call(client, acme, "post", "", document)
    assert created.status_code == 201, created.content
    assert created.json()["document"] == document  # stored as written
    request = {
        "events": [{"user_id": "dee", "event": "update_cart", "timestamp": "2025-01-03T09:00:00Z"}],
        "until": "2025-01-20T00:00:00Z",
    }
    simulated = call(client, acme, "post", f"{created.json()['id']}/simulate", request, role=Role.ANALYST)
    assert simulated.json()["profiles"]["dee"]["fired"] == ["2025-01-06T09:00:00Z"]


def test_a_name_of_200_characters_is_created(client, acme):
    """Its compiled journey's name ("Behavior: …") is cut to a journey's 200 characters, not refused."""
    created = call(client, acme, "post", "", {**CART, "name": "n" * 200})
    assert created.status_code == 201, created.content
    assert Behavior.objects.get(slug="cart_left").journey.name == ("Behavior: " + "n" * 200)[:200]


@pytest.mark.parametrize("body", [None, [], "x", {}])
def test_a_body_that_is_not_a_document_is_400(client, acme, body):
    assert call(client, acme, "post", "", body).status_code == 400


def test_a_slug_is_unique_in_its_workspace(client, acme, globex):
    assert call(client, acme, "post", "", CART).status_code == 201
    again = call(client, acme, "post", "", CART)
    assert again.status_code == 400 and again.json()["behavior"][0]["field"] == "slug"
    assert call(client, globex, "post", "", CART).status_code == 201  # another workspace may use it


def test_simulate_stored_and_inline(client, acme):
    behavior_id = call(client, acme, "post", "", CART).json()["id"]
    request = {
        "events": [
            {"user_id": "dee", "event": "update_cart", "timestamp": "2025-01-01T10:00:00Z"},
            {"user_id": "dee", "event": "update_cart", "timestamp": "2025-01-03T09:00:00Z"},
        ],
        "until": "2025-01-20T00:00:00Z",
    }
    stored = call(client, acme, "post", f"{behavior_id}/simulate", request, role=Role.ANALYST)
    assert stored.json() == {  # §8.8's shape, the richer rows beside it
        "profiles": {
            "dee": {
                "fired": ["2025-01-06T09:00:00Z"],
                "firings": [
                    {
                        "at": "2025-01-06T09:00:00Z",
                        "started_at": "2025-01-03T09:00:00Z",
                        "activity": "behavior:cart_left",
                        "properties": {},
                    }
                ],
                "open": None,
            }
        }
    }
    inline = client.post(
        "/api/v1/behaviors/simulate",
        {**request, "behavior": CART},
        content_type="application/json",
        **acme.auth(Role.ANALYST),
    )
    assert inline.json() == stored.json()
    bad = call(client, acme, "post", f"{behavior_id}/simulate", {**request, "until": "later"}, role=Role.ANALYST)
    assert bad.status_code == 400 and "until" in bad.json()
    missing = client.post("/api/v1/behaviors/simulate", {}, content_type="application/json", **acme.auth())
    assert missing.status_code == 400
    bad_document = client.post(
        "/api/v1/behaviors/simulate",
        {**request, "behavior": {**CART, "steps": [{"inactive": "P1D"}]}},
        content_type="application/json",
        **acme.auth(Role.ANALYST),
    )
    assert bad_document.status_code == 400
    assert [p["field"] for p in bad_document.json()["behavior"]] == ["steps[0].inactive"]


def test_roles_and_isolation(client, acme, globex):
    assert call(client, acme, "post", "", CART, role=Role.ANALYST).status_code == 403
    behavior_id = call(client, acme, "post", "", CART).json()["id"]
    assert call(client, acme, "post", f"{behavior_id}/pause", role=Role.ANALYST).status_code == 403
    assert call(client, acme, "delete", f"{behavior_id}/", role=Role.ANALYST).status_code == 403
    assert call(client, acme, "get", f"{behavior_id}/", role=Role.ANALYST).status_code == 200
    for method, path in (
        ("get", f"{behavior_id}/"),
        ("post", f"{behavior_id}/pause"),
        ("delete", f"{behavior_id}/"),
        ("get", f"{behavior_id}/counts"),
        ("get", f"{behavior_id}/matches"),
        ("get", f"{behavior_id}/backfill"),
        ("post", f"{behavior_id}/backfill"),
    ):
        assert call(client, globex, method, path, role=Role.OWNER).status_code == 404
    listed = call(client, globex, "get", "", role=Role.OWNER).json()["results"]
    assert "cart_left" not in [b["slug"] for b in listed]


def test_every_workspace_starts_with_the_examples_as_drafts(client, acme):
    listed = call(client, acme, "get", "", role=Role.ANALYST).json()
    assert sorted(b["slug"] for b in listed["results"]) == sorted(e["slug"] for e in EXAMPLES)
    assert {b["status"] for b in listed["results"]} == {"draft"}
    cart = Behavior.objects.get(workspace=acme.workspace, slug="abandoned_cart")
    assert call(client, acme, "get", f"{cart.pk}/counts", role=Role.ANALYST).json() == {"open_matches": 0, "fired": []}
    assert call(client, acme, "post", f"{cart.pk}/pause").status_code == 409
    assert call(client, acme, "post", f"{cart.pk}/resume").json()["status"] == "live"  # starts it
    edited = call(client, acme, "put", f"{cart.pk}/", {**cart.document, "max_once_per": "P7D"})
    assert edited.status_code == 200
    cart.refresh_from_db()
    assert cart.journey is not None and cart.journey.versions.count() == 2


def test_create_with_a_backfill_then_follow_its_progress(client, acme):
    segment = SegmentClient(client, acme.write_key)
    assert segment.post("/v1/track", {"userId": "ann", "event": "update_cart"}).status_code == 200
    for batch in EvaluationBatch.objects.order_by("pk"):
        batch_process(batch.pk)
    created = call(client, acme, "post", "?backfill_days=30", CART)
    assert created.status_code == 201, created.content
    backfill = created.json()["backfill"]
    assert (backfill["days"], backfill["status"], backfill["progress"], backfill["profiles_total"]) == (
        30,
        "running",
        0.0,
        1,
    )
    behavior_id = created.json()["id"]
    backfills_run()
    done = call(client, acme, "get", f"{behavior_id}/backfill", role=Role.ANALYST).json()
    assert (done["status"], done["progress"], done["opened"], done["fired"]) == ("done", 1.0, 1, 0)
    assert call(client, acme, "get", f"{behavior_id}/", role=Role.ANALYST).json()["backfill"] == done
    matches = call(client, acme, "get", f"{behavior_id}/matches", role=Role.ANALYST).json()
    assert matches["count"] == 1 and matches["results"][0]["profile"]["user_id"] == "ann"
    assert matches["results"][0]["waiting_for"] == {"step": 1, "kind": "not_performed", "activity": "purchase"}
    again = call(client, acme, "post", f"{behavior_id}/backfill", {"days": 7})
    assert again.status_code == 409 and "once per behavior" in again.json()["behavior"][0]


@pytest.mark.parametrize("days", ["0", "366", "abc", "1.5", ""])
def test_a_bad_backfill_on_create_creates_nothing(client, acme, days):
    response = call(client, acme, "post", f"?backfill_days={days}", CART)
    assert response.status_code == 400 and "backfill_days" in response.json()
    assert not Behavior.objects.filter(slug="cart_left").exists() and not Backfill.objects.exists()


@pytest.mark.parametrize("body", [{}, {"days": 0}, {"days": 400}, {"days": "ten"}, {"days": True}, []])
def test_a_bad_backfill_request_is_400_naming_days(client, acme, body):
    behavior_id = call(client, acme, "post", "", CART).json()["id"]
    response = call(client, acme, "post", f"{behavior_id}/backfill", body)
    assert response.status_code == 400 and "days" in response.json()
    assert not Backfill.objects.exists()


def test_backfill_refusals_and_roles(client, acme):
    draft = Behavior.objects.get(workspace=acme.workspace, slug="abandoned_cart")
    assert call(client, acme, "get", f"{draft.pk}/backfill", role=Role.ANALYST).status_code == 404
    refused = call(client, acme, "post", f"{draft.pk}/backfill", {"days": 30})
    assert refused.status_code == 409 and "draft" in refused.json()["behavior"][0]
    behavior_id = call(client, acme, "post", "", CART).json()["id"]
    assert call(client, acme, "post", f"{behavior_id}/backfill", {"days": 30}, role=Role.ANALYST).status_code == 403
    assert call(client, acme, "post", f"{behavior_id}/backfill", {"days": 30}).status_code == 202


def test_open_matches_of_a_profile_are_its_workspaces_only(client, acme, globex):
    behavior_id = call(client, acme, "post", "", CART).json()["id"]
    segment = SegmentClient(client, acme.write_key)
    assert segment.post("/v1/track", {"userId": "ann", "event": "update_cart"}).status_code == 200
    for batch in EvaluationBatch.objects.order_by("pk"):
        batch_process(batch.pk)
    ann = Profile.objects.get(user_id="ann")
    mine = client.get(f"/api/v1/profiles/{ann.pk}/behaviors", **acme.auth(Role.ANALYST))
    assert [m["behavior"]["id"] for m in mine.json()["open"]] == [behavior_id]
    assert client.get(f"/api/v1/profiles/{ann.pk}/behaviors", **globex.auth(Role.OWNER)).status_code == 404
    assert client.get(f"/api/v1/profiles/{ann.pk}/behaviors").status_code in (401, 403)


def test_the_schema_describes_the_simulate_answer():
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    schema = yaml.safe_load(out.getvalue())
    for path in ("/api/v1/behaviors/simulate", "/api/v1/behaviors/{id}/simulate/"):
        answer = schema["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert answer == {"$ref": "#/components/schemas/BehaviorSimulation"}, path
    profile = schema["components"]["schemas"]["BehaviorSimulatedProfile"]["properties"]
    assert profile["fired"]["items"] == {"type": "string", "format": "date-time"}  # §8.8: ISO date-times
    assert profile["firings"]["items"] == {"$ref": "#/components/schemas/BehaviorFiring"}


def test_an_event_dated_year_one_simulates_instead_of_failing(client, acme):
    """Its 3-day window reached back before year 1: an OverflowError, a 500."""
    request = {
        "behavior": CART,
        "events": [{"user_id": "dee", "event": "update_cart", "timestamp": "0001-01-01T00:00:00Z"}],
        "until": "0001-01-10T00:00:00Z",
    }
    simulated = call(client, acme, "post", "simulate", request, role=Role.ANALYST)
    assert simulated.status_code == 200, simulated.content
    assert simulated.json()["profiles"]["dee"]["fired"] == ["0001-01-04T00:00:00Z"]


def test_a_behavior_a_running_journey_enters_on_is_not_deleted(client, acme):
    """Without it the journey would never enter again, silently; pausing it is the way to stop it."""
    from journeys.services import journey_create, journey_publish, journey_stop
    from messaging.models import Template

    behavior_id = call(client, acme, "post", "", CART).json()["id"]
    Template.objects.create(workspace=acme.workspace, name="hello", channel="sms", content={"body": "Hi"})
    document = {
        "name": "Cart rescue",
        "entry": {"type": "event", "event": "behavior:cart_left"},
        "start": "hi",
        "nodes": {"hi": {"type": "send", "channel": "sms", "template": "hello", "next": None}},
    }
    journey = journey_create(workspace=acme.workspace, actor=None, document=document)
    journey_publish(journey=journey, actor=None)
    refused = call(client, acme, "delete", f"{behavior_id}/")
    assert refused.status_code == 409 and "'Cart rescue' (live) uses it" in refused.json()["detail"]
    assert refused.json()["journeys"] == [{"id": journey.pk, "name": "Cart rescue", "status": "live"}]
    assert Behavior.objects.filter(pk=behavior_id).exists()
    journey_stop(journey=journey, actor=None)
    assert call(client, acme, "delete", f"{behavior_id}/").status_code == 204
