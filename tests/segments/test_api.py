"""/api/v1/segments/: CRUD with every bad input named by field, deletion refused while in use, the
estimate of an unsaved rule, size now and over time, members, lists (members by id or email, CSV
imports), a profile's segments, bulk tags, roles and workspace isolation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from activities.models import Profile
from journeys.models import Journey
from messaging.models import Template
from segments import services
from segments.builtin import BUILTIN
from segments.lists import list_import_run
from segments.models import ListImport, Membership, Segment, SegmentKind, SegmentSize
from tests.conftest import SegmentClient
from tests.journeys.documents import discounts
from tests.personas import Tenant
from workspaces.models import AuditLogEntry, Role

pytestmark = pytest.mark.django_db

BUILTIN_SLUGS = sorted(b["slug"] for b in BUILTIN)
TURKEY = {"trait": "country", "op": "eq", "value": "TR"}
PRO = {"trait": "plan", "op": "eq", "value": "pro"}


def call(
    client: Client, tenant: Tenant, method: str, path: str = "", body: Any = None, role: str = Role.MARKETER
) -> Any:
    return getattr(client, method)(
        f"/api/v1/segments/{path}", data=body, content_type="application/json", **tenant.auth(role)
    )


def create(client: Client, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    response = call(client, tenant, "post", "", body)
    assert response.status_code == 201, response.content
    return response.json()


def problems(response: Any) -> dict[str, str]:
    """The 400 answer's problems, field → message."""
    assert response.status_code == 400, response.content
    return {p["field"]: p["message"] for p in response.json()["segment"]}


def upload(client: Client, tenant: Tenant, segment_id: int, data: bytes, role: str = Role.MARKETER) -> Any:
    file = SimpleUploadedFile("members.csv", data, content_type="text/csv")
    return client.post(f"/api/v1/segments/{segment_id}/import", {"file": file}, **tenant.auth(role))


def post_csv(client: Client, tenant: Tenant, segment_id: int, data: bytes) -> Any:
    return client.post(f"/api/v1/segments/{segment_id}/import", data=data, content_type="text/csv", **tenant.auth())


def identify(ingest: SegmentClient, user_id: str, **traits: Any) -> None:
    assert ingest.post("/v1/identify", {"userId": user_id, "traits": traits}).status_code == 200


@pytest.fixture
def people(acme: Tenant, segment: SegmentClient) -> dict[str | None, Profile]:
    """ann (TR, pro), bob (TR, free), cem (DE, pro), through ingestion."""
    identify(segment, "ann", email="ann@example.com", country="TR", plan="pro")
    identify(segment, "bob", email="Bob@Example.com", country="TR", plan="free")
    identify(segment, "cem", email="cem@example.com", country="DE", plan="pro")
    return {p.user_id: p for p in Profile.objects.filter(workspace=acme.workspace)}


@pytest.fixture
def theirs(globex: Tenant, client: Client) -> dict[str, Any]:
    """Globex's own rule segment, list (with a member) and profile."""
    identify(SegmentClient(client, globex.write_key), "zed", email="zed@globex.test", country="TR")
    profile = Profile.objects.get(workspace=globex.workspace, user_id="zed")
    rule = create(client, globex, {"name": "Globex Turks", "rule": TURKEY})
    listed = create(client, globex, {"name": "Globex list", "kind": "list"})
    assert call(client, globex, "post", f"{listed['id']}/members", {"add": ["zed"]}).json()["added"] == 1
    return {"rule": rule, "list": listed, "profile": profile}


# --- CRUD ------------------------------------------------------------------------------------------


def test_create_read_update_delete_a_rule_segment(client, acme):
    rule = {"all": [TURKEY, {"performed": "purchase", "count": {"op": "gte", "value": 2}}]}
    created = call(client, acme, "post", "", {"name": "Turkish buyers", "description": "Two orders", "rule": rule})
    assert created.status_code == 201, created.content
    body = created.json()
    assert set(body) == {
        "id",
        "name",
        "slug",
        "description",
        "kind",
        "rule",
        "record_changes",
        "builtin",
        "size",
        "refreshed_at",
        "refresh_error",
        "created_by",
        "updated_by",
        "created_at",
        "updated_at",
    }
    assert (body["name"], body["slug"], body["description"], body["kind"], body["rule"]) == (
        "Turkish buyers",
        "turkish-buyers",
        "Two orders",
        "rule",
        rule,
    )
    assert (body["record_changes"], body["builtin"], body["size"], body["refreshed_at"]) == (False, False, 0, None)
    assert (body["created_by"], body["updated_by"]) == ("marketer@acme.test", "marketer@acme.test")
    segment_id = body["id"]
    assert Segment.objects.get(pk=segment_id).workspace == acme.workspace
    assert AuditLogEntry.objects.filter(workspace=acme.workspace, action="created", object_id=str(segment_id)).exists()

    read = call(client, acme, "get", f"{segment_id}/", role=Role.ANALYST)
    assert read.status_code == 200 and read.json() == body
    assert call(client, acme, "get", f"{segment_id}", role=Role.ANALYST).json()["id"] == segment_id  # no slash

    put = call(client, acme, "put", f"{segment_id}/", {"name": "Turks", "rule": TURKEY}, role=Role.OWNER)
    assert put.status_code == 200, put.content
    assert (put.json()["name"], put.json()["rule"], put.json()["slug"]) == ("Turks", TURKEY, "turkish-buyers")
    assert put.json()["updated_by"] == "owner@acme.test"
    assert put.json()["description"] == "Two orders"  # what the body leaves out stays
    stored = Segment.objects.get(pk=segment_id)
    assert (stored.name, stored.rule, stored.rule_version) == ("Turks", TURKEY, 2)

    patched = call(client, acme, "patch", f"{segment_id}/", {"name": "Turkish people", "record_changes": True})
    assert patched.status_code == 200, patched.content
    assert (patched.json()["name"], patched.json()["rule"], patched.json()["record_changes"]) == (
        "Turkish people",
        TURKEY,
        True,
    )
    assert Segment.objects.get(pk=segment_id).rule_version == 2  # the rule did not change
    patched = call(client, acme, "patch", f"{segment_id}/", {"rule": [TURKEY, PRO]})
    assert patched.status_code == 200 and patched.json()["rule"] == [TURKEY, PRO]
    assert Segment.objects.get(pk=segment_id).rule_version == 3

    assert call(client, acme, "delete", f"{segment_id}/").status_code == 204
    assert not Segment.objects.filter(pk=segment_id).exists()
    assert call(client, acme, "get", f"{segment_id}/").status_code == 404
    assert AuditLogEntry.objects.filter(workspace=acme.workspace, action="deleted", object_id=str(segment_id)).exists()


def test_a_new_workspace_lists_the_ready_made_segments(client, acme):
    listed = call(client, acme, "get", "", role=Role.ANALYST)
    assert listed.status_code == 200
    body = listed.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == len(BUILTIN) and body["next"] is None
    assert sorted(s["slug"] for s in body["results"]) == BUILTIN_SLUGS
    assert {(s["kind"], s["builtin"], s["created_by"]) for s in body["results"]} == {("rule", True, None)}
    names = [s["name"] for s in body["results"]]
    assert names == sorted(names)
    known = next(s for s in body["results"] if s["slug"] == "known-users")
    assert known["rule"] == {"attribute": "user_id", "op": "exists"}
    # They are ordinary segments: editable.
    edited = call(client, acme, "patch", f"{known['id']}/", {"name": "Signed-up users"})
    assert edited.status_code == 200 and edited.json()["builtin"] is True


def test_the_list_filters_by_kind_and_name_and_pages(client, acme):
    create(client, acme, {"name": "Turkish users", "rule": TURKEY})
    create(client, acme, {"name": "Beta testers", "kind": "list"})
    create(client, acme, {"name": "VIP", "slug": "big-spenders", "kind": "list"})
    lists = call(client, acme, "get", "?kind=list", role=Role.ANALYST).json()
    assert [s["slug"] for s in lists["results"]] == ["beta-testers", "big-spenders"]
    rules = call(client, acme, "get", "?kind=rule", role=Role.ANALYST).json()
    assert rules["count"] == len(BUILTIN) + 1
    assert call(client, acme, "get", "?name=turkish").json()["results"][0]["slug"] == "turkish-users"
    assert [s["name"] for s in call(client, acme, "get", "?name=SPENDERS").json()["results"]] == ["VIP"]  # by slug
    assert [s["slug"] for s in call(client, acme, "get", "?name=e&kind=list").json()["results"]] == [
        "beta-testers",
        "big-spenders",
    ]
    assert call(client, acme, "get", "?name=nothing-like-this").json()["count"] == 0
    paged = call(client, acme, "get", "?page_size=2").json()
    assert paged["count"] == len(BUILTIN) + 3 and len(paged["results"]) == 2 and paged["next"] is not None


def test_a_list_is_created_without_a_rule(client, acme):
    body = create(client, acme, {"name": "Beta testers", "kind": "list", "slug": "beta"})
    assert (body["kind"], body["rule"], body["slug"], body["size"]) == ("list", None, "beta", 0)


def test_a_slug_may_be_given_and_another_workspace_may_reuse_it(client, acme, globex):
    assert create(client, acme, {"name": "Turks", "slug": "tr_users-1", "rule": TURKEY})["slug"] == "tr_users-1"
    assert create(client, globex, {"name": "Turks", "slug": "tr_users-1", "rule": TURKEY})["slug"] == "tr_users-1"
    assert create(client, acme, {"name": "Müşteriler Çok", "rule": TURKEY})["slug"] == "musteriler-cok"


# --- Bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {
                "name": "Bad count",
                "rule": {
                    "all": [TURKEY, {"tag": "vip"}, {"performed": "purchase", "count": {"op": "gte", "value": -1}}]
                },
            },
            "rule.all[2].count.value",
        ),
        ({"name": "Bad op", "rule": {"trait": "plan", "op": "is", "value": "pro"}}, "rule.op"),
        ({"name": "Bad within", "rule": {"any": [TURKEY, {"performed": "x", "within": "soon"}]}}, "rule.any[1].within"),
        ({"name": "Bad key", "rule": {"trait": "plan", "op": "eq", "value": "pro", "extra": 1}}, "rule.extra"),
        ({"name": "Not a rule", "rule": "country = TR"}, "rule"),
        ({"name": "No rule"}, "rule"),
        ({"name": "Null rule", "rule": None}, "rule"),
        ({"name": "Extra", "rule": TURKEY, "colour": "red"}, "colour"),
        ({"rule": TURKEY}, "name"),
        ({"name": "   ", "rule": TURKEY}, "name"),
        ({"name": 7, "rule": TURKEY}, "name"),
        ({"name": "x" * 201, "rule": TURKEY}, "name"),
        ({"name": "Bad slug", "slug": "Bad Slug", "rule": TURKEY}, "slug"),
        ({"name": "Digits", "slug": "12345", "rule": TURKEY}, "slug"),
        ({"name": "Slug type", "slug": 5, "rule": TURKEY}, "slug"),
        ({"name": "Bad kind", "kind": "static", "rule": TURKEY}, "kind"),
        ({"name": "Bad flag", "rule": TURKEY, "record_changes": "yes"}, "record_changes"),
        ({"name": "Bad description", "rule": TURKEY, "description": ["x"]}, "description"),
        ({"name": "List with a rule", "kind": "list", "rule": TURKEY}, "rule"),
        ({"name": "Event leaf", "rule": {"property": "price", "op": "gt", "value": 100}}, "rule.property"),
        (
            {"name": "Nested event leaf", "rule": {"all": [TURKEY, {"not": {"property": "x", "op": "exists"}}]}},
            "rule.all[1].not.property",
        ),
        ({"name": "Unknown segment", "rule": {"in_segment": "no-such-segment"}}, "rule.in_segment"),
        ({"name": "Unknown id", "rule": {"any": [TURKEY, {"in_segment": 999999}]}}, "rule.any[1].in_segment"),
    ],
)
def test_bad_input_is_refused_naming_the_field(client, acme, body, field):
    response = call(client, acme, "post", "", body)
    found = problems(response)
    assert field in found, found
    assert all(found.values())  # each says what is wrong
    assert Segment.objects.filter(workspace=acme.workspace).count() == len(BUILTIN)


def test_every_problem_is_listed_at_once(client, acme):
    response = call(client, acme, "post", "", {"slug": "Bad", "kind": "nope", "colour": 1})
    assert set(problems(response)) == {"colour", "name", "slug", "kind"}


def test_an_event_filter_inside_history_is_allowed(client, acme):
    rule = {"performed": "purchase", "where": [{"property": "price", "op": "gt", "value": 100}]}
    assert create(client, acme, {"name": "Big purchases", "rule": rule})["rule"] == rule


def test_a_duplicate_slug_is_refused(client, acme):
    create(client, acme, {"name": "Beta testers", "kind": "list"})
    again = call(client, acme, "post", "", {"name": "Beta testers", "kind": "list"})
    assert "beta-testers" in problems(again)["slug"]
    builtin = call(client, acme, "post", "", {"name": "Mine", "slug": "known-users", "rule": TURKEY})
    assert "slug" in problems(builtin)
    assert Segment.objects.filter(workspace=acme.workspace, slug="beta-testers").count() == 1


def test_slug_and_kind_never_change(client, acme):
    segment = create(client, acme, {"name": "Turks", "rule": TURKEY})
    assert "slug" in problems(call(client, acme, "patch", f"{segment['id']}/", {"slug": "other"}))
    assert "kind" in problems(call(client, acme, "patch", f"{segment['id']}/", {"kind": "list"}))
    put = call(client, acme, "put", f"{segment['id']}/", {"name": "Turks", "kind": "list", "slug": "x", "rule": None})
    assert set(problems(put)) == {"kind", "slug"}
    same = call(client, acme, "patch", f"{segment['id']}/", {"slug": "turks", "kind": "rule", "name": "Türkler"})
    assert same.status_code == 200 and same.json()["name"] == "Türkler"  # the same values are not a change
    stored = Segment.objects.get(pk=segment["id"])
    assert (stored.slug, stored.kind) == ("turks", SegmentKind.RULE)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rule": {"trait": "plan", "op": "between", "value": [5, 1]}}, "rule.value"),
        ({"rule": None}, "rule"),
        ({"name": ""}, "name"),
        ({"colour": "red"}, "colour"),
        ({"rule": {"property": "price", "op": "exists"}}, "rule.property"),
    ],
)
def test_a_bad_update_is_refused_and_changes_nothing(client, acme, body, field):
    segment = create(client, acme, {"name": "Turks", "rule": TURKEY})
    assert field in problems(call(client, acme, "patch", f"{segment['id']}/", body))
    stored = Segment.objects.get(pk=segment["id"])
    assert (stored.name, stored.rule, stored.rule_version) == ("Turks", TURKEY, 1)


def test_a_list_cannot_be_given_a_rule_later(client, acme):
    listed = create(client, acme, {"name": "Beta", "kind": "list"})
    assert "rule" in problems(call(client, acme, "patch", f"{listed['id']}/", {"rule": TURKEY}))
    assert call(client, acme, "patch", f"{listed['id']}/", {"name": "Beta 2"}).json()["rule"] is None


def test_in_segment_must_name_a_segment_of_this_workspace(client, acme, globex, theirs):
    theirs_id = theirs["rule"]["id"]
    response = call(client, acme, "post", "", {"name": "Sneaky", "rule": {"in_segment": theirs_id}})
    assert problems(response) == {"rule.in_segment": f"no segment '{theirs_id}' in this workspace"}
    by_slug = call(client, acme, "post", "", {"name": "Sneaky", "rule": {"in_segment": "globex-turks"}})
    assert "rule.in_segment" in problems(by_slug)
    ours = create(client, acme, {"name": "Turks", "rule": TURKEY})
    for i, ref in enumerate((ours["id"], str(ours["id"]), "turks", "known-users")):
        assert call(client, acme, "post", "", {"name": f"In {i}", "rule": {"in_segment": ref}}).status_code == 201


def test_a_segment_cannot_include_itself(client, acme):
    b = create(client, acme, {"name": "B", "rule": TURKEY})
    a = create(client, acme, {"name": "A", "rule": {"all": [PRO, {"in_segment": b["id"]}]}})
    cycle = call(client, acme, "patch", f"{b['id']}/", {"rule": {"in_segment": a["slug"]}})
    assert "includes this segment" in problems(cycle)["rule.in_segment"]
    deeper = call(client, acme, "patch", f"{b['id']}/", {"rule": {"any": [TURKEY, {"not": {"in_segment": a["id"]}}]}})
    assert "rule.any[1].not.in_segment" in problems(deeper)
    itself = call(client, acme, "patch", f"{a['id']}/", {"rule": {"in_segment": a["id"]}})
    assert "rule.in_segment" in problems(itself)
    assert Segment.objects.get(pk=b["id"]).rule == TURKEY


def test_segments_nest_at_most_five_levels(client, acme):
    inner = create(client, acme, {"name": "Level 1", "rule": TURKEY})
    for level in range(2, 6):
        inner = create(client, acme, {"name": f"Level {level}", "rule": {"in_segment": inner["id"]}})
    too_deep = call(client, acme, "post", "", {"name": "Level 6", "rule": {"in_segment": inner["id"]}})
    assert "at most 5 levels" in problems(too_deep)["rule.in_segment"]


@pytest.mark.parametrize("body", ["[]", '["name"]', '"segment"', "5", "null", "true"])
def test_a_body_that_is_not_an_object_is_400(client, acme, body):
    response = call(client, acme, "post", "", body)  # JSON text, sent as it is
    assert response.status_code == 400 and "detail" in response.json(), response.content
    assert Segment.objects.filter(workspace=acme.workspace).count() == len(BUILTIN)


def test_a_body_that_is_not_an_object_is_400_on_update(client, acme):
    segment = create(client, acme, {"name": "Turks", "rule": TURKEY})
    response = call(client, acme, "put", f"{segment['id']}/", ["name", "x"])
    assert response.status_code == 400 and "detail" in response.json()


@pytest.mark.parametrize("path", ["", "estimate", "{id}/", "{id}/members"])
def test_malformed_json_is_400(client, acme, path):
    listed = create(client, acme, {"name": "Beta", "kind": "list"})
    method = "patch" if path == "{id}/" else "post"
    response = getattr(client, method)(
        f"/api/v1/segments/{path.format(id=listed['id'])}",
        data=b'{"name": "Bro',
        content_type="application/json",
        **acme.auth(),
    )
    assert response.status_code == 400 and "detail" in response.json()
    assert Segment.objects.get(pk=listed["id"]).name == "Beta"


# --- Deleting what is in use ---------------------------------------------------------------------------


def test_a_segment_another_includes_is_not_deleted(client, acme):
    b = create(client, acme, {"name": "Turks", "rule": TURKEY})
    a = create(client, acme, {"name": "Turkish pros", "rule": [PRO, {"in_segment": b["slug"]}]})
    refused = call(client, acme, "delete", f"{b['id']}/")
    assert refused.status_code == 409
    assert refused.json()["segments"] == [{"id": a["id"], "name": "Turkish pros"}]
    assert refused.json()["journeys"] == []
    assert "Turkish pros" in refused.json()["detail"]
    assert Segment.objects.filter(pk=b["id"]).exists()
    assert call(client, acme, "patch", f"{a['id']}/", {"rule": PRO}).status_code == 200
    assert call(client, acme, "delete", f"{b['id']}/").status_code == 204


def _journey_templates(tenant: Tenant) -> None:
    Template.objects.bulk_create(
        [
            Template(workspace=tenant.workspace, channel="sms", name="post-purchase-survey", content={"body": "?"}),
            Template(
                workspace=tenant.workspace, channel="push", name="liked-this-item", content={"title": "t", "body": "b"}
            ),
        ]
    )


def _journey(client: Client, tenant: Tenant, audience: dict[str, Any]) -> Any:
    return client.post(
        "/api/v1/journeys/",
        data=discounts(schedule={}, audience=audience),
        content_type="application/json",
        **tenant.auth(Role.MARKETER),
    )


def test_a_segment_a_live_journey_targets_is_not_deleted(client, acme):
    _journey_templates(acme)
    turks = create(client, acme, {"name": "Turks", "rule": TURKEY})
    beta = create(client, acme, {"name": "Beta", "kind": "list"})
    journey_id = _journey(client, acme, {"segments": [str(turks["id"])], "exclude_segments": ["beta"]}).json()["id"]
    published = client.post(f"/api/v1/journeys/{journey_id}/publish", **acme.auth(Role.MARKETER))
    assert published.status_code == 200, published.content
    for segment in (turks, beta):
        refused = call(client, acme, "delete", f"{segment['id']}/")
        assert refused.status_code == 409, refused.content
        assert refused.json()["journeys"] == [{"id": journey_id, "name": Journey.objects.get(pk=journey_id).name}]
        assert Journey.objects.get(pk=journey_id).name in refused.json()["detail"]
    assert Segment.objects.filter(pk__in=[turks["id"], beta["id"]]).count() == 2

    # A new version without them: deletable (the draft no longer matters once it is not live).
    changed = client.put(
        f"/api/v1/journeys/{journey_id}/",
        data=discounts(schedule={}, audience={"segments": [], "exclude_segments": []}),
        content_type="application/json",
        **acme.auth(Role.MARKETER),
    )
    assert changed.status_code == 200, changed.content
    assert client.post(f"/api/v1/journeys/{journey_id}/publish", **acme.auth()).status_code == 200
    assert call(client, acme, "delete", f"{turks['id']}/").status_code == 204
    assert call(client, acme, "delete", f"{beta['id']}/").status_code == 204


def test_a_stopped_or_draft_journey_does_not_hold_a_segment(client, acme):
    _journey_templates(acme)
    turks = create(client, acme, {"name": "Turks", "rule": TURKEY})
    journey_id = _journey(client, acme, {"segments": ["turks"]}).json()["id"]
    assert client.post(f"/api/v1/journeys/{journey_id}/publish", **acme.auth()).status_code == 200
    assert call(client, acme, "delete", f"{turks['id']}/").status_code == 409
    assert client.post(f"/api/v1/journeys/{journey_id}/stop", **acme.auth()).status_code == 200
    assert call(client, acme, "delete", f"{turks['id']}/").status_code == 204
    other = create(client, acme, {"name": "Others", "rule": PRO})
    assert _journey(client, acme, {"segments": [other["id"]]}).status_code == 201  # a draft only
    assert call(client, acme, "delete", f"{other['id']}/").status_code == 204


# --- Estimate --------------------------------------------------------------------------------------


def estimate(client: Client, tenant: Tenant, body: Any, role: str = Role.ANALYST) -> Any:
    return client.post("/api/v1/segments/estimate", data=body, content_type="application/json", **tenant.auth(role))


def test_the_estimate_counts_an_unsaved_rule(client, acme, people):
    turks = estimate(client, acme, {"rule": TURKEY})
    assert turks.status_code == 200, turks.content
    assert turks.json() == {"size": 2, "profiles": 3, "timed_out": False}
    assert estimate(client, acme, {"rule": {"all": [TURKEY, PRO]}}).json()["size"] == 1
    assert estimate(client, acme, {"rule": {"any": [TURKEY, PRO]}}).json()["size"] == 3
    assert estimate(client, acme, {"rule": {"not": TURKEY}}).json()["size"] == 1
    assert estimate(client, acme, {"rule": [TURKEY, {"tag": "vip"}]}).json()["size"] == 0
    with_slash = client.post(
        "/api/v1/segments/estimate/", data={"rule": PRO}, content_type="application/json", **acme.auth()
    )
    assert with_slash.json()["size"] == 2
    saved = create(client, acme, {"name": "Pros", "rule": PRO})
    inside = estimate(client, acme, {"rule": {"all": [TURKEY, {"in_segment": saved["id"]}]}})
    assert inside.json()["size"] == 1
    assert estimate(client, acme, {"rule": {"in_segment": "known-users"}}).json()["size"] == 3


def test_the_estimate_counts_only_this_workspaces_profiles(client, acme, globex, people, theirs):
    assert estimate(client, acme, {"rule": TURKEY}).json() == {"size": 2, "profiles": 3, "timed_out": False}
    assert estimate(client, globex, {"rule": TURKEY}).json() == {"size": 1, "profiles": 1, "timed_out": False}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rule": {"all": [TURKEY, {"trait": "age", "op": "gt", "value": "old"}]}}, "rule.all[1].value"),
        ({"rule": {"performed": "purchase", "count": {"op": "gte", "value": 1.5}}}, "rule.count.value"),
        ({"rule": {"property": "price", "op": "gt", "value": 1}}, "rule.property"),
        ({"rule": {"in_segment": "nobody-knows"}}, "rule.in_segment"),
        ({"rule": 12}, "rule"),
        ({}, "rule"),
    ],
)
def test_a_bad_estimate_names_the_field(client, acme, body, field):
    assert field in problems(estimate(client, acme, body))


def test_the_estimate_refuses_another_workspaces_segment(client, acme, theirs):
    response = estimate(client, acme, {"rule": {"in_segment": theirs["rule"]["id"]}})
    assert "rule.in_segment" in problems(response)


@pytest.mark.parametrize("body", ["[]", '"rule"', "null", "3"])
def test_an_estimate_body_that_is_not_an_object_is_400(client, acme, body):
    response = estimate(client, acme, body)
    assert response.status_code == 400 and "detail" in response.json()


# --- Size, sizes, members, refresh ---------------------------------------------------------------------


def test_size_is_counted_live(client, acme, segment, people):
    turks = create(client, acme, {"name": "Turks", "rule": TURKEY})
    size = call(client, acme, "get", f"{turks['id']}/size", role=Role.ANALYST)
    assert size.status_code == 200
    assert (size.json()["size"], size.json()["stale"]) == (2, False) and size.json()["as_of"]
    identify(segment, "dee", country="TR")
    assert call(client, acme, "get", f"{turks['id']}/size").json()["size"] == 3  # no refresh needed
    assert Segment.objects.get(pk=turks["id"]).size == 0  # the stored size is the last refresh's


def test_refresh_then_sizes_and_members(client, acme, people):
    turks = create(client, acme, {"name": "Turks", "rule": TURKEY})
    segment_id = turks["id"]
    assert call(client, acme, "get", f"{segment_id}/sizes", role=Role.ANALYST).json() == {
        "segment": segment_id,
        "sizes": [],
    }
    assert call(client, acme, "get", f"{segment_id}/members", role=Role.ANALYST).json()["count"] == 0  # not yet

    refreshed = call(client, acme, "post", f"{segment_id}/refresh")
    assert refreshed.status_code == 200, refreshed.content
    assert refreshed.json()["size"] == 2 and refreshed.json()["refreshed_at"] is not None
    sizes = call(client, acme, "get", f"{segment_id}/sizes", role=Role.ANALYST).json()["sizes"]
    assert len(sizes) == 1
    assert (sizes[0]["size"], sizes[0]["entered"], sizes[0]["exited"]) == (2, 2, 0) and sizes[0]["at"]

    members = call(client, acme, "get", f"{segment_id}/members", role=Role.ANALYST)
    assert members.status_code == 200
    body = members.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 2 and body["next"] is None and body["previous"] is None
    assert sorted(m["user_id"] for m in body["results"]) == ["ann", "bob"]
    bob = next(m for m in body["results"] if m["user_id"] == "bob")
    assert set(bob) == {"id", "user_id", "email", "since"}
    assert (bob["id"], bob["email"]) == (people["bob"].pk, "bob@example.com") and bob["since"]

    assert [m["user_id"] for m in call(client, acme, "get", f"{segment_id}/members?q=ANN").json()["results"]] == ["ann"]
    assert call(client, acme, "get", f"{segment_id}/members?q=bob@EXAMPLE").json()["count"] == 1
    assert call(client, acme, "get", f"{segment_id}/members?q=cem").json()["count"] == 0
    paged = call(client, acme, "get", f"{segment_id}/members?page_size=1").json()
    assert (paged["count"], len(paged["results"])) == (2, 1) and paged["next"] is not None
    second = call(client, acme, "get", f"{segment_id}/members?page_size=1&page=2").json()
    assert second["previous"] is not None and second["results"][0]["id"] != paged["results"][0]["id"]


def test_sizes_over_time_by_day_and_range(client, acme, people):
    turks = create(client, acme, {"name": "Turks", "rule": TURKEY})
    segment_id = turks["id"]
    now = timezone.now()
    two_days_ago = (now - timedelta(days=2)).replace(hour=9, minute=0, second=0, microsecond=0)
    services.segment_refresh(segment_id=segment_id, now=two_days_ago)
    Profile.objects.filter(pk=people["cem"].pk).update(traits={"country": "TR"})
    services.segment_refresh(segment_id=segment_id, now=two_days_ago + timedelta(hours=6))
    assert call(client, acme, "post", f"{segment_id}/refresh").status_code == 200

    every = call(client, acme, "get", f"{segment_id}/sizes", {"every": "day"}, role=Role.ANALYST).json()["sizes"]
    assert [(s["size"], s["entered"]) for s in every] == [(3, 1), (3, 0)]  # the last sample of each day
    every_hour = call(client, acme, "get", f"{segment_id}/sizes", {"every": "hour"}).json()["sizes"]
    assert len(every_hour) == 3
    assert [s["size"] for s in call(client, acme, "get", f"{segment_id}/sizes").json()["sizes"]] == [2, 3, 3]
    since = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    recent = call(client, acme, "get", f"{segment_id}/sizes", {"since": since}).json()["sizes"]
    assert [(s["size"], s["entered"], s["exited"]) for s in recent] == [(3, 0, 0)]
    until = (two_days_ago + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    early = call(client, acme, "get", f"{segment_id}/sizes", {"until": until}).json()["sizes"]
    assert [s["size"] for s in early] == [2]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2025-13-01"}, "until"),
        ({"every": "week"}, "every"),
        ({"every": ""}, "every"),
    ],
)
def test_bad_sizes_parameters_are_400(client, acme, query, field):
    turks = create(client, acme, {"name": "Turks", "rule": TURKEY})
    response = call(client, acme, "get", f"{turks['id']}/sizes", query, role=Role.ANALYST)
    assert response.status_code == 400 and field in response.json()


def test_a_list_has_nothing_to_refresh(client, acme):
    listed = create(client, acme, {"name": "Beta", "kind": "list"})
    assert "kind" in problems(call(client, acme, "post", f"{listed['id']}/refresh"))


def test_a_profiles_segments_now(client, acme, segment, people, globex, theirs):
    turks = create(client, acme, {"name": "Turks", "rule": TURKEY})
    pros = create(client, acme, {"name": "Pros", "rule": PRO})
    beta = create(client, acme, {"name": "Beta", "kind": "list"})
    other_list = create(client, acme, {"name": "Alpha", "kind": "list"})
    assert call(client, acme, "post", f"{beta['id']}/members", {"add": ["ann"]}).json()["added"] == 1
    ann = people["ann"]

    response = client.get(f"/api/v1/profiles/{ann.pk}/segments", **acme.auth(Role.ANALYST))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["profile"] == ann.pk
    found = {s["slug"]: s for s in body["segments"]}
    assert {"turks", "pros", "beta", "known-users", "reachable-email"} <= set(found)
    assert other_list["slug"] not in found and "purchasers-30d" not in found
    assert set(found["beta"]) == {"id", "slug", "name", "kind", "since"}
    assert (found["beta"]["id"], found["beta"]["kind"]) == (beta["id"], "list") and found["beta"]["since"]
    assert (found["turks"]["id"], found["turks"]["kind"], found["turks"]["since"]) == (turks["id"], "rule", None)
    assert found["pros"]["id"] == pros["id"]
    assert "globex-turks" not in found and "globex-list" not in found

    # Now: the rule is asked, not the last refresh.
    identify(segment, "ann", country="DE")
    now = client.get(f"/api/v1/profiles/{ann.pk}/segments/", **acme.auth(Role.ANALYST)).json()
    assert "turks" not in {s["slug"] for s in now["segments"]} and "pros" in {s["slug"] for s in now["segments"]}

    bob = client.get(f"/api/v1/profiles/{people['bob'].pk}/segments", **acme.auth()).json()
    assert {"turks", "beta", "pros"} & {s["slug"] for s in bob["segments"]} == {"turks"}
    assert call(client, acme, "post", f"{turks['id']}/refresh").status_code == 200
    bob = client.get(f"/api/v1/profiles/{people['bob'].pk}/segments", **acme.auth()).json()
    assert next(s for s in bob["segments"] if s["slug"] == "turks")["since"] is not None  # since that refresh

    assert client.get(f"/api/v1/profiles/{theirs['profile'].pk}/segments", **acme.auth()).status_code == 404
    assert client.get("/api/v1/profiles/999999999/segments", **acme.auth()).status_code == 404


# --- Lists: members by id or email -----------------------------------------------------------------


def test_list_members_are_added_and_removed_by_user_id_or_email(client, acme, people):
    beta = create(client, acme, {"name": "Beta", "kind": "list"})
    path = f"{beta['id']}/members"
    added = call(client, acme, "post", path, {"add": ["ann", "BOB@example.com", "ghost", "nobody@example.com", "x@"]})
    assert added.status_code == 200, added.content
    body = added.json()
    assert (body["added"], body["removed"], body["already"], body["repeated"]) == (2, 0, 0, 0)
    assert {p["field"]: (p["value"], p["reason"]) for p in body["problems"]} == {
        "add[2]": ("ghost", "no profile with this user id"),
        "add[3]": ("nobody@example.com", "no profile with this email"),
        "add[4]": ("x@", "not an email address"),
    }
    members = set(Membership.objects.filter(segment_id=beta["id"]).values_list("profile__user_id", flat=True))
    assert members == {"ann", "bob"}
    assert call(client, acme, "get", f"{beta['id']}/", role=Role.ANALYST).json()["size"] == 2
    assert call(client, acme, "get", f"{beta['id']}/size", role=Role.ANALYST).json()["size"] == 2
    listed = call(client, acme, "get", path, role=Role.ANALYST).json()
    assert sorted(m["user_id"] for m in listed["results"]) == ["ann", "bob"]

    again = call(client, acme, "post", path, {"add": ["ann", "cem"], "remove": ["bob", "ghost"]}).json()
    assert (again["added"], again["already"], again["removed"]) == (1, 1, 1)
    assert [(p["field"], p["value"]) for p in again["problems"]] == [("remove[1]", "ghost")]
    members = set(Membership.objects.filter(segment_id=beta["id"]).values_list("profile__user_id", flat=True))
    assert members == {"ann", "cem"}
    only_remove = call(client, acme, "post", path, {"remove": ["ann@example.com"]}).json()
    assert (only_remove["added"], only_remove["removed"], only_remove["problems"]) == (0, 1, [])
    sizes = call(client, acme, "get", f"{beta['id']}/sizes", role=Role.ANALYST).json()["sizes"]
    assert [(s["size"], s["entered"], s["exited"]) for s in sizes] == [(2, 2, 0), (2, 1, 1), (1, 0, 1)]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "add"),
        ({"add": "ann"}, "add"),
        ({"add": ["ann"], "colour": "red"}, "colour"),
        ({"add": ["ann", 7]}, "add[1]"),
        ({"remove": [None]}, "remove[0]"),
        ({"add": ["ann"], "remove": 5}, "remove"),  # was a 500
        ({"add": {"ann": 1}}, "add"),  # was taken as adding ann
        ({"add": ["ann"], "remove": "bob@example.com"}, "remove"),  # was taken letter by letter
    ],
)
def test_bad_member_changes_are_400(client, acme, people, body, field):
    beta = create(client, acme, {"name": "Beta", "kind": "list"})
    assert field in problems(call(client, acme, "post", f"{beta['id']}/members", body))
    assert not Membership.objects.filter(segment_id=beta["id"]).exists()


def test_a_member_change_body_that_is_not_an_object_is_400(client, acme):
    beta = create(client, acme, {"name": "Beta", "kind": "list"})
    assert call(client, acme, "post", f"{beta['id']}/members", ["ann"]).status_code == 400


def test_a_rule_segments_members_cannot_be_changed(client, acme, people):
    turks = create(client, acme, {"name": "Turks", "rule": TURKEY})
    assert "kind" in problems(call(client, acme, "post", f"{turks['id']}/members", {"add": ["cem"]}))
    assert not Membership.objects.filter(segment_id=turks["id"]).exists()


# --- Lists: CSV imports ----------------------------------------------------------------------------


def test_a_csv_upload_is_imported_with_progress_and_problems_by_line(client, acme, people):
    beta = create(client, acme, {"name": "Beta", "kind": "list"})
    assert call(client, acme, "get", f"{beta['id']}/import", role=Role.ANALYST).status_code == 404
    csv = b"user_id,email\nann,\n,bob@example.com\nghost,\n,not-an-email\n\n,\n"
    started = upload(client, acme, beta["id"], csv)
    assert started.status_code == 202, started.content
    body = started.json()
    assert (body["status"], body["progress"], body["rows_total"], body["cursor"]) == ("running", 0.0, 5, 0)
    assert (body["filename"], body["added"], body["rejected"], body["finished_at"]) == ("members.csv", 0, 0, None)

    finished = list_import_run(import_id=body["id"])
    assert finished is not None and finished.status == ListImport.Status.DONE
    progress = call(client, acme, "get", f"{beta['id']}/import", role=Role.ANALYST)
    assert progress.status_code == 200
    done = progress.json()
    assert (done["id"], done["status"], done["progress"], done["cursor"]) == (body["id"], "done", 1.0, 5)
    assert (done["added"], done["already"], done["rejected"]) == (2, 0, 3) and done["finished_at"]
    assert [(p["line"], p["value"]) for p in done["problems"]] == [(4, "ghost"), (5, "not-an-email"), (7, ",")]
    assert all(p["reason"] for p in done["problems"])
    members = set(Membership.objects.filter(segment_id=beta["id"]).values_list("profile__user_id", flat=True))
    assert members == {"ann", "bob"}
    assert call(client, acme, "get", f"{beta['id']}/size").json()["size"] == 2


def test_a_csv_body_is_imported_too(client, acme, people):
    beta = create(client, acme, {"name": "Beta", "kind": "list"})
    assert call(client, acme, "post", f"{beta['id']}/members", {"add": ["cem"]}).json()["added"] == 1
    started = post_csv(client, acme, beta["id"], "\ufeffann\ncem@example.com\nwho\n".encode())
    assert started.status_code == 202, started.content
    assert (started.json()["rows_total"], started.json()["status"]) == (3, "running")
    list_import_run(import_id=started.json()["id"])
    done = call(client, acme, "get", f"{beta['id']}/import").json()
    assert (done["status"], done["added"], done["already"], done["repeated"], done["rejected"]) == ("done", 1, 1, 0, 1)
    assert [(p["line"], p["value"], p["reason"]) for p in done["problems"]] == [
        (3, "who", "no profile with this user id")
    ]
    members = set(Membership.objects.filter(segment_id=beta["id"]).values_list("profile__user_id", flat=True))
    assert members == {"ann", "cem"}


def test_the_latest_import_is_shown(client, acme, people):
    beta = create(client, acme, {"name": "Beta", "kind": "list"})
    first = upload(client, acme, beta["id"], b"ann\n").json()
    list_import_run(import_id=first["id"])
    second = upload(client, acme, beta["id"], b"bob\ncem\n").json()
    shown = call(client, acme, "get", f"{beta['id']}/import").json()
    assert (shown["id"], shown["status"], shown["rows_total"]) == (second["id"], "running", 2)


def test_a_file_that_is_not_utf8_is_refused_naming_the_line(client, acme):
    beta = create(client, acme, {"name": "Beta", "kind": "list"})
    for response in (
        upload(client, acme, beta["id"], "ann\nbob\ncafé\n".encode("latin-1")),
        post_csv(client, acme, beta["id"], "ann\nbob\ncafé\n".encode("latin-1")),
    ):
        assert response.status_code == 400, response.content
        assert "line 3" in response.json()["file"][0] and "UTF-8" in response.json()["file"][0]
    assert not ListImport.objects.exists()


def test_an_oversized_file_is_413(client, acme, settings):
    settings.NUDGE_SEGMENT_IMPORT_MAX_BYTES = 64
    beta = create(client, acme, {"name": "Beta", "kind": "list"})
    big = b"".join(f"user-{i}\n".encode() for i in range(20))
    assert len(big) > 64
    assert upload(client, acme, beta["id"], big).status_code == 413
    assert post_csv(client, acme, beta["id"], big).status_code == 413
    assert "file" in post_csv(client, acme, beta["id"], big).json()
    assert not ListImport.objects.exists()
    assert upload(client, acme, beta["id"], big[:64]).status_code == 202  # at the limit is fine


@pytest.mark.parametrize("data", [b"", b"\n\n  \n", b"user_id,email\n", b"\xef\xbb\xbf"])
def test_a_file_without_rows_is_400(client, acme, data):
    beta = create(client, acme, {"name": "Beta", "kind": "list"})
    response = upload(client, acme, beta["id"], data)
    assert response.status_code == 400 and "file" in response.json(), response.content
    assert not ListImport.objects.exists()


def test_an_empty_csv_body_is_400(client, acme):
    beta = create(client, acme, {"name": "Beta", "kind": "list"})
    response = post_csv(client, acme, beta["id"], b"")
    assert response.status_code == 400
    assert not ListImport.objects.exists()


def test_an_import_needs_a_file(client, acme):
    beta = create(client, acme, {"name": "Beta", "kind": "list"})
    form = client.post(f"/api/v1/segments/{beta['id']}/import", {"other": "x"}, **acme.auth())
    assert "file" in problems(form)
    json = call(client, acme, "post", f"{beta['id']}/import", {"file": "ann\nbob"})
    assert "file" in problems(json)
    assert not ListImport.objects.exists()


def test_a_rule_segment_takes_no_import(client, acme, people):
    turks = create(client, acme, {"name": "Turks", "rule": TURKEY})
    assert "kind" in problems(upload(client, acme, turks["id"], b"ann\n"))
    assert "kind" in problems(post_csv(client, acme, turks["id"], b"ann\n"))
    assert not ListImport.objects.exists()


# --- Bulk tags ---------------------------------------------------------------------------------------


def tags(client: Client, tenant: Tenant, body: Any, role: str = Role.MARKETER) -> Any:
    return client.post("/api/v1/profiles/tags", data=body, content_type="application/json", **tenant.auth(role))


def tags_of(*profiles: Profile) -> list[list[str]]:
    return [Profile.objects.get(pk=p.pk).tags for p in profiles]


def test_tags_by_profile_ids(client, acme, people, theirs):
    ann, bob, cem = people["ann"], people["bob"], people["cem"]
    response = tags(client, acme, {"add": ["vip", "beta"], "profiles": [ann.pk, bob.pk, theirs["profile"].pk]})
    assert response.status_code == 200, response.content
    assert response.json() == {"profiles": 2}
    assert tags_of(ann, bob, cem) == [["beta", "vip"], ["beta", "vip"], []]
    assert tags_of(theirs["profile"]) == [[]]  # another workspace's profile is untouched
    removed = tags(client, acme, {"remove": ["vip"], "add": ["gold"], "profiles": [ann.pk]})
    assert removed.json() == {"profiles": 1}
    assert tags_of(ann, bob) == [["beta", "gold"], ["beta", "vip"]]
    assert estimate(client, acme, {"rule": {"tag": "vip"}}).json()["size"] == 1
    assert AuditLogEntry.objects.filter(workspace=acme.workspace, action="tagged").count() == 2


def test_tags_by_segment_id_or_slug(client, acme, people):
    turks = create(client, acme, {"name": "Turks", "rule": TURKEY})
    beta = create(client, acme, {"name": "Beta", "kind": "list"})
    call(client, acme, "post", f"{beta['id']}/members", {"add": ["cem"]})
    assert tags(client, acme, {"add": ["tr"], "segment": turks["id"]}).json() == {"profiles": 2}
    assert tags(client, acme, {"add": ["beta"], "segment": "beta"}).json() == {"profiles": 1}
    assert tags(client, acme, {"add": ["known"], "segment": "known-users"}).json() == {"profiles": 3}
    assert tags(client, acme, {"remove": ["tr"], "segment": str(turks["id"])}).json() == {"profiles": 2}
    assert tags_of(people["ann"], people["bob"], people["cem"]) == [["known"], ["known"], ["beta", "known"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"add": ["vip"]}, "profiles"),
        ({"add": ["vip"], "profiles": [1], "segment": "known-users"}, "profiles"),
        ({"profiles": [1]}, "add"),
        ({"add": [], "remove": [], "segment": "known-users"}, "add"),
        ({"add": ["vip"], "segment": "no-such-segment"}, "segment"),
        ({"add": ["vip"], "segment": "999999999"}, "segment"),
        ({"add": ["vip"], "profiles": ["ann"]}, "profiles"),
        ({"add": "vip", "profiles": [1]}, "add"),
        ({"add": [""], "profiles": [1]}, "add"),
    ],
)
def test_bad_tag_requests_are_400(client, acme, people, body, field):
    response = tags(client, acme, body)
    assert response.status_code == 400 and field in response.json(), response.content
    assert tags_of(*people.values()) == [[], [], []]


def test_tags_cannot_use_another_workspaces_segment(client, acme, people, theirs):
    for ref in (theirs["list"]["id"], theirs["list"]["slug"], theirs["rule"]["slug"]):
        response = tags(client, acme, {"add": ["vip"], "segment": ref})
        assert response.status_code == 400 and "segment" in response.json()
    assert tags_of(theirs["profile"], *people.values()) == [[], [], [], []]


# --- Roles and isolation ---------------------------------------------------------------------------


@pytest.fixture
def ours(client, acme, people) -> dict[str, Any]:
    """A rule segment and a list with one member and one finished import."""
    rule = create(client, acme, {"name": "Turks", "rule": TURKEY})
    listed = create(client, acme, {"name": "Beta", "kind": "list"})
    list_import_run(import_id=upload(client, acme, listed["id"], b"ann\n").json()["id"])
    return {"rule": rule, "list": listed, "profile": people["ann"]}


READS = [
    ("get", "/api/v1/segments/", None),
    ("get", "/api/v1/segments/{rule}/", None),
    ("get", "/api/v1/segments/{rule}/size", None),
    ("get", "/api/v1/segments/{list}/size", None),
    ("get", "/api/v1/segments/{rule}/sizes", None),
    ("get", "/api/v1/segments/{rule}/members", None),
    ("get", "/api/v1/segments/{list}/members", None),
    ("get", "/api/v1/segments/{list}/import", None),
    ("post", "/api/v1/segments/estimate", {"rule": TURKEY}),
    ("get", "/api/v1/profiles/{profile}/segments", None),
]
WRITES = [
    ("post", "/api/v1/segments/", {"name": "New", "rule": TURKEY}),
    ("put", "/api/v1/segments/{rule}/", {"name": "Renamed", "rule": PRO}),
    ("patch", "/api/v1/segments/{rule}/", {"name": "Renamed"}),
    ("delete", "/api/v1/segments/{rule}/", None),
    ("delete", "/api/v1/segments/{list}/", None),
    ("post", "/api/v1/segments/{list}/members", {"add": ["bob"]}),
    ("post", "/api/v1/segments/{list}/import", "csv"),
    ("post", "/api/v1/segments/{rule}/refresh", None),
    ("post", "/api/v1/profiles/tags", {"add": ["vip"], "segment": "turks"}),
]


def _send(client: Client, tenant: Tenant, role: str, method: str, path: str, body: Any, ids: dict[str, Any]) -> Any:
    url = path.format(rule=ids["rule"]["id"], list=ids["list"]["id"], profile=ids["profile"].pk)
    if body == "csv":
        return client.post(url, data=b"bob\n", content_type="text/csv", **tenant.auth(role))
    return getattr(client, method)(url, data=body, content_type="application/json", **tenant.auth(role))


@pytest.mark.parametrize(("method", "path", "body"), READS)
def test_analysts_read(client, acme, ours, method, path, body):
    response = _send(client, acme, Role.ANALYST, method, path, body, ours)
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_analysts_cannot_write_and_marketers_can(client, acme, ours, method, path, body):
    before = list(Segment.objects.order_by("pk").values())
    tags_before = sorted(Profile.objects.values_list("pk", "tags"))
    refused = _send(client, acme, Role.ANALYST, method, path, body, ours)
    assert refused.status_code == 403, refused.content
    assert list(Segment.objects.order_by("pk").values()) == before
    assert sorted(Profile.objects.values_list("pk", "tags")) == tags_before
    assert Membership.objects.filter(segment_id=ours["list"]["id"]).count() == 1
    assert ListImport.objects.count() == 1 and not SegmentSize.objects.filter(segment_id=ours["rule"]["id"]).exists()
    allowed = _send(client, acme, Role.MARKETER, method, path, body, ours)
    assert allowed.status_code in (200, 201, 202, 204), allowed.content


def test_without_a_token_nothing_answers(client, acme, ours):
    assert client.get("/api/v1/segments/").status_code in (401, 403)
    assert client.post("/api/v1/segments/estimate", {"rule": TURKEY}, content_type="application/json").status_code in (
        401,
        403,
    )
    ingest_key = {"HTTP_AUTHORIZATION": f"Bearer {acme.write_key}"}
    assert client.get(f"/api/v1/segments/{ours['rule']['id']}/", **ingest_key).status_code == 401


SEGMENT_ENDPOINTS = [
    ("get", "{rule}/", None),
    ("put", "{rule}/", {"name": "Hijacked", "rule": PRO}),
    ("patch", "{rule}/", {"name": "Hijacked"}),
    ("delete", "{rule}/", None),
    ("delete", "{list}/", None),
    ("get", "{rule}/size", None),
    ("get", "{list}/size", None),
    ("get", "{rule}/sizes", None),
    ("get", "{rule}/members", None),
    ("get", "{list}/members", None),
    ("post", "{list}/members", {"remove": ["zed"]}),
    ("get", "{list}/import", None),
    ("post", "{list}/import", "csv"),
    ("post", "{rule}/refresh", None),
]


@pytest.mark.parametrize(("method", "path", "body"), SEGMENT_ENDPOINTS)
def test_another_workspaces_segment_is_404(client, acme, theirs, method, path, body):
    before = list(Segment.objects.order_by("pk").values())
    response = _send(client, acme, Role.OWNER, method, f"/api/v1/segments/{path}", body, theirs)
    assert response.status_code == 404, response.content
    assert list(Segment.objects.order_by("pk").values()) == before
    assert Membership.objects.filter(segment_id=theirs["list"]["id"]).count() == 1
    assert not ListImport.objects.exists() and not SegmentSize.objects.filter(segment_id=theirs["rule"]["id"]).exists()


def test_lists_never_show_another_workspaces_segments(client, acme, globex, theirs):
    create(client, acme, {"name": "Acme only", "kind": "list"})
    for tenant, other in ((acme, globex), (globex, acme)):
        listed = call(client, tenant, "get", "?page_size=500", role=Role.ANALYST).json()["results"]
        mine = set(Segment.objects.filter(workspace=tenant.workspace).values_list("pk", flat=True))
        assert {s["id"] for s in listed} == mine
        assert not {s["id"] for s in listed} & set(
            Segment.objects.filter(workspace=other.workspace).values_list("pk", flat=True)
        )
    acme_names = {s["name"] for s in call(client, acme, "get", "?name=globex").json()["results"]}
    assert acme_names == set()
    assert call(client, acme, "get", "?kind=list").json()["count"] == 1


def test_members_and_sizes_never_show_another_workspaces_profiles(client, acme, people, theirs):
    everyone = create(client, acme, {"name": "Turks", "rule": TURKEY})
    call(client, acme, "post", f"{everyone['id']}/refresh")
    members = call(client, acme, "get", f"{everyone['id']}/members").json()["results"]
    assert sorted(m["user_id"] for m in members) == ["ann", "bob"]
    beta = create(client, acme, {"name": "Beta", "kind": "list"})
    sneaky = call(client, acme, "post", f"{beta['id']}/members", {"add": ["zed", "zed@globex.test"]}).json()
    assert sneaky["added"] == 0 and [p["field"] for p in sneaky["problems"]] == ["add[0]", "add[1]"]
    list_import_run(import_id=upload(client, acme, beta["id"], b"zed\nzed@globex.test\n").json()["id"])
    assert call(client, acme, "get", f"{beta['id']}/import").json()["rejected"] == 2
    assert not Membership.objects.filter(segment_id=beta["id"]).exists()


# --- Inputs that once ended in a 500 ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "body", "field"),
    [
        ("post", {"name": "Beta\x00", "kind": "list"}, "name"),
        ("post", {"name": "Beta", "kind": "list", "description": "a\x00b"}, "description"),
        ("post", {"name": "Nul value", "rule": {"trait": "plan", "op": "eq", "value": "pro\x00"}}, "rule.value"),
        ("post", {"name": "Nul trait", "rule": {"trait": "pl\x00an", "op": "exists"}}, "rule.trait"),
        ("post", {"name": "Nul tag", "rule": {"tag": "vip\x00"}}, "rule.tag"),
        ("patch", {"name": "Turks\x00"}, "name"),
    ],
)
def test_a_nul_character_is_refused_naming_the_field(client, acme, method, body, field):
    client.raise_request_exception = False
    turks = create(client, acme, {"name": "Turks", "rule": TURKEY})
    path = f"{turks['id']}/" if method == "patch" else ""
    response = call(client, acme, method, path, body)
    assert response.status_code == 400  # refused by the API's JSON parser, naming where the NUL is
    assert response.json()["detail"].startswith(f"{field} contains a NUL character")


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"trait": "plan", "op": "eq", "value": "pro\x00"}, "rule.value"),
        ({"trait": "plan", "op": "in", "value": ["a\x00"]}, "rule.value"),
        ({"tag": "vip\x00"}, "rule.tag"),
        ({"performed": "buy\x00"}, "rule.performed"),
    ],
)
def test_an_estimate_with_a_nul_character_is_400(client, acme, people, rule, field):
    client.raise_request_exception = False
    response = estimate(client, acme, {"rule": rule})
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{field}") and "contains a NUL character" in response.json()["detail"]


FAR_OFFSET = {"trait": "signed_up", "op": "before", "value": "2020-01-01T00:00:00+16:00"}  # 2019-12-31T08:00Z


def test_a_date_with_a_large_utc_offset_is_counted(client, acme, segment):
    client.raise_request_exception = False
    identify(segment, "ann", signed_up="2019-06-01")
    identify(segment, "bob", signed_up="2020-06-01")
    response = estimate(client, acme, {"rule": FAR_OFFSET})
    if response.status_code == 400:  # refusing the offset, naming it, is fine too
        assert "rule.value" in problems(response)
    else:
        assert response.status_code == 200 and response.json()["size"] == 1


def test_a_saved_rule_with_a_large_utc_offset_does_not_break_the_workspace(client, acme, segment):
    client.raise_request_exception = False
    identify(segment, "ann", signed_up="2019-06-01")
    ann = Profile.objects.get(workspace=acme.workspace, user_id="ann")
    created = call(client, acme, "post", "", {"name": "Early", "rule": FAR_OFFSET})
    if created.status_code == 400:  # refused where it is written: fine
        assert "rule.value" in problems(created)
        return
    segment_id = created.json()["id"]
    size = call(client, acme, "get", f"{segment_id}/size")
    assert size.status_code == 200 and size.json()["size"] == 1
    mine = client.get(f"/api/v1/profiles/{ann.pk}/segments", **acme.auth())
    assert mine.status_code == 200 and "early" in {s["slug"] for s in mine.json()["segments"]}
    assert tags(client, acme, {"add": ["early"], "segment": segment_id}).json() == {"profiles": 1}


def test_sizes_since_with_a_large_utc_offset_is_not_a_500(client, acme):
    client.raise_request_exception = False
    turks = create(client, acme, {"name": "Turks", "rule": TURKEY})
    response = call(client, acme, "get", f"{turks['id']}/sizes", {"since": "2020-01-01T00:00:00+16:00"})
    assert response.status_code in (200, 400), response.status_code
    if response.status_code == 400:
        assert "since" in response.json()


def test_a_csv_with_a_nul_byte_reports_the_line(client, acme, people):
    client.raise_request_exception = False
    beta = create(client, acme, {"name": "Beta", "kind": "list"})
    response = upload(client, acme, beta["id"], b"ann\nb\x00ob\n")
    assert response.status_code in (202, 400), response.status_code
    if response.status_code == 400:
        assert "line 2" in response.json()["file"][0]
        return
    list_import_run(import_id=response.json()["id"])
    done = call(client, acme, "get", f"{beta['id']}/import").json()
    assert (done["added"], done["rejected"], [p["line"] for p in done["problems"]]) == (1, 1, [2])


@pytest.mark.parametrize("path", ["?name=a%00", "?kind=%00", "{id}/members?q=%00"])
def test_a_nul_character_in_a_query_parameter_is_not_a_500(client, acme, path):
    client.raise_request_exception = False
    beta = create(client, acme, {"name": "Beta", "kind": "list"})
    response = call(client, acme, "get", path.format(id=beta["id"]))
    assert response.status_code in (200, 400), response.status_code
    if response.status_code == 200:
        assert response.json()["count"] == 0


def test_in_segment_inside_a_history_filter_must_exist_too(client, acme):
    rule = {"performed": "purchase", "where": [{"in_segment": "no-such-segment"}]}
    response = call(client, acme, "post", "", {"name": "Bought while in nothing", "rule": rule})
    assert any(field.startswith("rule.where") for field in problems(response))
