"""The workspace overview page: counts and the tracked-activities registry, for members only."""

from __future__ import annotations

import pytest
from django.test import Client

from activities.models import EvaluationBatch
from activities.pipeline import batch_process
from tests.conftest import SegmentClient
from workspaces.models import Role

pytestmark = pytest.mark.django_db


def test_tracked_activities_show_with_their_property_types(acme, segment: SegmentClient):
    # A property literally named "items" once broke the template (dict.items shadowing).
    segment.post("/v1/track", {"userId": "u", "event": "update_cart", "properties": {"items": 3, "value": 9.5}})
    for batch in EvaluationBatch.objects.all():
        batch_process(batch.pk)
    browser = Client()
    browser.force_login(acme.members[Role.ANALYST])
    response = browser.get(f"/w/{acme.workspace.slug}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "update_cart" in html
    assert '<code>items</code> <span class="muted">number</span>' in html


def test_home_redirects_a_single_workspace_member_to_it(acme):
    browser = Client()
    browser.force_login(acme.members[Role.MARKETER])
    response = browser.get("/")
    assert response.status_code == 302 and response["Location"] == f"/w/{acme.workspace.slug}/"


def test_login_page_renders(client):
    response = client.get("/login/")
    assert response.status_code == 200 and b"Log in to Nudge" in response.content
