"""The membership refresh: only the difference is written, the first compute of a rule is silent,
joins and leaves become activities when the segment asks, concurrent refreshes never double anything;
the ready-made segments; merges."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta

import pytest
from django.apps import apps
from django.db import connection

from activities.models import Activity, Identity, IdentityKind, Profile
from segments import selectors, services
from segments.builtin import BUILTIN
from segments.models import Membership, Segment, SegmentSize
from tests.conftest import in_parallel
from workspaces.models import Workspace


def _people(workspace, plans: dict[str, str]) -> dict[str, Profile]:
    found = {}
    for user, plan in plans.items():
        profile = Profile.objects.create(workspace=workspace, user_id=user, traits={"plan": plan})
        Identity.objects.create(workspace=workspace, kind=IdentityKind.USER_ID, value=user, profile=profile)
        found[user] = profile
    return found


def _pro(workspace, **extra) -> Segment:
    return services.segment_create(
        workspace=workspace,
        actor=None,
        data={"name": "Pro", "slug": "pro", "rule": {"trait": "plan", "op": "eq", "value": "pro"}, **extra},
    )


def _members(segment: Segment) -> set[str]:
    return set(Membership.objects.filter(segment=segment).values_list("profile__user_id", flat=True))


@pytest.mark.django_db
def test_only_the_difference_is_written_and_the_first_compute_is_silent(acme):
    people = _people(acme.workspace, {"ann": "pro", "bob": "pro", "cem": "free"})
    pro = _pro(acme.workspace, record_changes=True)
    first = services.segment_refresh(segment_id=pro.pk)
    assert (first.size, first.entered, first.exited, first.silent) == (2, 2, 0, True)
    assert _members(pro) == {"ann", "bob"}
    assert not Activity.objects.filter(name__startswith="segment_").exists()  # never for the first compute
    kept = Membership.objects.get(segment=pro, profile=people["ann"])

    Profile.objects.filter(pk=people["bob"].pk).update(traits={"plan": "free"})
    Profile.objects.filter(pk=people["cem"].pk).update(traits={"plan": "pro"})
    later = datetime.now(UTC) + timedelta(minutes=5)
    second = services.segment_refresh(segment_id=pro.pk, now=later)
    assert (second.size, second.entered, second.exited, second.silent) == (2, 1, 1, False)
    assert _members(pro) == {"ann", "cem"}
    assert Membership.objects.get(segment=pro, profile=people["ann"]) == kept  # untouched: same row, same since
    assert Membership.objects.get(segment=pro, profile=people["ann"]).since == kept.since
    assert Membership.objects.get(segment=pro, profile=people["cem"]).since == later
    changes = sorted(Activity.objects.filter(name__startswith="segment_").values_list("name", "profile__user_id"))
    assert changes == [("segment_entered", "cem"), ("segment_exited", "bob")]
    entered = Activity.objects.get(name="segment_entered")
    assert entered.properties == {"segment": "pro", "segment_id": pro.pk, "segment_name": "Pro"}
    assert entered.timestamp == later

    third = services.segment_refresh(segment_id=pro.pk)
    assert (third.entered, third.exited) == (0, 0)
    assert Activity.objects.filter(name__startswith="segment_").count() == 2  # nothing doubled
    assert list(SegmentSize.objects.filter(segment=pro).order_by("pk").values_list("size", "entered", "exited")) == [
        (2, 2, 0),
        (2, 1, 1),
        (2, 0, 0),
    ]


@pytest.mark.django_db
def test_a_rule_edit_recomputes_silently(acme):
    _people(acme.workspace, {"ann": "pro", "bob": "free"})
    pro = _pro(acme.workspace, record_changes=True)
    services.segment_refresh(segment_id=pro.pk)
    services.segment_update(segment=pro, actor=None, data={"rule": {"trait": "plan", "op": "eq", "value": "free"}})
    refreshed = services.segment_refresh(segment_id=pro.pk)
    assert (refreshed.entered, refreshed.exited, refreshed.silent) == (1, 1, True)
    assert _members(pro) == {"bob"}
    assert not Activity.objects.filter(name__startswith="segment_").exists()
    services.segment_update(segment=pro, actor=None, data={"name": "Free"})  # no rule change: no recompute due
    pro.refresh_from_db()
    assert pro.computed_version == pro.rule_version


@pytest.mark.django_db
def test_the_periodic_refresh_takes_stale_segments_only(acme, settings):
    _people(acme.workspace, {"ann": "pro"})
    pro = _pro(acme.workspace)
    builtin = Segment.objects.filter(workspace=acme.workspace, builtin=True).count()
    now = datetime.now(UTC)
    assert services.segments_refresh_due(now=now) == builtin + 1  # every rule never computed
    assert services.segments_refresh_due(now=now + timedelta(seconds=10)) == 0
    later = now + timedelta(seconds=settings.NUDGE_SEGMENT_REFRESH_SECONDS + 1)
    assert services.segments_refresh_due(now=later) == builtin + 1
    pro.refresh_from_db()
    assert (pro.size, pro.refreshed_at, pro.refresh_error) == (1, later, "")


@pytest.mark.django_db
def test_a_refresh_that_takes_too_long_is_given_up_and_says_so(acme, settings):
    _people(acme.workspace, {"ann": "pro"})
    pro = _pro(acme.workspace)
    settings.NUDGE_SEGMENT_REFRESH_TIMEOUT_SECONDS = 0.001  # a millisecond: PostgreSQL cancels it
    Profile.objects.bulk_create(Profile(workspace=acme.workspace, traits={"plan": "pro"}) for _ in range(20_000))
    assert services.segment_refresh(segment_id=pro.pk) is None
    pro.refresh_from_db()
    assert "statement timeout" in pro.refresh_error and pro.refreshed_at is not None
    assert not Membership.objects.filter(segment=pro).exists()  # nothing half-written
    settings.NUDGE_SEGMENT_REFRESH_TIMEOUT_SECONDS = 200
    assert services.segment_refresh(segment_id=pro.pk).size == 20_001


@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_write_each_change_once(acme):
    people = _people(acme.workspace, {f"p{i}": "pro" for i in range(30)})
    pro = _pro(acme.workspace, record_changes=True)
    services.segment_refresh(segment_id=pro.pk)
    Profile.objects.filter(pk__in=[p.pk for p in list(people.values())[:10]]).update(traits={"plan": "free"})
    results = in_parallel(4, lambda _: services.segment_refresh(segment_id=pro.pk))
    done = [r for r in results if r is not None]
    assert sum(r.exited for r in done) == 10  # whoever ran, each leave was seen once
    assert len(_members(pro)) == 20
    assert Activity.objects.filter(name="segment_exited").count() == 10


@pytest.mark.django_db
def test_the_portable_difference_agrees_with_the_postgres_statement(acme):
    """The SQLite path (computed in Python) run here against the same rows as the one-statement path."""
    people = _people(acme.workspace, {"ann": "pro", "bob": "pro", "cem": "free"})
    pro = _pro(acme.workspace)
    services.segment_refresh(segment_id=pro.pk)
    Profile.objects.filter(pk=people["bob"].pk).update(traits={})
    Profile.objects.filter(pk=people["cem"].pk).update(traits={"plan": "PRO"})
    rule = selectors.segment_rule(pro)
    query = selectors.matching(acme.workspace.pk, rule)
    difference = services._difference_portable(pro, query, datetime.now(UTC))
    assert (difference.size, difference.entered, difference.exited) == (2, [people["cem"].pk], [people["bob"].pk])
    assert _members(pro) == {"ann", "cem"}
    assert connection.vendor == "postgresql"


@pytest.mark.django_db
def test_every_workspace_starts_with_the_ready_made_segments_and_they_all_compute(acme):
    slugs = set(Segment.objects.filter(workspace=acme.workspace, builtin=True).values_list("slug", flat=True))
    assert slugs == {d["slug"] for d in BUILTIN}
    for segment in Segment.objects.filter(workspace=acme.workspace, builtin=True):
        assert services.segment_refresh(segment_id=segment.pk) is not None, segment.slug
        segment.refresh_from_db()
        assert segment.refresh_error == ""
    mine = Segment.objects.get(workspace=acme.workspace, slug="purchasers-30d")  # an editable copy
    services.segment_update(segment=mine, actor=None, data={"rule": {"performed": "purchase", "within": "P7D"}})
    assert Segment.objects.get(pk=mine.pk).rule["within"] == "P7D"


@pytest.mark.django_db
def test_the_data_migration_gives_older_workspaces_the_ready_made_segments():
    older = Workspace.objects.create(name="Older", slug="older")
    migration = importlib.import_module("segments.migrations.0002_builtin_segments")
    migration.install(apps, None)
    migration.install(apps, None)  # twice: nothing doubled
    assert Segment.objects.filter(workspace=older, builtin=True).count() == len(BUILTIN)


@pytest.mark.django_db
def test_a_merge_moves_list_memberships_and_drops_rule_ones_without_an_exit(acme):
    from django.test import Client

    from tests.conftest import SegmentClient

    segment = SegmentClient(Client(), acme.write_key)
    segment.post("/v1/track", {"anonymousId": "anon-1", "event": "viewed", "properties": {}})
    anonymous = Profile.objects.get(workspace=acme.workspace, identities__value="anon-1")
    beta = services.segment_create(workspace=acme.workspace, actor=None, data={"name": "Beta", "kind": "list"})
    Membership.objects.create(segment=beta, profile=anonymous, since=datetime.now(UTC))
    seen = Segment.objects.get(workspace=acme.workspace, slug="new-users-7d")
    Membership.objects.create(segment=seen, profile=anonymous, since=datetime.now(UTC))
    segment.post("/v1/identify", {"anonymousId": "anon-1", "userId": "ann"})
    ann = Profile.objects.get(workspace=acme.workspace, user_id="ann")
    assert ann.pk != anonymous.pk
    assert list(Membership.objects.filter(profile=ann).values_list("segment__slug", flat=True)) == ["beta"]
    assert not Membership.objects.filter(profile=anonymous).exists()
    assert not Activity.objects.filter(name__startswith="segment_").exists()
