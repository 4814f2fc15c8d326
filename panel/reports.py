"""Reports: what the workspace's messages became per channel, journeys' entries and conversions, and the
top activities, over a date range (the workspace's days), as charts and tables with a CSV download of
each. Journey numbers come from the daily counters; messages and activities from their
(workspace, time) indexes, bounded by the range (at most MAX_DAYS) and cached for a few minutes."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.core.cache import cache
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from unfold.widgets import UnfoldAdminTextInputWidget

from activities.models import Activity
from journeys.models import JourneyStat
from messaging.models import Message, MessageStatus
from panel.access import current_membership
from panel.dashboard import chart
from segments.words import CHANNEL_WORDS, event_words
from workspaces.models import Workspace

MAX_DAYS = 180
TOP_ACTIVITIES = 20
# A message counts for every stage it reached: an opened email was also sent and delivered.
STAGES: dict[str, tuple[str, ...]] = {
    "sent": (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.OPENED, MessageStatus.CLICKED),
    "delivered": (MessageStatus.DELIVERED, MessageStatus.OPENED, MessageStatus.CLICKED),
    "opened": (MessageStatus.OPENED, MessageStatus.CLICKED),
    "clicked": (MessageStatus.CLICKED,),
    "failed": (MessageStatus.FAILED,),
    "suppressed": (MessageStatus.SUPPRESSED,),
}
COLOURS = ["#7c3aed", "#0ea5e9", "#16a34a", "#f59e0b", "#dc2626", "#64748b"]
TABLES = ("messages", "journeys", "activities")


class RangeForm(forms.Form):
    since = forms.DateField(label="From", widget=UnfoldAdminTextInputWidget(attrs={"type": "date"}))
    until = forms.DateField(label="To", widget=UnfoldAdminTextInputWidget(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        since, until = data.get("since"), data.get("until")
        if since and until:
            if until < since:
                self.add_error("until", "The end must not be before the start.")
            elif (until - since).days + 1 > MAX_DAYS:
                self.add_error("until", f"A report covers at most {MAX_DAYS} days.")
        return data


@dataclass(frozen=True)
class Report:
    days: list[date]
    messages: list[dict[str, Any]]  # per channel: the stages' totals
    messages_per_day: dict[str, dict[date, int]]  # channel → day → sent
    journeys: list[dict[str, Any]]
    journeys_per_day: dict[str, dict[date, int]]  # "entered" / "converted" → day → count
    activities: list[tuple[str, int]]


def _bounds(workspace: Workspace, since: date, until: date) -> tuple[datetime, datetime]:
    """The range's first and last instant, in the workspace's time zone."""
    zone = ZoneInfo(workspace.timezone)
    return datetime.combine(since, time.min, zone), datetime.combine(until + timedelta(days=1), time.min, zone)


def report_build(workspace: Workspace, since: date, until: date) -> Report:
    start, end = _bounds(workspace, since, until)
    zone = ZoneInfo(workspace.timezone)
    days = [since + timedelta(days=i) for i in range((until - since).days + 1)]

    messages = Message.objects.filter(workspace=workspace, created_at__gte=start, created_at__lt=end)
    by_status = messages.values_list("channel", "status").annotate(n=Count("pk"))
    totals: dict[str, dict[str, int]] = {}
    for channel, status, n in by_status:
        row = totals.setdefault(channel, dict.fromkeys(STAGES, 0))
        for stage, statuses in STAGES.items():
            if status in statuses:
                row[stage] += n
    sent_days = (
        messages.filter(status__in=STAGES["sent"])
        .annotate(day=TruncDate("created_at", tzinfo=zone))
        .values_list("channel", "day")
        .annotate(n=Count("pk"))
    )
    per_day: dict[str, dict[date, int]] = {}
    for channel, day, n in sent_days:
        per_day.setdefault(channel, {})[day] = n

    stats = JourneyStat.objects.filter(
        journey__workspace=workspace, journey__behavior__isnull=True, day__gte=since, day__lte=until
    ).filter(metric__in=("entered", "converted"))
    journeys: dict[int, dict[str, Any]] = {}
    for journey_id, name, metric, n in stats.values_list("journey_id", "journey__name", "metric").annotate(
        n=Sum("count")
    ):
        journey_row = journeys.setdefault(journey_id, {"name": name, "entered": 0, "converted": 0})
        journey_row[metric] += int(n)
    for journey_row in journeys.values():
        journey_row["rate"] = journey_row["converted"] / journey_row["entered"] if journey_row["entered"] else None
    journey_days: dict[str, dict[date, int]] = {"entered": {}, "converted": {}}
    for day, metric, n in stats.values_list("day", "metric").annotate(n=Sum("count")):
        journey_days[metric][day] = int(n)

    key = f"panel:report-activities:{workspace.pk}:{since}:{until}"
    top = cache.get(key)
    if top is None:
        rows = (
            Activity.objects.filter(workspace=workspace, timestamp__gte=start, timestamp__lt=end)
            .values_list("name")
            .annotate(n=Count("pk"))
            .order_by("-n", "name")[:TOP_ACTIVITIES]
        )
        top = [(name, n) for name, n in rows]
        cache.set(key, top, timeout=300)

    return Report(
        days=days,
        messages=[{"channel": channel, **row} for channel, row in sorted(totals.items())],
        messages_per_day=per_day,
        journeys=sorted(journeys.values(), key=lambda row: (-row["entered"], row["name"])),
        journeys_per_day=journey_days,
        activities=top,
    )


def _csv(name: str, header: list[str], rows: list[list[Any]], since: date, until: date) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="nudge-{name}-{since}-{until}.csv"'
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(rows)
    return response


def download(report: Report, table: str, since: date, until: date) -> HttpResponse:
    if table == "messages":
        stages = list(STAGES)
        rows = [[row["channel"], *(row[s] for s in stages)] for row in report.messages]
        return _csv(table, ["channel", *stages], rows, since, until)
    if table == "journeys":
        rows = [
            [row["name"], row["entered"], row["converted"], "" if row["rate"] is None else f"{row['rate']:.4f}"]
            for row in report.journeys
        ]
        return _csv(table, ["journey", "entered", "converted", "conversion_rate"], rows, since, until)
    return _csv(table, ["activity", "count"], [[name, n] for name, n in report.activities], since, until)


def reports_view(request: HttpRequest, site: Any) -> HttpResponse:
    membership = current_membership(request)
    assert membership is not None  # the site admits members only
    workspace = membership.workspace
    today = timezone.localtime(timezone.now(), ZoneInfo(workspace.timezone)).date()
    default = {"since": today - timedelta(days=29), "until": today}
    form = RangeForm(request.GET if "since" in request.GET or "until" in request.GET else None, initial=default)
    status = 200
    if form.is_bound and not form.is_valid():
        since, until, status = default["since"], default["until"], 400
    elif form.is_bound:
        since, until = form.cleaned_data["since"], form.cleaned_data["until"]
    else:
        since, until = default["since"], default["until"]
    report = report_build(workspace, since, until)
    table = request.GET.get("download", "")
    if table in TABLES and status == 200:
        return download(report, table, since, until)
    labels = [day.strftime("%b %d") for day in report.days]
    channels = sorted(report.messages_per_day)
    context = {
        **site.each_context(request),
        "title": "Reports",
        "form": form,
        "since": since,
        "until": until,
        "zone": workspace.timezone,
        "report": report,
        "stages": list(STAGES),
        "message_rows": [
            {
                **row,
                "label": "SMS"
                if row["channel"] == "sms"
                else CHANNEL_WORDS.get(row["channel"], row["channel"]).capitalize(),
            }
            for row in report.messages
        ],
        "activities": [(name, event_words(name), n) for name, n in report.activities],
        "query": f"since={since}&until={until}",
        "messages_chart": chart(
            labels,
            [
                (
                    f"{CHANNEL_WORDS.get(c, c)} sent",
                    [report.messages_per_day[c].get(d, 0) for d in report.days],
                    COLOURS[i % 6],
                )
                for i, c in enumerate(channels)
            ],
        ),
        "journeys_chart": chart(
            labels,
            [
                ("Entries", [report.journeys_per_day["entered"].get(d, 0) for d in report.days], "#a78bfa"),
                ("Conversions", [report.journeys_per_day["converted"].get(d, 0) for d in report.days], "#16a34a"),
            ],
        ),
    }
    return TemplateResponse(request, "panel/reports.html", context, status=status)
