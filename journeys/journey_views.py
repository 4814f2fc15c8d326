"""A published journey's pages in the panel: the live page (the drawn flow with its counts, totals,
entries and conversions per day, the versions and the audit trail, lifecycle buttons) and the
simulator (test profiles and timestamped events through the engine on a virtual clock, each
profile's path drawn on the flow; nothing stored or sent)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from journeys import services, wizard
from journeys.document import DocumentError, parse_journey
from journeys.flow import FlowCounts, PathStep, flow_layout, flow_svg
from journeys.models import Journey, JourneyStatus
from journeys.selectors import journey_analytics
from journeys.simulator import SimulationError, simulate
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
        """Test profiles and events (pasted JSON or one row per event) through the draft or a version."""
        journey = self.admin.journey(request, pk)
        versions = list(journey.versions.order_by("-number"))
        use = request.POST.get("use") or request.GET.get("use") or "draft"
        version = next((v for v in versions if f"v{v.number}" == use), None)
        document = version.document if version is not None else journey.draft
        document = document if isinstance(document, dict) else {}
        now = timezone.now().replace(microsecond=0)
        posted = request.POST if request.method == "POST" else None
        events_text = posted.get("events", "") if posted else _sample_events(document, now)
        profiles_text = (
            posted.get("profiles", "") if posted else '[{"user_id": "ann", "traits": {"first_name": "Ann"}}]'
        )
        until_text = posted.get("until", "") if posted else (now + timedelta(days=7)).isoformat()
        problems: list[str] = []
        results: list[dict[str, Any]] = []
        chosen_profile = posted.get("show", "") if posted else ""
        path_steps: list[PathStep] = []
        status = 200
        if posted is not None:
            try:
                parsed = parse_journey(document)
                profiles, events = json.loads(profiles_text or "[]"), json.loads(events_text or "[]")
                outcome = simulate(parsed, profiles=profiles, events=events, until=until_text)
            except DocumentError as error:
                problems = [f"{p.field}: {p.message}" for p in error.problems]
            except SimulationError as error:
                problems = [f"{error.field}: {error.message}"]
            except ValueError as error:  # json.loads
                problems = [f"This is not JSON: {error}"]
            else:
                for key, run in outcome["profiles"].items():
                    results.append({"profile": key, **run})
                if results and not chosen_profile:
                    chosen_profile = results[0]["profile"]
                for run in results:
                    if run["profile"] == chosen_profile and run["entries"]:
                        path_steps = [
                            PathStep(step["node"], _short(step["at"]), step.get("outcome"))
                            for step in run["entries"][0]["path"]
                        ]
            status = 400 if problems else 200
        context = self.context(
            request,
            journey,
            f"{journey.name} · Simulator",
            version_choices=[("draft", "The draft"), *((f"v{v.number}", f"Version {v.number}") for v in versions)],
            use=use,
            profiles_text=profiles_text,
            events_text=events_text,
            until_text=until_text,
            problems=problems,
            results=results,
            chosen_profile=chosen_profile,
            flow=flow_svg(flow_layout(document, path=path_steps)),
            steps=wizard.STEPS,
        )
        return TemplateResponse(request, "journeys/simulate.html", context, status=status)


def _short(moment: Any) -> str:
    return str(moment or "")[5:16].replace("T", " ")


def _sample_events(document: dict[str, Any], now: Any) -> str:
    """A starting point for the simulator: the trigger event now, for one profile."""
    entry = _part(document, "entry")
    event = entry.get("event") if isinstance(entry.get("event"), str) else "screen_view"
    properties: dict[str, Any] = {}
    where = entry.get("where")
    if isinstance(where, dict) and "property" in where and isinstance(where.get("value"), (str, int, float)):
        properties[where["property"]] = where["value"]
    sample = [{"user_id": "ann", "event": event, "timestamp": now.isoformat(), "properties": properties}]
    return json.dumps(sample, indent=2)


def version_of(journey: Journey, number: int) -> Any:
    return get_object_or_404(journey.versions, number=number)


def _part(data: Any, key: str) -> dict[str, Any]:
    """One object inside a draft (`{}` when it is missing or not an object: drafts may be half-made)."""
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, dict) else {}
