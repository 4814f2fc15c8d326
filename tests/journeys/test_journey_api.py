"""`/api/v1/journeys/`: drafts, publish, pause/resume/stop, versions, simulate; roles and isolation."""

from __future__ import annotations

import pytest

from journeys.models import Journey, JourneyStatus
from tests.journeys.documents import TIMELINE_1, TIMELINE_1_EVENTS, TIMELINE_1_PROFILES, discounts
from workspaces.models import Role

pytestmark = pytest.mark.django_db


def call(client, tenant, method, path, body=None, role=Role.MARKETER):
    return getattr(client, method)(
        f"/api/v1/journeys/{path}", data=body, content_type="application/json", **tenant.auth(role)
    )


def test_draft_publish_pause_resume_stop(client, acme):
    created = call(client, acme, "post", "", discounts(schedule={}))
    assert created.status_code == 201, created.content
    journey_id = created.json()["id"]
    assert created.json()["status"] == "draft" and created.json()["draft"]["name"] == TIMELINE_1["name"]
    published = call(client, acme, "post", f"{journey_id}/publish")
    assert published.status_code == 200 and published.json()["number"] == 1
    assert call(client, acme, "post", f"{journey_id}/pause").json()["status"] == "paused"
    assert call(client, acme, "post", f"{journey_id}/pause").status_code == 409
    assert call(client, acme, "post", f"{journey_id}/resume").json()["status"] == "live"
    changed = discounts(schedule={}, name="Renamed")
    assert call(client, acme, "put", f"{journey_id}/", changed).status_code == 200
    assert call(client, acme, "post", f"{journey_id}/publish").json()["number"] == 2
    versions = call(client, acme, "get", f"{journey_id}/versions/", role=Role.ANALYST).json()
    assert [v["number"] for v in versions["results"]] == [2, 1]
    assert call(client, acme, "post", f"{journey_id}/stop").json()["status"] == "stopped"
    assert call(client, acme, "post", f"{journey_id}/publish").status_code == 409
    assert call(client, acme, "delete", f"{journey_id}/").status_code == 409
    listed = call(client, acme, "get", "?status=stopped", role=Role.ANALYST).json()
    assert [j["name"] for j in listed["results"]] == ["Renamed"]


def test_publishing_an_invalid_draft_lists_every_problem(client, acme):
    journey_id = call(client, acme, "post", "", discounts(start="nowhere", reentry={"mode": "twice"})).json()["id"]
    response = call(client, acme, "post", f"{journey_id}/publish")
    assert response.status_code == 400
    assert {p["field"] for p in response.json()["journey"]} == {"start", "reentry.mode"}
    assert Journey.objects.get(pk=journey_id).status == JourneyStatus.DRAFT


def test_a_send_step_must_name_a_template_of_this_workspace(client, acme, globex):
    from messaging.models import Template

    Template.objects.create(
        workspace=globex.workspace, channel="push", name="theirs", content={"title": "t", "body": "b"}
    )
    document = discounts(schedule={})
    document["nodes"]["nudge"]["template"] = "theirs"
    document["nodes"]["thanks"]["channel"] = "email"  # the sms template exists; an email one of that name does not
    journey_id = call(client, acme, "post", "", document).json()["id"]
    response = call(client, acme, "post", f"{journey_id}/publish")
    assert response.status_code == 400
    assert {p["field"]: p["message"] for p in response.json()["journey"]} == {
        "nodes.nudge.template": "no push template named 'theirs' exists",
        "nodes.thanks.template": "no email template named 'post-purchase-survey' exists",
    }
    assert Journey.objects.get(pk=journey_id).status == JourneyStatus.DRAFT


@pytest.mark.parametrize("body", [None, [], "journey", {}])
def test_a_body_that_is_not_a_document_is_400(client, acme, body):
    assert call(client, acme, "post", "", body).status_code == 400


def test_a_draft_can_be_deleted(client, acme):
    journey_id = call(client, acme, "post", "", discounts()).json()["id"]
    assert call(client, acme, "delete", f"{journey_id}/").status_code == 204
    assert not Journey.objects.filter(pk=journey_id).exists()


def test_simulating_a_stored_journey(client, acme):
    journey_id = call(client, acme, "post", "", TIMELINE_1).json()["id"]
    body = {"until": "2025-02-01T00:00:00Z", "profiles": TIMELINE_1_PROFILES, "events": TIMELINE_1_EVENTS}
    response = call(client, acme, "post", f"{journey_id}/simulate", body, role=Role.ANALYST)
    assert response.status_code == 200
    assert [r["reason"] for r in response.json()["profiles"]["cem"]["not_entered"]] == ["lock", "cap"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "", discounts()),
        ("post", "{id}/publish", None),
        ("post", "{id}/pause", None),
        ("put", "{id}/", discounts()),
        ("delete", "{id}/", None),
    ],
)
def test_analysts_cannot_change_journeys(client, acme, method, path, body):
    journey_id = call(client, acme, "post", "", discounts()).json()["id"]
    response = call(client, acme, method, path.format(id=journey_id), body, role=Role.ANALYST)
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "{id}/"),
        ("put", "{id}/"),
        ("delete", "{id}/"),
        ("post", "{id}/publish"),
        ("post", "{id}/stop"),
        ("get", "{id}/versions/"),
        ("post", "{id}/simulate"),
    ],
)
def test_another_workspaces_journey_is_404(client, acme, globex, method, path):
    journey_id = call(client, globex, "post", "", discounts()).json()["id"]
    response = call(client, acme, method, path.format(id=journey_id), discounts(), role=Role.OWNER)
    assert response.status_code == 404
    assert Journey.objects.get(pk=journey_id).status == JourneyStatus.DRAFT
