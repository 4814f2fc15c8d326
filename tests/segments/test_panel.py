"""Segments' panel pages through Django's test client: the rule builder writes the API's rule JSON and
reads it back (a rule it cannot show is kept), bad input is an error at its field with nothing saved,
the live estimate, CSV lists with rejected rows by line, tags on a segment and on one profile, and
every page and action held to the member's role and workspace."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from activities.models import Activity, Identity, IdentityKind, Profile, TrackedActivity
from journeys.services import journey_create
from segments import lists, services
from segments.forms import rule_rows
from segments.models import ListImport, Membership, Segment
from tests.personas import Tenant
from workspaces.models import Role

pytestmark = pytest.mark.django_db


def browser(tenant: Tenant, role: str = Role.MARKETER) -> Client:
    client = Client()
    client.force_login(tenant.members[role])
    return client


def people(tenant: Tenant) -> list[Profile]:
    """Three people: ann (TR, two purchases), bob (TR), cem (DE, tagged vip)."""
    now = timezone.now()
    found = []
    for user_id, country, tags in (("ann", "TR", []), ("bob", "TR", []), ("cem", "DE", ["vip"])):
        profile = Profile.objects.create(
            workspace=tenant.workspace,
            user_id=user_id,
            email=f"{user_id}@example.com",
            traits={"country": country},
            tags=tags,
            first_seen=now,
            last_seen=now,
        )
        Identity.objects.create(workspace=tenant.workspace, kind=IdentityKind.USER_ID, value=user_id, profile=profile)
        found.append(profile)
    for hours in (1, 2):
        Activity.objects.create(
            workspace=tenant.workspace,
            profile=found[0],
            name="purchase",
            timestamp=now - timedelta(hours=hours),
            received_at=now,
            message_id=f"m{hours}",
            properties={},
        )
    TrackedActivity.objects.create(
        workspace=tenant.workspace, name="purchase", count=2, first_seen=now, last_seen=now, properties={}
    )
    return found


def rows(match: str, conditions: list[dict[str, str]], groups: list[str] | None = None, **fields: str) -> dict:
    data = {"name": "Turkish buyers", "description": "", "kind": "rule", "builder": "rows", "match": match}
    data |= {"c-TOTAL_FORMS": str(len(conditions)), "c-INITIAL_FORMS": "0"}
    data |= {"g-TOTAL_FORMS": str(len(groups or [])), "g-INITIAL_FORMS": "0"}
    for i, match_group in enumerate(groups or []):
        data[f"g-{i}-match"] = match_group
    for i, row in enumerate(conditions):
        data |= {f"c-{i}-{key}": value for key, value in row.items()}
    return {**data, "save": "1", **fields}


def row_errors(response: Any, index: int, name: str) -> list[str]:
    form = response.context["builder"].checked().forms[index]
    return [str(e) for e in form.errors.get(name, [])]


ADD = reverse("panel:segments_segment_add")


def detail(segment: Segment) -> str:
    return reverse("panel:segments_segment_detail", args=[segment.pk])


# --- The builder ----------------------------------------------------------------------------------


def test_the_builder_writes_the_rule_the_api_takes(acme):
    people(acme)
    answer = browser(acme).post(
        ADD,
        rows(
            "all",
            [
                {"kind": "trait", "trait": "country", "op": "eq", "value": "TR"},
                {"kind": "performed", "activity": "purchase", "count_op": "gte", "count": "2", "within_0": "30"}
                | {"within_1": "days", "group": "0"},
                {"kind": "tag", "op": "has", "value": "vip", "group": "0"},
                {"kind": "reachable", "op": "has_not", "channel": "sms"},
            ],
            groups=["any"],
        ),
    )
    assert answer.status_code == 302, answer.context and answer.context["form"].errors
    segment = Segment.objects.get(workspace=acme.workspace, slug="turkish-buyers")
    assert answer["Location"] == detail(segment)
    assert segment.rule == {
        "all": [
            {"trait": "country", "op": "eq", "value": "TR"},
            {"not": {"reachable": "sms"}},
            {
                "any": [
                    {"performed": "purchase", "count": {"op": "gte", "value": 2}, "within": "P30D"},
                    {"tag": "vip"},
                ]
            },
        ]
    }
    # Read back as the same rows: editing and saving changes nothing.
    back = rule_rows(segment.rule)
    assert back is not None and back.match == "all" and back.groups == ["any"]
    assert [r["kind"] for r in back.rows] == ["trait", "reachable", "performed", "tag"]
    page = browser(acme).get(reverse("panel:segments_segment_change", args=[segment.pk]))
    assert page.status_code == 200 and not page.context["kept"]
    assert page.context["estimate"]["size"] == 1  # ann: TR, two purchases, no phone


def test_none_of_wraps_the_group_in_not(acme):
    answer = browser(acme).post(ADD, rows("none", [{"kind": "tag", "op": "has", "value": "churned"}]))
    assert answer.status_code == 302
    rule = Segment.objects.get(workspace=acme.workspace, slug="turkish-buyers").rule
    assert rule == {"not": {"any": [{"tag": "churned"}]}}
    assert rule_rows(rule).match == "none"


@pytest.mark.parametrize(
    ("row", "field", "words"),
    [
        ({"kind": "trait", "trait": "age", "op": "gt", "value": "old"}, "value", "Enter a number"),
        ({"kind": "trait", "trait": "", "op": "eq", "value": "TR"}, "trait", "Name the trait"),
        ({"kind": "trait", "trait": "age", "op": "between", "value": "9"}, "value", "two numbers"),
        ({"kind": "attribute", "attribute": "first_seen", "op": "within_last", "value": "soon"}, "value", "7 days"),
        ({"kind": "attribute", "attribute": "first_seen", "op": "eq", "value": "x"}, "op", "Choose an operator"),
        ({"kind": "performed", "activity": "purchase", "within_0": "3", "within_1": ""}, "within", "unit"),
        ({"kind": "performed", "activity": "purchase", "count": "-1"}, "count", "greater than or equal"),
        ({"kind": "tag", "op": "has", "value": "x" * 101}, "value", "at most 100"),
    ],
)
def test_bad_input_is_an_error_at_its_row_and_field_with_nothing_saved(acme, row, field, words):
    before = Segment.objects.filter(workspace=acme.workspace).count()
    answer = browser(acme).post(ADD, rows("all", [row]))
    assert answer.status_code == 400
    assert any(words in e for e in row_errors(answer, 0, field)), answer.context["builder"].checked().forms[0].errors
    assert Segment.objects.filter(workspace=acme.workspace).count() == before
    assert 'data-row="0"' in answer.content.decode()


def test_a_missing_name_and_an_empty_rule_are_named(acme):
    answer = browser(acme).post(ADD, rows("all", [{"kind": "trait"}], name=""))
    assert answer.status_code == 400
    assert answer.context["form"].errors["name"] == ["Give the segment a name."]
    answer = browser(acme).post(ADD, rows("all", [{"kind": "trait"}]))
    assert answer.status_code == 400
    assert "Add a condition" in answer.context["form"].non_field_errors()[0]
    assert not Segment.objects.filter(workspace=acme.workspace, slug="turkish-buyers").exists()


def test_the_services_problems_show_at_the_row_that_caused_them(acme):
    """A segment cannot include a segment that includes it: the API's message, at the segment field."""
    inner = services.segment_create(
        workspace=acme.workspace, actor=None, data={"name": "Inner", "rule": {"tag": "vip"}}
    )
    outer = services.segment_create(
        workspace=acme.workspace, actor=None, data={"name": "Outer", "rule": {"in_segment": "inner"}}
    )
    answer = browser(acme).post(
        reverse("panel:segments_segment_change", args=[inner.pk]),
        rows("all", [{"kind": "in_segment", "op": "has", "segment": outer.slug}], name="Inner"),
    )
    assert answer.status_code == 400
    assert any("cannot include itself" in e for e in row_errors(answer, 0, "segment"))
    inner.refresh_from_db()
    assert inner.rule == {"tag": "vip"}


def test_changing_a_rows_kind_or_adding_one_redraws_without_saving(acme):
    client = browser(acme)
    refreshed = client.post(ADD, rows("all", [{"kind": "performed"}], refresh="1"))
    assert refreshed.status_code == 200
    assert 'name="c-0-activity"' in refreshed.content.decode()
    assert 'name="c-0-trait"' not in refreshed.content.decode()
    added = client.post(ADD, rows("all", [{"kind": "tag", "op": "has", "value": "vip"}], add_row="top"))
    assert added.status_code == 200 and len(added.context["builder"].rows.forms) == 2
    grouped = client.post(ADD, rows("all", [{"kind": "tag", "op": "has", "value": "vip"}], add_group="1"))
    sections = grouped.context["builder"].sections()
    assert len(sections) == 2 and len(sections[1]["rows"]) == 1
    removed = client.post(ADD, rows("all", [{"kind": "tag", "value": "a"}, {"kind": "tag"}], remove_row="0"))
    assert len(removed.context["builder"].rows.forms) == 1
    assert not Segment.objects.filter(workspace=acme.workspace, slug="turkish-buyers").exists()


def test_the_live_estimate_counts_the_rows_as_posted(acme):
    people(acme)
    client = browser(acme, Role.ANALYST)  # counting changes nothing: analysts may
    url = reverse("panel:segments_segment_estimate")
    one = client.post(url, rows("all", [{"kind": "trait", "trait": "country", "op": "eq", "value": "TR"}]))
    assert one.status_code == 200 and one.context["estimate"]["size"] == 2
    two = client.post(
        url,
        rows(
            "all",
            [
                {"kind": "trait", "trait": "country", "op": "eq", "value": "TR"},
                {"kind": "performed", "activity": "purchase", "count_op": "gte", "count": "2"},
            ],
        ),
    )
    assert two.context["estimate"]["size"] == 1
    assert "data-estimate>1<" in two.content.decode()
    bad = client.post(
        url,
        rows(
            "all",
            [
                {"kind": "trait", "trait": "country", "op": "eq", "value": "TR"},
                {"kind": "trait", "trait": "age", "op": "gt", "value": "old"},
            ],
        ),
    )
    assert bad.context["estimate"]["size"] == 2 and bad.context["estimate"]["left_out"] == 1
    empty = client.post(url, rows("all", [{"kind": "trait"}]))
    assert empty.context["estimate"]["empty"]


def test_a_rule_too_complex_for_the_builder_is_shown_in_words_and_kept(acme):
    rule = {"all": [{"performed": "purchase", "where": {"property": "price", "op": "gt", "value": 100}}]}
    segment = services.segment_create(workspace=acme.workspace, actor=None, data={"name": "Big spenders", "rule": rule})
    client = browser(acme)
    page = client.get(reverse("panel:segments_segment_change", args=[segment.pk]))
    assert page.context["kept"] and "did purchase where price is greater than 100" in page.content.decode()
    saved = client.post(
        reverse("panel:segments_segment_change", args=[segment.pk]),
        {"name": "Big spenders!", "description": "", "builder": "kept", "save": "1"},
    )
    assert saved.status_code == 302
    segment.refresh_from_db()
    assert segment.name == "Big spenders!" and segment.rule == rule
    rebuilt = client.post(
        reverse("panel:segments_segment_change", args=[segment.pk]),
        {"name": "Big spenders!", "builder": "kept", "rebuild": "1"},
    )
    assert rebuilt.status_code == 200 and not rebuilt.context["kept"]
    segment.refresh_from_db()
    assert segment.rule == rule


# --- A segment's page -----------------------------------------------------------------------------


def test_the_page_shows_size_over_time_members_and_what_uses_it(acme):
    ann, bob, _ = people(acme)
    segment = services.segment_create(
        workspace=acme.workspace,
        actor=None,
        data={"name": "TR", "rule": {"trait": "country", "op": "eq", "value": "TR"}},
    )
    services.segment_refresh(segment_id=segment.pk)
    services.segment_create(workspace=acme.workspace, actor=None, data={"name": "TR vip", "rule": {"in_segment": "tr"}})
    journey_create(
        workspace=acme.workspace,
        actor=acme.owner,
        document={"name": "Welcome TR", "audience": {"segments": ["tr"], "exclude_segments": []}},
    )
    page = browser(acme, Role.ANALYST).get(detail(segment))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Welcome TR" in html and "TR vip" in html
    assert [m.profile.user_id for m in page.context["page"].object_list] == ["bob", "ann"] or {
        m.profile.user_id for m in page.context["page"].object_list
    } == {"ann", "bob"}
    assert json.loads(page.context["chart"])["datasets"][0]["data"][-1] == 2
    found = browser(acme).get(detail(segment) + "?q=ann")
    assert [m.profile.user_id for m in found.context["page"].object_list] == ["ann"]
    # No buttons that change anything for an analyst.
    assert "data-edit" not in html and "data-tag" not in html and "data-refresh" not in html


def test_members_are_paginated(acme):
    segment = services.segment_create(workspace=acme.workspace, actor=None, data={"name": "Many", "kind": "list"})
    profiles = Profile.objects.bulk_create(Profile(workspace=acme.workspace, user_id=f"u{i}") for i in range(30))
    Membership.objects.bulk_create(Membership(segment=segment, profile=p, since=timezone.now()) for p in profiles)
    first = browser(acme).get(detail(segment))
    assert len(first.context["page"].object_list) == 25 and "Page 1 of 2" in first.content.decode()
    second = browser(acme).get(detail(segment) + "?page=2")
    assert len(second.context["page"].object_list) == 5


# --- Lists ----------------------------------------------------------------------------------------


def make_list(tenant: Tenant, name: str = "Newsletter") -> Segment:
    answer = browser(tenant).post(ADD, {"name": name, "description": "", "kind": "list", "save": "1"})
    assert answer.status_code == 302
    return Segment.objects.get(workspace=tenant.workspace, name=name)


def test_a_csv_with_bad_rows_lists_them_by_line(acme):
    people(acme)
    segment = make_list(acme)
    assert segment.kind == "list" and segment.rule is None
    client = browser(acme)
    csv = b"user_id,email\nann,\n,bob@example.com\nnobody,\n,not-an-email\n"
    url = reverse("panel:segments_segment_import", args=[segment.pk])
    started = client.post(url, {"file": SimpleUploadedFile("people.csv", csv, content_type="text/csv")})
    assert started.status_code == 302
    polled = client.get(url)
    assert 'hx-trigger="every 2s"' in polled.content.decode() and "0 %" in polled.content.decode()
    lists.imports_run(budget_seconds=10)
    done = client.get(url)
    html = done.content.decode()
    assert "every 2s" not in html
    assert 'data-line="4"' in html and "No profile with this user id" in html
    assert 'data-line="5"' in html and "Not an email address" in html
    assert ListImport.objects.get(segment=segment).added == 2
    page = client.get(detail(segment))
    assert {m.profile.user_id for m in page.context["page"].object_list} == {"ann", "bob"}


def test_an_import_counts_every_row_once_and_tells_the_page_when_it_ends(acme):
    """A row repeated in the file (by user id, then by email), one naming nobody, one naming a member
    already: each in one line of the summary, which adds up to the rows; the poll that finds the import
    ended asks the page to fetch its members again, and the page holds every part it swaps in."""
    people(acme)
    segment = make_list(acme)
    lists.list_members_change(segment=segment, actor=None, add=["cem"])
    client = browser(acme)
    url = reverse("panel:segments_segment_import", args=[segment.pk])
    csv = b"ann\nann\nnobody\ncem\nANN@example.com\nbob\n"
    assert client.post(url, {"file": SimpleUploadedFile("people.csv", csv, content_type="text/csv")}).status_code == 302
    assert "HX-Trigger" not in client.get(url, headers={"HX-Request": "true"})  # running: nothing changed yet

    lists.imports_run(budget_seconds=10)
    done = client.get(url, headers={"HX-Request": "true"})
    assert done["HX-Trigger"] == "segment-members-changed"
    html = done.content.decode()
    numbers = {name: int(n) for name, n in re.findall(r'data-number="(\w+)">(\d+)<', html)}
    assert numbers == {"rows": 6, "added": 2, "already": 1, "repeated": 2, "rejected": 1}
    assert numbers["rows"] == sum(n for name, n in numbers.items() if name != "rows")
    assert "Repeated in the file" in html and 'data-line="3"' in html and "No profile with this user id" in html
    found = ListImport.objects.get(segment=segment)
    assert (found.added, found.already, found.repeated, found.rejected) == (2, 1, 2, 1)
    assert "HX-Trigger" not in client.get(url)  # only htmx's poll is told

    page = client.get(detail(segment))
    assert {m.profile.user_id for m in page.context["page"].object_list} == {"ann", "bob", "cem"}
    text = page.content.decode()
    assert 'hx-trigger="segment-members-changed from:body"' in text
    swapped = re.search(r'hx-select-oob="([^"]+)"', text)
    assert swapped is not None
    for part in swapped.group(1).split(","):
        assert text.count(f'id="{part.removeprefix("#")}"') == 1, part
    assert 'id="segment-size" data-kpi="members">3<' in text


@pytest.mark.parametrize(
    ("upload", "words"),
    [
        (None, "Choose a CSV file"),
        (SimpleUploadedFile("x.csv", b"\xff\xfe\x00bad", content_type="text/csv"), "not UTF-8"),
        (SimpleUploadedFile("x.csv", b"\n\n", content_type="text/csv"), "Has no rows"),
    ],
)
def test_a_file_that_cannot_be_imported_is_named_at_the_field(acme, upload, words):
    segment = make_list(acme)
    data = {"file": upload} if upload is not None else {}
    answer = browser(acme).post(reverse("panel:segments_segment_import", args=[segment.pk]), data)
    assert answer.status_code == 400
    assert any(words in e for e in answer.context["import_form"].errors["file"]), answer.context["import_form"].errors
    assert not ListImport.objects.filter(segment=segment).exists()


def test_a_rule_segment_takes_no_csv(acme):
    segment = services.segment_create(workspace=acme.workspace, actor=None, data={"name": "R", "rule": {"tag": "x"}})
    upload = SimpleUploadedFile("x.csv", b"ann\n", content_type="text/csv")
    answer = browser(acme).post(reverse("panel:segments_segment_import", args=[segment.pk]), {"file": upload})
    assert answer.status_code == 400 and "only a list" in answer.context["import_form"].errors["file"][0].lower()


# --- Tags -----------------------------------------------------------------------------------------


def test_tags_on_every_member_of_a_segment(acme):
    ann, bob, cem = people(acme)
    segment = services.segment_create(
        workspace=acme.workspace,
        actor=None,
        data={"name": "TR", "rule": {"trait": "country", "op": "eq", "value": "TR"}},
    )
    url = reverse("panel:segments_segment_tags", args=[segment.pk])
    answer = browser(acme).post(url, {"add": "turkey, summer", "remove": ""})
    assert answer.status_code == 302
    ann.refresh_from_db()
    cem.refresh_from_db()
    assert ann.tags == ["summer", "turkey"] and cem.tags == ["vip"]
    bad = browser(acme).post(url, {"add": "x" * 101, "remove": ""})
    assert bad.status_code == 400 and "at most 100" in bad.context["tags_form"].errors["add"][0]
    nothing = browser(acme).post(url, {"add": "", "remove": ""})
    assert nothing.status_code == 400 and nothing.context["tags_form"].errors["add"]
    assert browser(acme, Role.ANALYST).post(url, {"add": "x"}).status_code == 403
    ann.refresh_from_db()
    assert "x" not in ann.tags


def test_tags_on_one_profile(acme, globex):
    ann, bob, cem = people(acme)
    url = reverse("panel:segments_profile_tags", args=[cem.pk])
    page = browser(acme).get(url)
    assert page.status_code == 200 and 'data-tag="vip"' in page.content.decode()
    added = browser(acme).post(url, {"add": "gold", "next": "/segments/segment/"})
    assert added.status_code == 302 and added["Location"] == "/segments/segment/"
    removed = browser(acme).post(url, {"remove": "vip", "next": "https://evil.example/"})
    assert removed["Location"] == url
    cem.refresh_from_db()
    assert cem.tags == ["gold"]
    assert browser(acme, Role.ANALYST).post(url, {"add": "x"}).status_code == 403
    assert "data-remove-tag" not in browser(acme, Role.ANALYST).get(url).content.decode()
    assert browser(globex).get(url).status_code == 404
    assert browser(globex).post(url, {"add": "x"}).status_code == 404


# --- Roles, workspaces, deletion ------------------------------------------------------------------


def test_analysts_read_but_change_nothing(acme):
    segment = services.segment_create(workspace=acme.workspace, actor=None, data={"name": "L", "kind": "list"})
    client = browser(acme, Role.ANALYST)
    listing = client.get(reverse("panel:segments_segment_changelist"))
    assert listing.status_code == 200 and "New static list" not in listing.content.decode()
    assert client.get(ADD).status_code == 403
    assert client.post(ADD, rows("all", [{"kind": "tag", "value": "x"}])).status_code == 403
    change = reverse("panel:segments_segment_change", args=[segment.pk])
    assert client.get(change)["Location"] == detail(segment)
    assert client.post(change, {"name": "X", "save": "1"}).status_code == 403
    upload = SimpleUploadedFile("x.csv", b"ann\n", content_type="text/csv")
    assert client.post(reverse("panel:segments_segment_import", args=[segment.pk]), {"file": upload}).status_code == 403
    assert client.post(reverse("panel:segments_segment_refresh", args=[segment.pk])).status_code == 403
    assert client.post(reverse("panel:segments_segment_delete", args=[segment.pk])).status_code == 403
    assert "data-upload" not in client.get(detail(segment)).content.decode()
    segment.refresh_from_db()
    assert segment.name == "L" and not ListImport.objects.exists()


def test_another_workspaces_segments_are_not_found(acme, globex):
    theirs = services.segment_create(workspace=globex.workspace, actor=None, data={"name": "G", "rule": {"tag": "g"}})
    client = browser(acme)
    for name in ("detail", "change", "import", "tags", "refresh", "delete"):
        url = reverse(f"panel:segments_segment_{name}", args=[theirs.pk])
        assert client.get(url).status_code in (404,), name
        assert client.post(url, {"add": "x", "name": "x"}).status_code == 404, name
    listing = client.get(reverse("panel:segments_segment_changelist"))
    assert "G</a>" not in listing.content.decode()
    estimate = client.post(
        reverse("panel:segments_segment_estimate"),
        rows("all", [{"kind": "in_segment", "op": "has", "segment": theirs.slug}]),
    )
    assert estimate.context["estimate"]["size"] == 0  # another workspace's slug names nothing here


def test_delete_is_refused_while_another_segment_uses_it(acme):
    used = services.segment_create(workspace=acme.workspace, actor=None, data={"name": "Used", "rule": {"tag": "a"}})
    user = services.segment_create(
        workspace=acme.workspace, actor=None, data={"name": "User", "rule": {"in_segment": "used"}}
    )
    client = browser(acme)
    confirm = client.get(reverse("panel:segments_segment_delete", args=[used.pk]))
    assert confirm.status_code == 200 and "cannot be deleted" in confirm.content.decode()
    refused = client.post(reverse("panel:segments_segment_delete", args=[used.pk]))
    assert refused.status_code == 302 and Segment.objects.filter(pk=used.pk).exists()
    done = client.post(reverse("panel:segments_segment_delete", args=[user.pk]))
    assert done["Location"] == reverse("panel:segments_segment_changelist")
    assert not Segment.objects.filter(pk=user.pk).exists()


def test_refresh_counts_again(acme):
    people(acme)
    segment = services.segment_create(
        workspace=acme.workspace,
        actor=None,
        data={"name": "TR", "rule": {"trait": "country", "op": "eq", "value": "TR"}},
    )
    answer = browser(acme).post(reverse("panel:segments_segment_refresh", args=[segment.pk]))
    assert answer.status_code == 302
    segment.refresh_from_db()
    assert segment.size == 2


def test_the_list_page_reads_rules_in_words(acme):
    listing = browser(acme).get(reverse("panel:segments_segment_changelist"))
    html = listing.content.decode()
    assert html.count('href="/segments/segment/') >= 9 and "/change/" not in html  # one link per row, to its page
    assert "first seen is within the last week" in html and "reachable by SMS" in html
