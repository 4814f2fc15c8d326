"""Segments in the operators' admin: saving goes through the same validation as the API (errors at the
field, nothing saved), and a segment in use cannot be deleted there either."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from segments import services
from segments.models import Segment
from workspaces.models import AuditLogEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(django_user_model) -> Client:
    browser = Client()
    browser.force_login(django_user_model.objects.create_superuser("op", "op@x.test", "pw"))
    return browser


def _form(acme, **fields) -> dict:
    return {"workspace": acme.workspace.pk, "name": "Pros", "slug": "pros", "description": "", "kind": "rule", **fields}


def test_a_bad_rule_is_shown_at_its_field_and_nothing_is_saved(operator, acme):
    bad = json.dumps({"all": [{"tag": "a"}, {"performed": "purchase", "count": {"op": "gte", "value": -1}}]})
    page = operator.post("/admin/segments/segment/add/", _form(acme, rule=bad))
    assert page.status_code == 200
    assert "rule.all[1].count.value: must be a whole number of times, 0 or more" in page.content.decode()
    assert not Segment.objects.filter(slug="pros").exists()


def test_a_good_rule_is_saved_through_the_service(operator, acme):
    rule = json.dumps({"trait": "plan", "op": "eq", "value": "pro"})
    page = operator.post("/admin/segments/segment/add/", _form(acme, rule=rule))
    assert page.status_code == 302
    pros = Segment.objects.get(workspace=acme.workspace, slug="pros")
    assert pros.rule == {"trait": "plan", "op": "eq", "value": "pro"}
    assert AuditLogEntry.objects.filter(object_type="segment", object_id=str(pros.pk), action="created").exists()


def test_a_segment_in_use_is_protected_from_deletion(operator, acme):
    pros = services.segment_create(
        workspace=acme.workspace,
        actor=None,
        data={"name": "Pros", "rule": {"trait": "plan", "op": "eq", "value": "pro"}},
    )
    services.segment_create(
        workspace=acme.workspace, actor=None, data={"name": "Pro VIPs", "rule": {"in_segment": "pros"}}
    )
    page = operator.post(f"/admin/segments/segment/{pros.pk}/delete/", {"post": "yes"})
    assert page.status_code == 200 and "Segment: Pro VIPs" in page.content.decode()
    assert Segment.objects.filter(pk=pros.pk).exists()
