"""A batch's plain history counts, read ahead in one statement, answer exactly what the per-profile
statement answers, and only what they cover."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from activities.models import Activity, Profile
from journeys.live import version_histories
from journeys.services import journey_create, journey_publish
from journeys.subject import BatchHistory, ProfileSubject
from segments.durations import Duration

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_counts_read_ahead_equal_the_per_profile_statement(acme):
    rng = random.Random(5)
    profiles = [Profile.objects.create(workspace=acme.workspace, user_id=f"u{i}") for i in range(6)]
    Activity.objects.bulk_create(
        Activity(
            workspace=acme.workspace,
            profile=rng.choice(profiles),
            name=rng.choice(["purchase", "view", "behavior:cart"]),
            type="track",
            timestamp=NOW - timedelta(hours=rng.randrange(0, 24 * 20)),
            received_at=NOW,
            message_id=f"m{i}",
        )
        for i in range(400)
    )
    bounds = {"purchase": NOW - timedelta(days=7), "behavior:cart": NOW - timedelta(days=2)}
    ahead = BatchHistory.read([p.pk for p in profiles], bounds)
    asked = 0
    for profile in profiles:
        plain = ProfileSubject(profile)
        for name in ("purchase", "behavior:cart", "view"):
            for days in (0.5, 1, 2, 3, 7, 10):
                since, until = NOW - timedelta(days=days), NOW - timedelta(hours=rng.randrange(0, 12))
                answered = ahead.count(profile.pk, name, since, until)
                if name == "view" or since < bounds[name]:
                    assert answered is None  # not covered: the subject asks the database
                    continue
                asked += 1
                assert answered == plain.count(name, None, since, until), (profile.pk, name, days)
                assert ProfileSubject(profile, history=ahead).count(name, None, since, until) == answered
    assert asked > 20


@pytest.mark.django_db
def test_a_profile_without_those_activities_counts_zero_and_an_empty_batch_reads_nothing(acme):
    ann = Profile.objects.create(workspace=acme.workspace, user_id="ann")
    ahead = BatchHistory.read([ann.pk], {"purchase": NOW - timedelta(days=1)})
    assert ahead.count(ann.pk, "purchase", NOW - timedelta(hours=1), NOW) == 0
    with CaptureQueriesContext(connection) as queries:
        assert BatchHistory.read([], {"purchase": NOW}).count(ann.pk, "purchase", NOW, NOW) == 0
        BatchHistory.read([ann.pk], {})
    assert len(queries) == 0


@pytest.mark.django_db
def test_a_version_reads_ahead_the_plain_history_conditions_of_its_branches(acme):
    recently = {
        "all": [{"performed": "purchase", "within": "P1D"}, {"not": {"not_performed": "view", "within": "PT2H"}}]
    }
    document = {
        "name": "Branchy",
        "entry": {"type": "event", "event": "signup"},
        "start": "check",
        "nodes": {
            "check": {
                "type": "branch",
                "branches": [
                    {"if": recently, "next": None},
                    {"if": {"performed": "refund", "where": [{"property": "x", "op": "eq", "value": 1}]}, "next": None},
                    {"if": {"performed": "*", "within": "P1D"}, "next": None},
                    {"if": {"performed": "open", "count": {"op": "gte", "value": 2}}, "next": None},
                ],
                "else": None,
            }
        },
    }
    version = journey_publish(
        journey=journey_create(workspace=acme.workspace, actor=None, document=document), actor=None
    )
    # Filtered, any-activity and windowless history leaves are left to the per-profile statement.
    assert sorted(version_histories(version.pk), key=lambda pair: pair[0]) == [
        ("purchase", Duration.parse("P1D")),
        ("view", Duration.parse("PT2H")),
    ]
