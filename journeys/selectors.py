"""Reads of journeys and enrollments shared by the API, the panel and the tests."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import orjson
from django.db.models import Count, Sum

from journeys.models import Enrollment, Journey, JourneyStat, JourneyStatus

RUNNING = (JourneyStatus.LIVE, JourneyStatus.SCHEDULED, JourneyStatus.PAUSED)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def journeys_sending(*, workspace_id: int, channel: str, template: str) -> list[Journey]:
    """Running journeys (live, scheduled or paused) whose live version has a step sending this template:
    what would fail to send without it. Drafts are not counted: their Launch names a missing template."""
    running = Journey.objects.filter(workspace_id=workspace_id, status__in=RUNNING, live_version__isnull=False)
    found = []
    for journey in running.select_related("live_version").order_by("name", "pk"):
        assert journey.live_version is not None
        nodes = (journey.live_version.document or {}).get("nodes")
        steps = nodes.values() if isinstance(nodes, dict) else ()
        if any(
            isinstance(n, dict)
            and n.get("type") == "send"
            and n.get("channel") == channel
            and n.get("template") == template
            for n in steps
        ):
            found.append(journey)
    return found


def journeys_naming_activity(*, workspace_id: int, name: str) -> list[Journey]:
    """Running journeys (behaviors' own aside) whose live version names this activity anywhere — entry,
    conversion, a state, a condition: what would never move again without it."""
    quoted = orjson.dumps(name)
    running = Journey.objects.filter(
        workspace_id=workspace_id, status__in=RUNNING, live_version__isnull=False, behavior__isnull=True
    )
    found = []
    for journey in running.select_related("live_version").order_by("name", "pk"):
        assert journey.live_version is not None
        if quoted in orjson.dumps(journey.live_version.document):  # a string value equal to the name
            found.append(journey)
    return found


def enrollments_report(*, journey_id: int, profile_id: int) -> list[dict[str, Any]]:
    """A profile's entries into a journey in the simulator's shape (§8.8), so live and simulated runs
    compare directly."""
    rows = Enrollment.objects.filter(journey_id=journey_id, profile_id=profile_id).order_by("entered_at", "pk")
    report = []
    for enrollment in rows.prefetch_related("messages"):
        steps = {(step["node"]): step["at"] for step in enrollment.path}
        report.append(
            {
                "entered_at": _iso(enrollment.entered_at),
                "converted_at": _iso(enrollment.converted_at),
                "exit": {"at": _iso(enrollment.exit_at), "reason": enrollment.exit_reason}
                if enrollment.exit_at is not None
                else None,
                "path": [
                    {"at": _iso(datetime.fromisoformat(s["at"])), "node": s["node"], "outcome": s["outcome"]}
                    for s in enrollment.path
                ],
                "messages": [
                    {
                        "at": _iso(datetime.fromisoformat(steps[m.node])) if m.node in steps else None,
                        "node": m.node,
                        "channel": m.channel,
                        "template": m.template,
                    }
                    for m in sorted(enrollment.messages.all(), key=lambda m: m.pk)
                ],
            }
        )
    return report


def _node() -> dict[str, Any]:
    # message_statuses: what became of the node's messages (sent, delivered, opened, clicked, failed,
    # suppressed, deferred), counted as it happens.
    return {"entered": 0, "waiting": 0, "edges": {}, "messages": 0, "message_statuses": {}}


def journey_analytics(
    *, journey: Journey, version_number: int | None = None, since: date | None = None, until: date | None = None
) -> dict[str, Any]:
    """§8.7: totals and per-day counts from the counters, plus who is inside now (index reads only)."""
    stats = JourneyStat.objects.filter(journey=journey)
    enrollments = Enrollment.objects.filter(journey=journey)
    if version_number is not None:
        stats = stats.filter(version__number=version_number)
        enrollments = enrollments.filter(version__number=version_number)
    if since is not None:
        stats = stats.filter(day__gte=since)
    if until is not None:
        stats = stats.filter(day__lte=until)
    totals: dict[str, Any] = {"entered": 0, "converted": 0, "exits": {}}
    nodes: dict[str, dict[str, Any]] = {}
    per_day: dict[str, dict[str, int]] = {}
    rows = stats.values_list("day", "metric", "node", "outcome").annotate(total=Sum("count")).order_by("day")
    for day, metric, node, outcome, total in rows:
        daily = per_day.setdefault(day.isoformat(), {"entered": 0, "converted": 0, "exited": 0})
        if metric in ("entered", "converted"):
            totals[metric] += total
            daily[metric] += total
        elif metric == "exited":
            totals["exits"][outcome] = totals["exits"].get(outcome, 0) + total
            daily["exited"] += total
        else:
            entry = nodes.setdefault(node, _node())
            if metric == "node_entered":
                entry["entered"] += total
            elif metric == "edge":
                entry["edges"][outcome] = entry["edges"].get(outcome, 0) + total
            elif metric == "message":
                entry["messages"] += total
            elif metric == "message_status":
                entry["message_statuses"][outcome] = entry["message_statuses"].get(outcome, 0) + total
    for node, waiting in (
        enrollments.filter(exit_at__isnull=True, node__isnull=False).values_list("node").annotate(n=Count("pk"))
    ):
        nodes.setdefault(node, _node())["waiting"] = waiting
    totals["active"] = enrollments.filter(exit_at__isnull=True).count()
    totals["unique_profiles"] = enrollments.values("profile").distinct().count()
    totals["conversion_rate"] = round(totals["converted"] / totals["entered"], 4) if totals["entered"] else 0.0
    return {
        "totals": totals,
        "nodes": nodes,
        "per_day": [{"day": day, **counts} for day, counts in sorted(per_day.items())],
    }
