"""The Reports page: messages per channel counted at every stage they reached, journeys' entries and
conversions from the counters, the top activities, all within the date range (the workspace's days),
each table as CSV; a bad range is an error at its field; only the member's workspace is counted."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

import pytest
import time_machine
from django.test import Client

from activities.models import Activity, Profile
from journeys.models import JourneyStat, JourneyVersion
from journeys.services import journey_create
from messaging.models import Message, MessageStatus
from tests.personas import Tenant
from workspaces.models import Role

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _message(tenant: Tenant, profile: Profile, channel: str, status: str, at: datetime) -> None:
    with time_machine.travel(at, tick=False):
        Message.objects.create(
            workspace=tenant.workspace,
            profile=profile,
            channel=channel,
            status=status,
            idempotency_key=f"{tenant.workspace.pk}-{channel}-{status}-{at}",
        )


def _stat(tenant: Tenant, name: str, day: date, entered: int, converted: int) -> None:
    journey = journey_create(workspace=tenant.workspace, actor=tenant.owner, document={"name": name})
    version = JourneyVersion.objects.create(journey=journey, number=1, document={"name": name})
    JourneyStat.objects.create(journey=journey, version=version, day=day, metric="entered", count=entered)
    JourneyStat.objects.create(journey=journey, version=version, day=day, metric="converted", count=converted)


@pytest.fixture
def data(acme: Tenant, globex: Tenant) -> Tenant:
    for tenant in (acme, globex):
        ann = Profile.objects.create(workspace=tenant.workspace, user_id="ann", first_seen=NOW, last_seen=NOW)
        for status in (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.OPENED, MessageStatus.FAILED):
            _message(tenant, ann, "email", status, datetime(2026, 11, 18, 9, tzinfo=UTC))
        _message(tenant, ann, "sms", MessageStatus.CLICKED, datetime(2026, 11, 19, 9, tzinfo=UTC))
        _message(tenant, ann, "sms", MessageStatus.SUPPRESSED, datetime(2026, 11, 19, 9, tzinfo=UTC))
        _message(tenant, ann, "sms", MessageStatus.SENT, datetime(2026, 10, 1, 9, tzinfo=UTC))  # before the range
        for i, name in enumerate(["purchase", "purchase", "screen_view", "purchase"]):
            Activity.objects.create(
                workspace=tenant.workspace,
                profile=ann,
                name=name,
                timestamp=datetime(2026, 11, 18, 10, i, tzinfo=UTC),
                received_at=NOW,
                message_id=f"{tenant.workspace.pk}-{i}",
            )
    _stat(acme, "Winback", date(2026, 11, 18), entered=10, converted=4)
    _stat(acme, "Welcome", date(2026, 11, 19), entered=3, converted=0)
    _stat(globex, "Theirs", date(2026, 11, 18), entered=99, converted=99)
    return acme


def _get(tenant: Tenant, query: str = "", role: str = Role.ANALYST) -> Any:
    client = Client()
    client.force_login(tenant.members[role])
    return client.get(f"/reports/{query}")


def test_the_report_counts_every_stage_reached_within_the_range_of_the_members_workspace(data):
    response = _get(data, "?since=2026-11-01&until=2026-11-20")
    assert response.status_code == 200
    report = response.context["report"]
    assert report.messages == [
        {"channel": "email", "sent": 3, "delivered": 2, "opened": 1, "clicked": 0, "failed": 1, "suppressed": 0},
        {"channel": "sms", "sent": 1, "delivered": 1, "opened": 1, "clicked": 1, "failed": 0, "suppressed": 1},
    ]
    assert report.messages_per_day == {"email": {date(2026, 11, 18): 3}, "sms": {date(2026, 11, 19): 1}}
    assert [(r["name"], r["entered"], r["converted"]) for r in report.journeys] == [
        ("Winback", 10, 4),
        ("Welcome", 3, 0),
    ]
    assert report.activities == [("purchase", 3), ("screen_view", 1)]
    assert "Theirs" not in response.content.decode()


def test_each_table_downloads_as_csv(data):
    answer = _get(data, "?since=2026-11-01&until=2026-11-20&download=journeys")
    assert answer["Content-Type"].startswith("text/csv")
    assert 'filename="nudge-journeys-2026-11-01-2026-11-20.csv"' in answer["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(answer.content.decode())))
    assert rows == [
        ["journey", "entered", "converted", "conversion_rate"],
        ["Winback", "10", "4", "0.4000"],
        ["Welcome", "3", "0", "0.0000"],
    ]
    messages = list(
        csv.reader(io.StringIO(_get(data, "?since=2026-11-01&until=2026-11-20&download=messages").content.decode()))
    )
    assert messages[0] == ["channel", "sent", "delivered", "opened", "clicked", "failed", "suppressed"]
    assert messages[1] == ["email", "3", "2", "1", "0", "1", "0"]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("?since=2026-11-20&until=2026-11-01", "until", "The end must not be before the start."),
        ("?since=2025-01-01&until=2026-11-01", "until", "at most 180 days"),
        ("?since=yesterday&until=2026-11-01", "since", "Enter a valid date."),
        ("?since=2026-11-01", "until", "This field is required."),
    ],
)
def test_a_bad_range_is_an_error_at_its_field(data, query, field, message):
    answer = _get(data, query)
    assert answer.status_code == 400
    assert any(message in e for e in answer.context["form"].errors[field])
    assert _get(data, query + "&download=messages")["Content-Type"].startswith("text/html")  # no CSV of a bad range


def test_reports_need_a_member(client, data):
    assert client.get("/reports/").status_code == 302
