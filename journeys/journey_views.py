"""A published journey's pages in the panel: the live page (the drawn flow with its counts, totals,
entries and conversions per day, the versions and the audit trail, lifecycle buttons) and the
simulator (test profiles and timestamped events through the engine on a virtual clock, each
profile's path drawn on the flow; nothing stored or sent)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from journeys import services
from journeys.flow import FlowCounts, flow_layout, flow_svg
from journeys.models import Journey, JourneyStatus
from journeys.selectors import journey_analytics
from panel.dashboard import chart
from workspaces.models import AuditLogEntry
from workspaces.permissions import acting_user

if TYPE_CHECKING:
    from journeys.panel import JourneyPanelAdmin

EXIT_WORDS = {
    "completed": "Reached an exit point",
    "converted": "Converted",
    "journey_stopped": "Journey stopped",
    "end_of_path": "End of a path",
}
LIFECYCLE = {
    "pause": (services.journey_pause, "paused", (JourneyStatus.LIVE, JourneyStatus.SCHEDULED)),
    "resume": (services.journey_resume, "resumed", (JourneyStatus.PAUSED,)),
    "stop": (services.journey_stop, "stopped", (JourneyStatus.LIVE, JourneyStatus.SCHEDULED, JourneyStatus.PAUSED)),
}


def live_counts(document: dict[str, Any], nodes: dict[str, dict[str, Any]]) -> FlowCounts:
    """The analytics' per-node counters as the flow's overlay (edges named as `wizard.outgoing` does)."""
    raw_nodes = _part(document, "nodes")
    node_counts: dict[str, dict[str, int]] = {}
    edge_counts: dict[tuple[str, str], int] = {}
    for node_id, counted in nodes.items():
        statuses = counted.get("message_statuses") or {}
        node_counts[node_id] = {"entered": counted["entered"], "waiting": counted["waiting"], **statuses}
        arm_keys = {}
        spec = _part(raw_nodes, node_id)
        if spec.get("type") == "split":
            arm_keys = {
                arm.get("name"): f"arms[{i}]" for i, arm in enumerate(spec.get("arms") or []) if isinstance(arm, dict)
            }
        for outcome, taken in (counted.get("edges") or {}).items():
            edge_counts[(node_id, arm_keys.get(outcome, outcome))] = taken
    start = document.get("start")
    if isinstance(start, str) and start in node_counts:
        edge_counts[("trigger", "start")] = node_counts[start]["entered"]
    return FlowCounts(nodes=node_counts, edges=edge_counts)


class JourneyPages:
    def __init__(self, admin: JourneyPanelAdmin) -> None:
        self.admin = admin

    def urls(self) -> list[URLPattern]:
        view = self.admin.admin_site.admin_view
        return [
            path("<int:pk>/live/", view(self.live), name="journeys_journey_live"),
            path("<int:pk>/lifecycle/", view(self.lifecycle), name="journeys_journey_lifecycle"),
            path("<int:pk>/simulate/", view(self.simulator), name="journeys_journey_simulate"),
        ]

    def context(self, request: HttpRequest, journey: Journey, title: str, **extra: Any) -> dict[str, Any]:
        return {
            **self.admin.admin_site.each_context(request),
            "opts": self.admin.model._meta,
            "journey": journey,
            "original": journey,
            "title": title,
            "can_change": self.admin.has_change_permission(request),
            **extra,
        }

    def live(self, request: HttpRequest, pk: int) -> HttpResponse:
        journey = self.admin.journey(request, pk)
        versions = list(journey.versions.order_by("-number").select_related("published_by"))
        if not versions:
            return HttpResponseRedirect(reverse("panel:journeys_journey_setup", args=[journey.pk]))
        chosen = request.GET.get("version", "")
        version = next((v for v in versions if str(v.number) == chosen), None) or (
            journey.live_version if journey.live_version_id else versions[0]
        )
        assert version is not None
        since = timezone.now().date() - timedelta(days=29)
        analytics = journey_analytics(journey=journey, version_number=version.number)
        recent = journey_analytics(journey=journey, version_number=version.number, since=since)
        document = version.document if isinstance(version.document, dict) else {}
        days = [since + timedelta(days=i) for i in range(30)]
        per_day = {row["day"]: row for row in recent["per_day"]}
        totals = analytics["totals"]
        exits = [
            (EXIT_WORDS.get(reason, reason.replace("_", " ").capitalize()), n)
            for reason, n in sorted(totals["exits"].items())
        ]
        audit = AuditLogEntry.objects.filter(
            workspace_id=journey.workspace_id, object_type="journey", object_id=str(journey.pk)
        ).order_by("-created_at")[:50]
        context = self.context(
            request,
            journey,
            journey.name,
            version=version,
            versions=versions,
            flow=flow_svg(flow_layout(document, counts=live_counts(document, analytics["nodes"]))),
            totals=totals,
            kpis=[
                ("Entries", totals["entered"]),
                ("Unique profiles", totals["unique_profiles"]),
                ("Active now", totals["active"]),
                ("Converted", totals["converted"]),
                ("Conversion rate", f"{100 * totals['conversion_rate']:.1f} %"),
            ],
            exits=exits,
            chart=chart(
                [d.strftime("%b %d") for d in days],
                [
                    ("Entries", [per_day.get(d.isoformat(), {}).get("entered", 0) for d in days], "#a78bfa"),
                    ("Conversions", [per_day.get(d.isoformat(), {}).get("converted", 0) for d in days], "#16a34a"),
                ],
            ),
            audit=audit,
            actions=[name for name, (_, _, allowed) in LIFECYCLE.items() if journey.status in allowed],
            edits_draft=journey.draft != journey.live_version.document if journey.live_version else False,
        )
        return TemplateResponse(request, "journeys/live.html", context)

    def lifecycle(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Pause, resume or stop from the live page (the form there asks for confirmation first)."""
        journey = self.admin.journey(request, pk)
        if request.method != "POST":
            return HttpResponseRedirect(reverse("panel:journeys_journey_live", args=[journey.pk]))
        if not self.admin.has_change_permission(request):
            raise PermissionDenied
        name = request.POST.get("action", "")
        if name not in LIFECYCLE:
            messages.error(request, "Choose pause, resume or stop.")
        else:
            change, done, _ = LIFECYCLE[name]
            try:
                change(journey=journey, actor=acting_user(request))
                messages.success(request, f"{journey.name} {done}.")
            except services.TransitionError as error:
                messages.error(request, f"{journey.name}: {error}.")
        return HttpResponseRedirect(reverse("panel:journeys_journey_live", args=[journey.pk]))

    def simulator(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Test profiles and events, typed as rows, through the draft or a version (simulator_view.py)."""
        from journeys.simulator_view import simulator_page

        journey = self.admin.journey(request, pk)
        return simulator_page(request, journey, lambda title, **extra: self.context(request, journey, title, **extra))


def _part(data: Any, key: str) -> dict[str, Any]:
    """One object inside a draft (`{}` when it is missing or not an object: drafts may be half-made)."""
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, dict) else {}
