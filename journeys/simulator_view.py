"""The journey simulator's page: test profiles and events typed as rows (who, traits, tags, segments; who,
activity, when, properties), run through the draft or a published version on a virtual clock
(`journeys.simulator.simulate`, as the API's simulate does), answered in words — each step by its kind
and the path it took ("State (fav) → On performed"), times in the workspace's zone — with one profile's
path drawn on the flow. Nothing is stored or sent. Analysts may run it too."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from activities.selectors import tracked_activities
from behaviors.forms import EventFormSet, SimulateForm
from journeys import forms
from journeys.document import DocumentError, parse_journey
from journeys.flow import PathStep, edge_words, flow_layout, flow_svg
from journeys.models import Journey
from journeys.simulator import SimulationError, simulate
from panel.forms import unvalidated
from panel.times import zone_of
from segments.conditions import as_datetime
from segments.models import Segment
from segments.words import CHANNEL_WORDS

EXIT_WORDS = {
    "completed": "reached an exit point",
    "converted": "converted",
    "journey_stopped": "journey stopped",
    "end_of_path": "end of a path",
}


def simulator_page(request: HttpRequest, journey: Journey, context: Any) -> HttpResponse:
    """`context(title, **extra)` is the journey pages' own (header, role)."""
    versions = list(journey.versions.order_by("-number"))
    posted = request.POST if request.method == "POST" else None
    use = (posted or request.GET).get("use") or "draft"
    version = next((v for v in versions if f"v{v.number}" == use), None)
    document = version.document if version is not None else journey.draft
    document = document if isinstance(document, dict) else {}
    zone = zone_of(journey.workspace)
    now = timezone.now().astimezone(zone).replace(second=0, microsecond=0, tzinfo=None)
    data: Any = posted
    if posted is not None and ("add_event" in posted or "add_profile" in posted):
        data = dict(posted.items())
        for prefix, limit, asked in (("events", 50, "add_event"), ("profiles", 20, "add_profile")):
            total = str(data.get(f"{prefix}-TOTAL_FORMS", ""))
            if asked in posted:
                data[f"{prefix}-TOTAL_FORMS"] = str(min((int(total) if total.isdigit() else 0) + 1, limit))
    segments = list(
        Segment.objects.filter(workspace_id=journey.workspace_id).order_by("name").values_list("pk", "slug", "name")
    )
    profiles = forms.SimProfileFormSet(
        data,
        prefix="profiles",
        initial=[{"who": "ann", "traits": "first_name = Ann"}] if data is None else None,
        form_kwargs={"segments": [(slug, name) for _, slug, name in segments]},
    )
    activities = _activities(journey, document)
    events = EventFormSet(
        data,
        prefix="events",
        initial=_sample_events(document, now) if data is None else None,
        form_kwargs={"activities": activities, "zone": zone},
    )
    until = SimulateForm(data, zone=zone, initial={"until": now + timedelta(days=7)})
    results: list[dict[str, Any]] | None = None
    problems: list[str] = []
    chosen = (posted.get("show", "") if posted else "") or ""
    path: list[PathStep] = []
    status = 200
    if posted is not None and "add_event" not in posted and "add_profile" not in posted:
        if until.is_valid() & profiles.is_valid() & events.is_valid():
            refs = {slug: [slug, str(pk)] for pk, slug, _ in segments}  # documents name a segment either way
            people = [_with_refs(f.cleaned_data["row"], refs) for f in profiles.forms if f.cleaned_data.get("row")]
            rows = [(i, f.cleaned_data["row"]) for i, f in enumerate(events.forms) if f.cleaned_data.get("row")]
            if not rows:
                events._non_form_errors = events.error_class(["Add at least one event."])  # type: ignore[attr-defined]
            else:
                results, problems = _run(document, people, rows, until, profiles, events, zone)
        if results is None:
            status = 400
        else:
            if not any(r["profile"] == chosen for r in results):
                chosen = results[0]["profile"] if results else ""
            path = next((r["path"] for r in results if r["profile"] == chosen), [])
    elif posted is not None:
        for form in (profiles, events, until):
            unvalidated(form)
    return TemplateResponse(
        request,
        "journeys/simulate.html",
        context(
            f"{journey.name} · Simulator",
            version_choices=[("draft", "The draft"), *((f"v{v.number}", f"Version {v.number}") for v in versions)],
            use=use,
            profiles=profiles,
            events=events,
            until_form=until,
            problems=problems,
            results=results,
            chosen_profile=chosen,
            flow=flow_svg(flow_layout(document, path=path)),
            zone=zone,
        ),
        status=status,
    )


def _activities(journey: Journey, document: dict[str, Any]) -> list[tuple[str, str]]:
    """The workspace's tracked activities, and those the journey names whether tracked yet or not."""
    known: dict[str, Any] = {
        row.name: dict(row.properties or {}) for row in tracked_activities(journey.workspace_id)[:500]
    }
    for part in ("entry", "conversion"):
        name = (document.get(part) or {}).get("event") if isinstance(document.get(part), dict) else None
        if isinstance(name, str) and name:
            known.setdefault(name, {})
    for node in (document.get("nodes") or {}).values() if isinstance(document.get("nodes"), dict) else ():
        if isinstance(node, dict) and isinstance(node.get("event"), str) and node["event"]:
            known.setdefault(node["event"], {})
    return [choice for choice in forms.activity_choices(known) if choice[0]]


def _sample_events(document: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """A starting point: the trigger's activity now for one profile, with the property its filter asks."""
    entry: dict[str, Any] = document["entry"] if isinstance(document.get("entry"), dict) else {}
    event = entry.get("event") if isinstance(entry.get("event"), str) else "screen_view"
    where = entry.get("where")
    properties = ""
    value = where.get("value") if isinstance(where, dict) else None
    if isinstance(where, dict) and isinstance(where.get("property"), str) and isinstance(value, (str, int, float)):
        properties = f"{where['property']} = {where['value']}"
    return [{"who": "ann", "event": event, "at": now, "properties": properties}]


def _with_refs(row: dict[str, Any], refs: dict[str, list[str]]) -> dict[str, Any]:
    return {**row, "segments": [ref for slug in row["segments"] for ref in refs.get(slug, [slug])]}


def _run(
    document: dict[str, Any],
    people: list[dict[str, Any]],
    rows: list[tuple[int, dict[str, Any]]],
    until: SimulateForm,
    profiles: Any,
    events: Any,
    zone: ZoneInfo,
) -> tuple[list[dict[str, Any]] | None, list[str]]:
    """Each profile's entries in words, or None with the problems put at their fields (a document's
    problems listed, to be fixed in the wizard)."""
    try:
        parsed = parse_journey(document)
        outcome = simulate(
            parsed, profiles=people, events=[row for _, row in rows], until=until.cleaned_data["until"].isoformat()
        )
    except DocumentError as error:
        return None, [f"{p.field}: {p.message}" for p in error.problems]
    except SimulationError as error:
        message = error.message[0].upper() + error.message[1:] + "."
        found = re.match(r"^(events|profiles)\[(\d+)\](?:\.(\w+))?", error.field)
        if found is not None and found[1] == "events" and int(found[2]) < len(rows):
            field = {"event": "event", "timestamp": "at", "properties": "properties"}.get(found[3] or "", "who")
            events.forms[rows[int(found[2])][0]].add_error(field, message)
        elif found is not None and found[1] == "profiles":
            given = [f for f in profiles.forms if f.cleaned_data.get("row")]
            index = int(found[2])
            target = given[index] if index < len(given) else None
            field = found[3] if found[3] in ("traits", "tags", "segments") else "who"
            (target.add_error(field, message) if target is not None else until.add_error(None, message))
        else:
            until.add_error("until" if error.field == "until" else None, message)
        return None, []
    nodes: dict[str, Any] = document["nodes"] if isinstance(document.get("nodes"), dict) else {}
    return [_in_words(key, run, nodes, zone) for key, run in outcome["profiles"].items()], []


def _exit_words(reason: str) -> str:
    return EXIT_WORDS.get(reason, reason.replace("_", " "))


def _short(moment: datetime | None) -> str:
    return moment.strftime("%b %d, %H:%M") if moment is not None else ""


def _in_words(key: str, run: dict[str, Any], nodes: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    def local(moment: Any) -> datetime | None:
        found = as_datetime(moment)
        return found.astimezone(zone) if found is not None else None

    entries = []
    for entry in run.get("entries") or []:
        steps = []
        for step in entry.get("path") or []:
            spec: dict[str, Any] = nodes[step["node"]] if isinstance(nodes.get(step["node"]), dict) else {}
            kind = forms.KIND_WORDS.get(str(spec.get("type")), "Step")
            steps.append(
                {
                    "at": local(step["at"]),
                    "node": step["node"],
                    "kind": kind,
                    "took": edge_words(spec, step.get("outcome") or ""),
                }
            )
        exit_ = entry.get("exit")
        entries.append(
            {
                "entered_at": local(entry.get("entered_at")),
                "converted_at": local(entry.get("converted_at")),
                "exit": {"at": local(exit_["at"]), "reason": _exit_words(exit_["reason"])} if exit_ else None,
                "steps": steps,
                "messages": [
                    {**m, "at": local(m.get("at")), "channel": CHANNEL_WORDS.get(m.get("channel"), m.get("channel"))}
                    for m in entry.get("messages") or []
                ],
            }
        )
    first = (run.get("entries") or [{}])[0]
    path = [PathStep(s["node"], _short(local(s["at"])), s.get("outcome")) for s in first.get("path") or []]
    return {"profile": key, "entries": entries, "not_entered": run.get("not_entered") or [], "path": path}
