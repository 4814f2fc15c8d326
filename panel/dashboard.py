"""The dashboard: a workspace at a glance — profiles, activities today, live journeys, messages sent and
conversions — with the last 30 days as charts. Journey numbers come from the daily counters (no scans);
activities per day from the activity index, cached for a few minutes."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from activities.models import Activity, Profile
from journeys.models import Journey, JourneyStat, JourneyStatus
from messaging.models import Message, MessageStatus
from workspaces.models import Workspace

DAYS = 30


def _days(today: date) -> list[date]:
    return [today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]


def _activities_per_day(workspace: Workspace, since: date) -> dict[date, int]:
    key = f"panel:activities-per-day:{workspace.pk}:{since.isoformat()}"
    found = cache.get(key)
    if found is None:
        rows = (
            Activity.objects.filter(workspace=workspace, timestamp__date__gte=since)
            .annotate(day=TruncDate("timestamp"))
            .values("day")
            .annotate(n=Count("pk"))
        )
        found = {row["day"]: row["n"] for row in rows}
        cache.set(key, found, timeout=300)
    return found


def _stats_per_day(workspace: Workspace, since: date, metric: str) -> dict[date, int]:
    rows = (
        JourneyStat.objects.filter(journey__workspace=workspace, day__gte=since, metric=metric)
        .exclude(journey__behavior__isnull=False)
        .values("day")
        .annotate(n=Sum("count"))
    )
    return {row["day"]: int(row["n"]) for row in rows}


def chart(labels: list[str], series: list[tuple[str, list[int], str]]) -> str:
    """Chart.js data for unfold's chart components: labels and (name, values, colour) series."""
    return json.dumps(
        {
            "labels": labels,
            "datasets": [
                {"label": name, "data": values, "backgroundColor": colour, "borderColor": colour}
                for name, values, colour in series
            ],
        }
    )


def dashboard_context(workspace: Workspace) -> dict[str, Any]:
    now = timezone.now()
    today = now.date()
    days = _days(today)
    since = days[0]
    activities = _activities_per_day(workspace, since)
    entered = _stats_per_day(workspace, since, "entered")
    converted = _stats_per_day(workspace, since, "converted")
    sent = (
        Message.objects.filter(workspace=workspace, created_at__date__gte=since)
        .filter(status__in=(MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.OPENED, MessageStatus.CLICKED))
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("pk"))
    )
    sent_per_day = {row["day"]: row["n"] for row in sent}
    labels = [day.strftime("%b %d") for day in days]
    return {
        "workspace": workspace,
        "kpis": [
            ("Profiles", Profile.objects.live().filter(workspace=workspace).count(), "group"),
            ("Activities today", activities.get(today, 0), "bolt"),
            (
                "Live journeys",
                Journey.objects.filter(workspace=workspace, status=JourneyStatus.LIVE, behavior__isnull=True).count(),
                "route",
            ),
            (f"Messages sent ({DAYS} days)", sum(sent_per_day.values()), "send"),
            (f"Conversions ({DAYS} days)", sum(converted.values()), "flag"),
        ],
        "activity_chart": chart(labels, [("Activities", [activities.get(d, 0) for d in days], "#7c3aed")]),
        "journey_chart": chart(
            labels,
            [
                ("Entries", [entered.get(d, 0) for d in days], "#a78bfa"),
                ("Conversions", [converted.get(d, 0) for d in days], "#16a34a"),
            ],
        ),
        "message_chart": chart(labels, [("Messages sent", [sent_per_day.get(d, 0) for d in days], "#0ea5e9")]),
    }
