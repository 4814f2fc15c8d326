"""Activities and People in the panel through Django's test client: tracked activities and one name's
page, the live stream and its polls (only new rows, filtered, bounded), the people search by every id
and by trait, a profile's page and its timeline's pages, privacy export and deletion (owner only,
confirmed, audited, nothing half-deleted), and every page held to the member's role and workspace."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse

from activities.models import Activity, EvaluationBatch, Identity, Profile, PushDevice, TrackedActivity
from activities.pipeline import batch_process
from activities.services import profile_update
from behaviors.models import Behavior
from behaviors.services import behavior_resume
from journeys.services import journey_create, journey_publish
from messaging.models import Message, Template
from tests.conftest import SegmentClient
from tests.personas import Tenant
from workspaces.models import AuditLogEntry, Role

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC).replace(microsecond=0)


def member(tenant: Tenant, role: str = Role.MARKETER) -> Client:
    client = Client()
    client.force_login(tenant.members[role])
    return client


def drain() -> None:
    for batch in EvaluationBatch.objects.order_by("pk"):
        batch_process(batch.pk)


def track(segment: SegmentClient, user_id: str, event: str, properties: dict | None = None, **extra: Any) -> None:
    body = {"userId": user_id, "event": event, "properties": properties or {}, **extra}
    answer = segment.post("/v1/track", body)
    assert answer.status_code == 200, answer.content


def identify(segment: SegmentClient, **body: Any) -> None:
    answer = segment.post("/v1/identify", body)
    assert answer.status_code == 200, answer.content


def text(response: Any) -> str:
    return response.content.decode()


def stream_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'data-activity="(\d+)"', html)]


@pytest.fixture
def shop(acme: Tenant, segment: SegmentClient) -> Tenant:
    """Ann (identified, with traits, a device and an anonymous past) and Bob, with a few activities."""
    identify(
        segment,
        anonymousId="anon-ann",
        userId="ann",
        traits={"email": "Ann@Shop.test", "phone": "+905551112233", "plan": "pro", "age": 41, "vip": True},
        context={"device": {"token": "tok-ann-1234567890", "type": "ios"}, "timezone": "Europe/Istanbul"},
    )
    track(segment, "ann", "purchase", {"price": 120, "currency": "EUR"})
    track(segment, "ann", "screen_view", {"screen_name": "Discounts"})
    identify(segment, userId="bob", traits={"email": "bob@shop.test", "plan": "free"})
    track(segment, "bob", "purchase", {"price": 5, "sku": "A1"})
    drain()
    return acme


def profile_of(user_id: str) -> Profile:
    return Profile.objects.get(user_id=user_id)


# --- Tracked activities ------------------------------------------------------------------------------


def test_tracked_activities_list_names_counts_and_property_types_of_the_workspace_only(shop, globex):
    TrackedActivity.objects.create(
        workspace=globex.workspace, name="their_event", count=9, first_seen=NOW, last_seen=NOW
    )
    page = text(member(shop, Role.ANALYST).get(reverse("panel:activities_trackedactivity_changelist")))
    assert "Purchase" in page or "purchase" in page
    assert "price (number)" in page and "currency (string)" in page
    assert "their_event" not in page
    assert "data-stream-link" in page


def test_tracked_activities_empty_state_says_what_to_do(acme):
    page = text(member(acme).get(reverse("panel:activities_trackedactivity_changelist")))
    assert "No activities yet" in page and "write key" in page


def test_a_tracked_activitys_page_has_its_numbers_properties_chart_and_latest(shop):
    tracked = TrackedActivity.objects.get(workspace=shop.workspace, name="purchase")
    page = member(shop, Role.ANALYST).get(reverse("panel:activities_trackedactivity_change", args=[tracked.pk]))
    assert page.status_code == 200
    html = text(page)
    assert 'data-kpi="count">2<' in html
    assert "<code>price</code>" in html and "<code>sku</code>" in html
    chart = json.loads(page.context["chart"])
    assert chart["datasets"][0]["data"][-1] == 2 and len(chart["labels"]) == 30
    assert len(stream_ids(html)) == 2
    assert "?name=purchase" in html  # Watch live, filtered


def test_another_workspaces_tracked_activity_is_404(shop, globex):
    theirs = TrackedActivity.objects.create(
        workspace=globex.workspace, name="their_event", count=9, first_seen=NOW, last_seen=NOW
    )
    assert (
        member(shop, Role.OWNER).get(reverse("panel:activities_trackedactivity_change", args=[theirs.pk])).status_code
        == 404
    )
    assert member(shop).get("/activities/trackedactivity/nope/change/").status_code == 404


# --- The live stream ---------------------------------------------------------------------------------


def test_the_stream_shows_the_newest_and_polls_add_only_what_arrived_since(shop, segment):
    client = member(shop, Role.ANALYST)
    page = client.get(reverse("panel:activities_stream"))
    html = text(page)
    assert len(stream_ids(html)) == Activity.objects.filter(workspace=shop.workspace).count()
    assert 'hx-trigger="every 2s [!window.nudgeStreamPaused]"' in html and "data-pause" in html
    poll = re.search(r'data-poll-url="([^"]+)"', html).group(1).replace("&amp;", "&")

    empty = client.get(poll)
    assert empty.status_code == 200 and stream_ids(text(empty)) == []

    track(segment, "bob", "add_to_cart", {"sku": "B2"})
    track(segment, "ann", "add_to_cart", {"sku": "C3"})
    fresh = client.get(poll)
    added = stream_ids(text(fresh))
    newest = list(Activity.objects.filter(name="add_to_cart").order_by("-pk").values_list("pk", flat=True))
    assert added == newest  # newest first, and nothing shown before
    assert 'hx-swap-oob="afterbegin:#stream-rows"' in text(fresh)
    after = re.search(r'data-poll-url="([^"]+)"', text(fresh)).group(1).replace("&amp;", "&")
    assert f"since={newest[0]}" in after
    assert stream_ids(text(client.get(after))) == []  # the next poll adds nothing twice


def test_the_stream_filters_by_name_and_by_profile(shop, segment):
    client = member(shop)
    by_name = text(client.get(reverse("panel:activities_stream"), {"name": "purchase"}))
    purchases = set(Activity.objects.filter(name="purchase").values_list("pk", flat=True))
    assert set(stream_ids(by_name)) == purchases
    by_profile = text(client.get(reverse("panel:activities_stream"), {"profile": "ann@shop.test"}))
    assert set(stream_ids(by_profile)) == set(profile_of("ann").activities.values_list("pk", flat=True))
    poll = re.search(r'data-poll-url="([^"]+)"', by_profile).group(1).replace("&amp;", "&")
    track(segment, "bob", "tap")
    track(segment, "ann", "tap")
    assert stream_ids(text(client.get(poll))) == [Activity.objects.get(name="tap", profile__user_id="ann").pk]


def test_an_unknown_profile_in_the_stream_filter_is_an_error_at_its_field(shop):
    page = member(shop).get(reverse("panel:activities_stream"), {"profile": "nobody"})
    assert page.status_code == 200
    assert page.context["form"].errors["profile"] == ["No profile has this user id, anonymous id or email."]
    assert stream_ids(text(page)) == [] and "data-poll-url" not in text(page)
    rows = member(shop).get(reverse("panel:activities_stream_rows"), {"profile": "nobody", "since": "0"})
    assert rows.status_code == 204


def test_a_poll_without_a_cursor_adds_nothing(shop):
    for since in ("", "abc", "-1"):
        assert member(shop).get(reverse("panel:activities_stream_rows"), {"since": since}).status_code == 204


def test_the_stream_never_shows_another_workspaces_activities(shop, globex, client):
    other = SegmentClient(client, globex.write_key)
    track(other, "ann", "their_secret")
    html = text(member(shop, Role.OWNER).get(reverse("panel:activities_stream")))
    assert "their_secret" not in html
    rows = member(shop).get(reverse("panel:activities_stream_rows"), {"since": "0"})
    assert "their_secret" not in text(rows)
    assert member(shop).get(reverse("panel:activities_stream"), {"profile": "ann"}).context["form"].is_valid()
    theirs = Profile.objects.get(workspace=globex.workspace, user_id="ann")
    assert (
        member(shop)
        .get(reverse("panel:activities_stream"), {"profile": f"#{theirs.pk}"})
        .context["form"]
        .errors["profile"]
    )


def test_a_poll_is_bounded_and_its_queries_do_not_grow_with_rows(shop, segment, django_assert_max_num_queries):
    since = Activity.objects.order_by("pk").last().pk
    for i in range(60):
        track(segment, f"u{i % 3}", "tap", {"i": i})
    client = member(shop)
    with django_assert_max_num_queries(12):
        answer = client.get(reverse("panel:activities_stream_rows"), {"since": str(since)})
    assert len(stream_ids(text(answer))) == 50


# --- People ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "found"),
    [
        ("ann", {"ann"}),
        ("anon-ann", {"ann"}),
        ("ANN@shop.test", {"ann"}),
        ("+905551112233", {"ann"}),
        ("plan=pro", {"ann"}),
        ("plan=free", {"bob"}),
        ("age=41", {"ann"}),
        ("vip=true", {"ann"}),
        ("plan=gold", set()),
        ("nobody", set()),
        ("", {"ann", "bob"}),
    ],
)
def test_people_are_found_by_user_id_anonymous_id_email_phone_and_trait(shop, term, found):
    page = member(shop, Role.ANALYST).get(reverse("panel:activities_profile_changelist"), {"q": term})
    assert page.status_code == 200
    assert {p.user_id for p in page.context["cl"].result_list} == found
    if not found:
        assert "No one matches" in text(page)


def test_people_search_never_finds_another_workspaces_profile(shop, globex, client):
    other = SegmentClient(client, globex.write_key)
    identify(other, userId="carol", anonymousId="anon-carol", traits={"email": "carol@globex.test", "plan": "pro"})
    for term in ("carol", "anon-carol", "carol@globex.test", "plan=pro"):
        page = member(shop).get(reverse("panel:activities_profile_changelist"), {"q": term})
        assert "carol" not in {p.user_id for p in page.context["cl"].result_list}


def test_people_empty_state(acme):
    page = text(member(acme).get(reverse("panel:activities_profile_changelist")))
    assert "No people yet" in page


def test_people_list_has_no_bulk_delete_and_no_add(shop):
    client = member(shop, Role.OWNER)
    page = client.get(reverse("panel:activities_profile_changelist"))
    assert "delete_selected" not in text(page)
    ann = profile_of("ann")
    answer = client.post(
        reverse("panel:activities_profile_changelist"), {"action": "delete_selected", "_selected_action": [ann.pk]}
    )
    assert answer.status_code in (200, 302) and Profile.objects.filter(pk=ann.pk).exists()
    assert client.get(reverse("panel:activities_profile_add")).status_code == 403


def seed_everything(shop: Tenant, segment: SegmentClient) -> Profile:
    """Ann in a live journey, in an open abandoned-cart match, with a message and consent choices."""
    Template.objects.create(
        workspace=shop.workspace, name="post-purchase-survey", channel="sms", content={"body": "Hi"}
    )
    journey = journey_create(
        workspace=shop.workspace,
        actor=shop.owner,
        document={
            "name": "Discounts → favorites",
            "entry": {
                "type": "event",
                "event": "screen_view",
                "where": {"property": "screen_name", "op": "contains", "value": "Discounts"},
            },
            "start": "fav",
            "nodes": {
                "fav": {
                    "type": "wait_event",
                    "event": "add_to_favorites",
                    "timeout": "P3D",
                    "on_performed": "thanks",
                    "on_timeout": None,
                },
                "thanks": {"type": "send", "channel": "sms", "template": "post-purchase-survey", "next": None},
            },
        },
    )
    journey_publish(journey=journey, actor=shop.owner)
    behavior_resume(behavior=Behavior.objects.get(workspace=shop.workspace, slug="abandoned_cart"), actor=shop.owner)
    track(segment, "ann", "screen_view", {"screen_name": "Spring Discounts"})
    track(segment, "ann", "update_cart", {"sku": "A1"})
    drain()
    ann = profile_of("ann")
    profile_update(profile=ann, actor=shop.owner, tags_add=["vip"], consent={"sms:promotional": False, "email": True})
    Message.objects.create(
        workspace=shop.workspace, profile=ann, channel="email", template="welcome", idempotency_key="m-ann-1"
    )
    return ann


def test_a_profiles_page_shows_everything_about_them(shop, segment):
    ann = seed_everything(shop, segment)
    page = member(shop, Role.ANALYST).get(reverse("panel:activities_profile_change", args=[ann.pk]))
    assert page.status_code == 200
    html = text(page)
    for expected in (
        "<dt>plan</dt><dd>pro</dd>",
        "<dt>age</dt><dd>41</dd>",
        "<code>anon-ann</code>",
        "tok-ann-1234567890"[:20],
        "ios",
        'SMS · promotional: <span class="text-red-600">opted out</span>',
        'Email: <span class="text-green-600">allowed</span>',
        ">vip<",
        "Discounts → favorites",
        "Wait for",
        "Abandoned cart",
        "Waiting to see no",
        "welcome",
        "Europe/Istanbul",
    ):
        assert expected in html, expected
    journeys = page.context["journeys"]
    assert [(j["active"], j["until"] is not None) for j in journeys] == [(True, True)]
    assert {s["segment"].slug for s in page.context["segments"]} >= {"known-users", "reachable-email", "reachable-push"}
    assert "Reachable by email" in html
    assert len(stream_ids(html)) == ann.activities.count()
    # No privacy buttons for an analyst.
    assert "data-export" not in html and "data-delete" not in html


def test_an_owner_sees_export_and_delete(shop):
    html = text(member(shop, Role.OWNER).get(reverse("panel:activities_profile_change", args=[profile_of("ann").pk])))
    assert "data-export" in html and "data-delete" in html


def test_the_timeline_pages_newest_first_without_repeating(shop, segment):
    for i in range(30):
        track(segment, "bob", "tap", {"i": i}, timestamp=(NOW - timedelta(minutes=60 - i)).isoformat())
    bob = profile_of("bob")
    client = member(shop, Role.ANALYST)
    page = client.get(reverse("panel:activities_profile_change", args=[bob.pk]))
    first = stream_ids(text(page))
    assert len(first) == 25
    seen = list(first)
    older = page.context["timeline"]["older_url"]
    while older:
        nxt = client.get(older)
        seen += stream_ids(text(nxt))
        match = re.search(r'hx-get="([^"]+)"', text(nxt))
        older = match.group(1).replace("&amp;", "&") if match else None
    expected = list(bob.activities.order_by("-timestamp", "-pk").values_list("pk", flat=True))
    assert seen == expected
    taps = client.get(reverse("panel:activities_profile_change", args=[bob.pk]), {"name": "purchase"})
    assert stream_ids(text(taps)) == list(bob.activities.filter(name="purchase").values_list("pk", flat=True))


def test_a_bad_timeline_cursor_starts_at_the_newest(shop):
    bob = profile_of("bob")
    for before in ("garbage", "2026-13-01~1", "~", "2026-01-01T00:00:00+00:00~x"):
        answer = member(shop).get(reverse("panel:activities_profile_timeline", args=[bob.pk]), {"before": before})
        assert answer.status_code == 200 and len(stream_ids(text(answer))) == bob.activities.count()


def test_a_profiles_page_queries_do_not_grow_with_its_history(shop, segment, django_assert_max_num_queries):
    for i in range(40):
        track(segment, "bob", "tap", {"i": i})
    bob = profile_of("bob")
    client = member(shop)
    with django_assert_max_num_queries(40):
        assert client.get(reverse("panel:activities_profile_change", args=[bob.pk])).status_code == 200


# --- Privacy: export and deletion --------------------------------------------------------------------


def test_an_owner_exports_a_profile_as_the_api_does(shop):
    ann = profile_of("ann")
    mine = member(shop, Role.OWNER).get(reverse("panel:activities_profile_export", args=[ann.pk]))
    assert mine.status_code == 200 and mine["Content-Disposition"] == f'attachment; filename="profile-{ann.pk}.json"'
    exported = json.loads(b"".join(mine.streaming_content))
    api = Client().get(f"/api/v1/profiles/{ann.pk}/export/", **shop.auth(Role.OWNER))
    assert exported == json.loads(b"".join(api.streaming_content))
    assert exported["profile"]["user_id"] == "ann" and len(exported["activities"]) == ann.activities.count()


@pytest.mark.parametrize("role", [Role.MARKETER, Role.ANALYST])
def test_only_an_owner_exports_or_deletes(shop, role):
    ann = profile_of("ann")
    client = member(shop, role)
    assert client.get(reverse("panel:activities_profile_export", args=[ann.pk])).status_code == 403
    assert client.get(reverse("panel:activities_profile_delete", args=[ann.pk])).status_code == 403
    answer = client.post(reverse("panel:activities_profile_delete", args=[ann.pk]), {"confirm": "ann"})
    assert answer.status_code == 403 and Profile.objects.filter(pk=ann.pk).exists()


def test_deletion_names_what_goes_and_a_wrong_confirmation_deletes_nothing(shop, segment):
    ann = seed_everything(shop, segment)
    client = member(shop, Role.OWNER)
    asked = client.get(reverse("panel:activities_profile_delete", args=[ann.pk]))
    html = text(asked)
    assert asked.status_code == 200
    assert f"{ann.activities.count()} activities on the timeline" in html
    assert "1 device with" in html and "1 message in" in html and "2 journeys and behaviors in progress" in html
    before = (Activity.objects.count(), Identity.objects.count(), AuditLogEntry.objects.count())
    for typed in ("", "Ann", "bob"):
        answer = client.post(reverse("panel:activities_profile_delete", args=[ann.pk]), {"confirm": typed})
        assert answer.status_code == 400
        assert answer.context["form"].errors["confirm"]
        assert 'data-error="confirm"' in text(answer)
    assert Profile.objects.filter(pk=ann.pk).exists()
    assert (Activity.objects.count(), Identity.objects.count(), AuditLogEntry.objects.count()) == before


def test_deletion_removes_everything_and_is_audited(shop, segment):
    ann = seed_everything(shop, segment)
    pk = ann.pk
    answer = member(shop, Role.OWNER).post(reverse("panel:activities_profile_delete", args=[pk]), {"confirm": "ann"})
    assert answer.status_code == 302 and answer["Location"] == reverse("panel:activities_profile_changelist")
    assert not Profile.objects.filter(pk=pk).exists()
    assert not Activity.objects.filter(profile_id=pk).exists()
    assert not Identity.objects.filter(value__in=["ann", "anon-ann"], workspace=shop.workspace).exists()
    assert not PushDevice.objects.filter(token="tok-ann-1234567890").exists()
    assert not Message.objects.filter(profile_id=pk).exists()
    entry = AuditLogEntry.objects.filter(workspace=shop.workspace, action="deleted", object_type="profile").get()
    assert entry.object_id == str(pk) and entry.actor == shop.owner
    assert profile_of("bob").activities.exists()  # nobody else touched


@pytest.mark.parametrize("name", ["change", "timeline", "export", "delete"])
def test_another_workspaces_profile_is_404_on_every_page(shop, globex, client, name):
    other = SegmentClient(client, globex.write_key)
    identify(other, userId="carol", traits={"email": "carol@globex.test"})
    theirs = Profile.objects.get(user_id="carol")
    owner = member(shop, Role.OWNER)
    assert owner.get(reverse(f"panel:activities_profile_{name}", args=[theirs.pk])).status_code == 404
    if name == "delete":
        assert (
            owner.post(reverse("panel:activities_profile_delete", args=[theirs.pk]), {"confirm": "carol"}).status_code
            == 404
        )
        assert Profile.objects.filter(pk=theirs.pk).exists()


def test_a_merged_profile_is_not_shown(shop):
    ann = profile_of("ann")
    ghost = Profile.objects.create(workspace=shop.workspace, merged_into=ann)
    assert member(shop).get(reverse("panel:activities_profile_change", args=[ghost.pk])).status_code == 404


@pytest.mark.parametrize(
    "name", ["activities_trackedactivity_changelist", "activities_stream", "activities_profile_changelist"]
)
def test_someone_logged_out_is_sent_to_log_in(name):
    answer = Client().get(reverse(f"panel:{name}"))
    assert answer.status_code == 302 and answer["Location"].startswith("/login/")


def test_the_sidebar_links_activities_stream_and_people(shop):
    html = text(member(shop, Role.ANALYST).get(reverse("panel:index")))
    for name in ("activities_trackedactivity_changelist", "activities_stream", "activities_profile_changelist"):
        assert reverse(f"panel:{name}") in html


def test_lists_show_times_in_the_workspaces_timezone(shop, globex):
    shop.workspace.timezone = "Asia/Tokyo"
    shop.workspace.save(update_fields=["timezone"])
    ann = profile_of("ann")
    tokyo = ann.last_seen.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M")
    people = text(member(shop).get(reverse("panel:activities_profile_changelist")))
    assert tokyo in people
    tracked = TrackedActivity.objects.get(workspace=shop.workspace, name="purchase")
    listing = text(member(shop).get(reverse("panel:activities_trackedactivity_changelist")))
    assert tracked.last_seen.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M") in listing
    assert "Times in Asia/Tokyo" in listing
