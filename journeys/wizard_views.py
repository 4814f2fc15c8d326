"""The five-step journey wizard (Setup, Entry Rules, Audience, Build, Launch) as custom views of the
journeys' panel ModelAdmin. Each step reads its part of the draft into a form, and on save writes it
back through `journeys.services.journey_update_draft` (with the revision it read, so two marketers
never overwrite each other silently). A step saves only when the document's own validation finds no
problem in its part; problems are shown at their field. Build edits one step (node) at a time beside
the drawn flow (htmx swaps the flow and the form in place; without JavaScript the links still work)."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from django import forms as django_forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.forms.utils import ErrorDict
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone

from activities.selectors import tracked_activities
from journeys import forms, services, wizard
from journeys.backtest import BacktestRefused, backtest_counts, backtest_latest, backtest_start
from journeys.document import DocumentError, Problem
from journeys.flow import FlowCounts, Target, flow_layout, flow_svg
from journeys.models import Journey, JourneyBacktest
from messaging.models import Template
from panel.forms import unvalidated
from segments.models import Segment
from segments.words import CHANNEL_WORDS, condition_words, event_words
from workspaces.permissions import acting_user

if TYPE_CHECKING:
    from journeys.panel import JourneyPanelAdmin

STEP_KEYS = [key for key, _ in wizard.STEPS]
# Where a problem the document validation names is shown, by its field (longest prefix wins).
SETUP_FIELDS = {
    "name": "name",
    "description": "description",
    "conversion.event": "conversion_event",
    "conversion.window": "conversion_window",
}
ENTRY_FIELDS = {
    "entry.event": "event",
    "entry.type": "type",
    "entry.every_day_at": "every_day_at",
    "schedule.start_at": "start_at",
    "schedule.end_at": "end_at",
    "reentry.mode": "mode",
    "reentry.lock": "lock",
    "reentry.cap.max_entries": "cap_max",
    "reentry.cap.period": "cap_period",
}
AUDIENCE_FIELDS = {"audience.segments": "segments", "audience.exclude_segments": "exclude_segments"}
NODE_FIELDS = {
    "event": "event",
    "timeout": "timeout",
    "channel": "channel",
    "template": "template",
    "duration": "duration",
    "until": "until",
    "arms": "arms",
    "traits": "traits",
    "add_tags": "add_tags",
    "remove_tags": "remove_tags",
    "url": "url",
    "method": "method",
    "body": "body",
}


def field_for(problem_field: str, fields: Mapping[str, str]) -> str | None:
    """The form field that shows a document problem (`reentry.cap.max_entries` → `cap_max`)."""
    best = None
    for prefix, name in fields.items():
        if (problem_field == prefix or problem_field.startswith((prefix + ".", prefix + "["))) and (
            best is None or len(prefix) > len(best[0])
        ):
            best = (prefix, name)
    return best[1] if best else None


def show_problems(form: django_forms.Form, problems: list[Problem], fields: Mapping[str, str]) -> None:
    if not form.is_bound and problems:  # a step read back from the draft: its problems at its fields
        form._errors = ErrorDict()  # type: ignore[attr-defined]
        form.cleaned_data = {}
    for problem in problems:
        name = field_for(problem.field, fields)
        message = problem.message[0].upper() + problem.message[1:] + "."
        form.add_error(name if name in form.fields else None, message)


class Wizard:
    """The wizard's pages for one ModelAdmin (its site, permissions and workspace scope)."""

    def __init__(self, admin: JourneyPanelAdmin) -> None:
        self.admin = admin

    # --- Shared ---------------------------------------------------------------------------------------

    def urls(self) -> list[URLPattern]:
        view = self.admin.admin_site.admin_view
        return [
            path("<int:pk>/setup/", view(self.setup), name="journeys_journey_setup"),
            path("<int:pk>/entry/", view(self.entry), name="journeys_journey_entry"),
            path("<int:pk>/audience/", view(self.audience), name="journeys_journey_audience"),
            path("<int:pk>/audience/estimate/", view(self.estimate), name="journeys_journey_estimate"),
            path("<int:pk>/build/", view(self.build), name="journeys_journey_build"),
            path("<int:pk>/build/node/", view(self.node_save), name="journeys_journey_node"),
            path("<int:pk>/build/delete/", view(self.node_delete), name="journeys_journey_node_delete"),
            path("<int:pk>/launch/", view(self.launch), name="journeys_journey_launch"),
            path("<int:pk>/publish/", view(self.publish), name="journeys_journey_publish"),
            path("<int:pk>/backtest/", view(self.backtest), name="journeys_journey_backtest"),
        ]

    def journey(self, request: HttpRequest, pk: int) -> Journey:
        journey = self.admin.journey(request, pk)
        if request.method == "POST" and not self.admin.has_change_permission(request):
            raise PermissionDenied
        return journey

    def draft(self, journey: Journey) -> dict[str, Any]:
        return copy.deepcopy(journey.draft) if isinstance(journey.draft, dict) else {}

    def known_activities(self, journey: Journey) -> dict[str, dict[str, list[str]]]:
        return {row.name: dict(row.properties or {}) for row in tracked_activities(journey.workspace_id)[:500]}

    def problems(self, journey: Journey, document: Mapping[str, Any] | None = None) -> list[Problem]:
        return services.journey_problems(
            workspace=journey.workspace, document=journey.draft if document is None else document
        )

    def context(self, request: HttpRequest, journey: Journey, step: str, **extra: Any) -> dict[str, Any]:
        problems = extra.pop("all_problems", None)
        if problems is None:
            problems = self.problems(journey)
        states = wizard.step_states(self.draft(journey), problems)
        for state in states:  # a journey not yet saved has only its Setup to go to
            state.url = (  # type: ignore[attr-defined]
                reverse(f"panel:journeys_journey_{state.key}", args=[journey.pk]) if journey.pk else None
            )
        index = STEP_KEYS.index(step)
        return {
            **self.admin.admin_site.each_context(request),
            "opts": self.admin.model._meta,
            "journey": journey,
            "original": journey if journey.pk else None,  # unfold's header: Journeys › journeys › this one
            "title": f"{journey.name or 'New journey'} · {wizard.STEPS[index][1]}",
            "step": step,
            "steps": states,
            "back_url": states[index - 1].url if index else None,  # type: ignore[attr-defined]
            "next_step": wizard.STEPS[index + 1][1] if index + 1 < len(wizard.STEPS) else None,
            "can_change": self.admin.has_change_permission(request),
            "zone": journey.workspace.timezone,
            **extra,
        }

    def render(
        self, request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
    ) -> TemplateResponse:
        return TemplateResponse(request, f"journeys/wizard/{template}", context, status=status)

    def save(
        self,
        request: HttpRequest,
        journey: Journey,
        form: django_forms.Form,
        document: dict[str, Any],
        step: str,
        fields: Mapping[str, str],
    ) -> HttpResponse | None:
        """Write the step's part of the draft, or put the reasons at the form's fields (None then)."""
        own = [p for p in self.problems(journey, document) if wizard.step_of(p.field) == step and not _later(p, step)]
        if own:
            show_problems(form, own, fields)
            return None
        if journey.pk is None:  # a new journey's Setup: the draft is made with what it says
            created = services.journey_create(
                workspace=journey.workspace, actor=acting_user(request), document=document
            )
            return self.after_save(request, created, step)
        try:
            services.journey_update_draft(
                journey=journey, actor=acting_user(request), document=document, revision=form.cleaned_data["revision"]
            )
        except services.DraftConflict as error:
            form.add_error(None, str(error))
            return None
        except services.TransitionError as error:
            form.add_error(None, f"This journey cannot be edited: {error}.")
            return None
        return self.after_save(request, journey, step)

    def after_save(self, request: HttpRequest, journey: Journey, step: str) -> HttpResponse:
        index = STEP_KEYS.index(step)
        if "back" in request.POST and index:
            target = STEP_KEYS[index - 1]
        elif "next" in request.POST and index + 1 < len(STEP_KEYS):
            target = STEP_KEYS[index + 1]
        else:
            target = step
            messages.success(request, "Draft saved.")
        return HttpResponseRedirect(reverse(f"panel:journeys_journey_{target}", args=[journey.pk]))

    # --- 1. Setup ------------------------------------------------------------------------------------

    def setup(self, request: HttpRequest, pk: int | None) -> HttpResponse:
        """Setup of a journey, or of a new one (`pk` None): nothing is saved until its form is."""
        journey = (
            self.journey(request, pk) if pk is not None else Journey(workspace=self.admin.membership(request).workspace)
        )
        document = self.draft(journey)
        known = self.known_activities(journey)
        conversion = _part(document, "conversion")
        activities = forms.activity_choices(known, conversion.get("event"))
        posted = request.POST if request.method == "POST" else None
        form = forms.SetupForm(
            posted,
            activities=activities,
            initial={
                "revision": journey.draft_revision,
                "name": document.get("name", ""),
                "description": document.get("description", ""),
                "conversion_event": conversion.get("event", ""),
                "conversion_window": forms.DurationWidgetValue.initial(conversion.get("window")),
                "exit_on_conversion": bool(conversion.get("exit_on_conversion")),
            },
        )
        event = (posted.get("conversion_event") if posted else conversion.get("event")) or ""
        filters = forms.filters_formset(
            "conversion", conversion.get("where"), known.get(event, {}), posted, add_row="add_filter" in (posted or {})
        )
        status = 200
        if posted is not None and "refresh" not in posted and "add_filter" not in posted:
            if form.is_valid() & filters.is_valid():
                document["name"] = form.cleaned_data["name"]
                document["description"] = form.cleaned_data["description"]
                if form.cleaned_data["conversion_event"]:
                    document["conversion"] = {
                        "event": form.cleaned_data["conversion_event"],
                        "where": forms.formset_condition(filters),
                        "window": form.cleaned_data["conversion_window"],
                        "exit_on_conversion": form.cleaned_data["exit_on_conversion"],
                    }
                else:
                    document.pop("conversion", None)
                done = self.save(request, journey, form, document, "setup", SETUP_FIELDS)
                if done is not None:
                    return done
            status = 409 if any("saved this journey" in e for e in form.non_field_errors()) else 400
        elif posted is not None:
            unvalidated(form)
            if "add_filter" not in posted:
                unvalidated(filters)
        context = self.context(
            request,
            journey,
            "setup",
            form=form,
            filters=filters,
            properties=known.get(event, {}),
            filters_title="Conversion filters",
        )
        return self.render(request, "setup.html", context, status)

    # --- 2. Entry Rules ------------------------------------------------------------------------------

    def entry(self, request: HttpRequest, pk: int) -> HttpResponse:
        journey = self.journey(request, pk)
        document = self.draft(journey)
        known = self.known_activities(journey)
        zone = ZoneInfo(journey.workspace.timezone)
        raw_entry = _part(document, "entry")
        schedule = _part(document, "schedule")
        reentry = _part(document, "reentry")
        cap = _part(reentry, "cap")
        activities = forms.activity_choices(known, raw_entry.get("event"))
        posted = request.POST if request.method == "POST" else None
        form = forms.EntryForm(
            posted,
            activities=activities,
            zone=zone,
            initial={
                "revision": journey.draft_revision,
                "type": raw_entry.get("type") or "event",
                "event": raw_entry.get("event") or "",
                "every_day_at": raw_entry.get("every_day_at"),
                "start_at": _local(schedule.get("start_at"), zone),
                "end_at": _local(schedule.get("end_at"), zone),
                "mode": reentry.get("mode") if reentry.get("mode") in ("once", "multiple") else "multiple",
                "lock": forms.DurationWidgetValue.initial(reentry.get("lock")),
                "cap_max": cap.get("max_entries"),
                "cap_period": forms.DurationWidgetValue.initial(cap.get("period")),
            },
        )
        event = (posted.get("event") if posted else raw_entry.get("event")) or ""
        kind = (posted.get("type") if posted else raw_entry.get("type")) or "event"
        filters = forms.filters_formset(
            "trigger",
            raw_entry.get("where") if kind == "event" else None,
            known.get(event, {}),
            posted,
            add_row="add_filter" in (posted or {}),
        )
        status = 200
        if posted is not None and "refresh" not in posted and "add_filter" not in posted:
            if form.is_valid() & filters.is_valid():
                data = form.cleaned_data
                if data["type"] == "event":
                    document["entry"] = {
                        "type": "event",
                        "event": data["event"],
                        "where": forms.formset_condition(filters),
                    }
                else:
                    at = data.get("every_day_at")
                    document["entry"] = {"type": "segment", "every_day_at": at.strftime("%H:%M") if at else None}
                document["schedule"] = {
                    "start_at": data["start_at"].isoformat() if data.get("start_at") else None,
                    "end_at": data["end_at"].isoformat() if data.get("end_at") else None,
                }
                cap_doc = (
                    {"max_entries": data["cap_max"], "period": data["cap_period"]} if data.get("cap_max") else None
                )
                document["reentry"] = {"mode": data["mode"], "lock": data["lock"], "cap": cap_doc}
                done = self.save(request, journey, form, document, "entry", ENTRY_FIELDS)
                if done is not None:
                    return done
            status = 409 if any("saved this journey" in e for e in form.non_field_errors()) else 400
        elif posted is not None:
            unvalidated(form)
            if "add_filter" not in posted:
                unvalidated(filters)
        context = self.context(
            request,
            journey,
            "entry",
            form=form,
            filters=filters,
            properties=known.get(event, {}),
            kind=kind,
            filters_title="Trigger filters",
        )
        return self.render(request, "entry.html", context, status)

    # --- 3. Audience ---------------------------------------------------------------------------------

    def segment_choices(self, journey: Journey) -> list[tuple[str, str]]:
        return list(
            Segment.objects.filter(workspace_id=journey.workspace_id).order_by("name").values_list("slug", "name")
        )

    def audience(self, request: HttpRequest, pk: int) -> HttpResponse:
        journey = self.journey(request, pk)
        document = self.draft(journey)
        audience = _part(document, "audience")
        posted = request.POST if request.method == "POST" else None
        form = forms.AudienceForm(
            posted,
            segments=self.segment_choices(journey),
            initial={
                "revision": journey.draft_revision,
                "segments": [str(s) for s in audience.get("segments") or []],
                "exclude_segments": [str(s) for s in audience.get("exclude_segments") or []],
            },
        )
        status = 200
        if posted is not None:
            if form.is_valid():
                document["audience"] = {
                    "segments": form.cleaned_data["segments"],
                    "exclude_segments": form.cleaned_data["exclude_segments"],
                }
                done = self.save(request, journey, form, document, "audience", AUDIENCE_FIELDS)
                if done is not None:
                    return done
            status = 409 if any("saved this journey" in e for e in form.non_field_errors()) else 400
        included = request.POST.getlist("segments") if posted else form.initial["segments"]
        excluded = request.POST.getlist("exclude_segments") if posted else form.initial["exclude_segments"]
        context = self.context(request, journey, "audience", form=form, estimate=_estimate(journey, included, excluded))
        return self.render(request, "audience.html", context, status)

    def estimate(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The live audience size for the segments ticked so far (htmx, as the marketer ticks)."""
        journey = self.admin.journey(request, pk)
        source = request.POST if request.method == "POST" else request.GET
        context = {"estimate": _estimate(journey, source.getlist("segments"), source.getlist("exclude_segments"))}
        return TemplateResponse(request, "journeys/wizard/estimate.html", context)

    # --- 4. Build ------------------------------------------------------------------------------------

    def build(
        self, request: HttpRequest, pk: int, *, node_form: Any = None, status: int = 200, panel: dict | None = None
    ) -> HttpResponse:
        journey = self.admin.journey(request, pk)
        document = self.draft(journey)
        problems = self.problems(journey)
        build_url = reverse("panel:journeys_journey_build", args=[journey.pk])
        can_change = self.admin.has_change_permission(request)
        panel = panel if panel is not None else self.node_panel(request, journey, document, problems)
        context = self.context(
            request,
            journey,
            "build",
            all_problems=problems,
            flow=flow_svg(
                flow_layout(document, problems=_drawn(document, problems), problem_words=_problem_words),
                link=_links(build_url, can_change),
            ),
            panel=panel,
            build_problems=[p for p in problems if wizard.step_of(p.field) == "build"],
        )
        return self.render(request, "build.html", context, status)

    def node_panel(
        self,
        request: HttpRequest,
        journey: Journey,
        document: dict[str, Any],
        problems: list[Problem],
        form: Any = None,
    ) -> dict[str, Any]:
        """What sits beside the flow: the form of the chosen node, a kind chooser for "+", or a hint."""
        source = request.POST if request.method == "POST" else request.GET
        nodes = _part(document, "nodes")
        node_id = source.get("node") or ""
        if node_id and node_id not in nodes:
            raise Http404("No such step")
        add = source.get("add") or ""
        kind = source.get("kind") or (
            nodes[node_id].get("type") if node_id and isinstance(nodes[node_id], dict) else ""
        )
        if not node_id and not add:
            return {"mode": "hint"}
        if add and not kind:
            return {"mode": "choose", "add": add, "kinds": forms.NODE_KINDS}
        if kind not in forms.KIND_WORDS:
            raise Http404("No such kind of step")
        raw = nodes.get(node_id, {}) if node_id else {}
        fresh = form is None
        if form is None:
            form = self.node_form(journey, kind, raw if isinstance(raw, dict) else {}, None)
        for field in form.fields.values():  # a choice that redraws the form posts to the node's view
            if field.widget.attrs.get("hx-post") == "":
                field.widget.attrs["hx-post"] = reverse("panel:journeys_journey_node", args=[journey.pk])
        if fresh and node_id:  # a saved step's problems, at its fields
            own = [p for p in problems if p.field == f"nodes.{node_id}" or p.field.startswith(f"nodes.{node_id}.")]
            show_problems(form, [Problem(_node_field(p.field, node_id), p.message) for p in own], NODE_FIELDS)
        return {
            "mode": "edit",
            "form": form,
            "filters": getattr(form, "filters", None),
            "paths": getattr(form, "paths", None),
            "node_id": node_id,
            "add": add,
            "kind": kind,
            "kind_words": forms.KIND_WORDS[kind],
            "preview": _template_preview(journey, form) if kind == "send" else None,
            "filters_title": "Filters on the event" if kind == "wait_event" else "Paths",
        }

    def node_form(self, journey: Journey, kind: str, raw: Mapping[str, Any], posted: Any) -> Any:
        initial: dict[str, Any] = {"revision": journey.draft_revision}
        known = self.known_activities(journey)
        if kind == "wait_event":
            event = (posted.get("event") if posted else raw.get("event")) or ""
            form: Any = forms.StateForm(
                posted,
                activities=forms.activity_choices(known, raw.get("event")),
                initial={
                    **initial,
                    "event": raw.get("event", ""),
                    "timeout": forms.DurationWidgetValue.initial(raw.get("timeout")),
                },
            )
            form.filters = forms.filters_formset(
                "state", raw.get("where"), known.get(event, {}), posted, add_row="add_filter" in (posted or {})
            )
            form.properties = known.get(event, {})
            return form
        if kind == "send":
            templates: dict[str, list[str]] = {}
            for channel, name in Template.objects.filter(workspace_id=journey.workspace_id).values_list(
                "channel", "name"
            ):
                templates.setdefault(channel, []).append(name)
            return forms.SendForm(
                posted,
                templates=templates,
                initial={**initial, "channel": raw.get("channel", "push"), "template": raw.get("template", "")},
            )
        if kind == "delay":
            return forms.DelayForm(
                posted,
                initial={
                    **initial,
                    "duration": forms.DurationWidgetValue.initial(raw.get("duration")),
                    "until": raw.get("until")
                    if isinstance(raw.get("until"), str) and len(raw.get("until", "")) == 5
                    else None,
                },
            )
        if kind == "branch":
            form = forms.BranchForm(posted, initial=initial)
            rows = []
            for item in raw.get("branches") or []:
                condition = item.get("if") if isinstance(item, dict) else None
                if isinstance(condition, dict) and "trait" in condition:
                    rows.append(
                        {
                            "property": condition["trait"],
                            "op": condition.get("op", ""),
                            "value": forms.operand_text(str(condition.get("op", "")), condition.get("value")),
                        }
                    )
            form.paths = (
                forms.FilterFormSet(posted, prefix="paths", form_kwargs={"properties": {}})
                if posted is not None
                else forms.FilterFormSet(prefix="paths", initial=rows or [{}], form_kwargs={"properties": {}})
            )
            if posted is not None and "add_filter" in posted and form.paths.is_valid():
                form.paths = forms.FilterFormSet(
                    prefix="paths",
                    initial=[f.cleaned_data for f in form.paths.forms] + [{}],
                    form_kwargs={"properties": {}},
                )
            return form
        if kind == "split":
            arms = ", ".join(
                f"{a.get('name')} {a.get('percent')}" for a in raw.get("arms") or [] if isinstance(a, dict)
            )
            return forms.SplitForm(posted, initial={**initial, "arms": arms or "A 50, B 50"})
        if kind == "update_profile":
            traits = _part(raw, "traits")
            return forms.UpdateProfileForm(
                posted,
                initial={
                    **initial,
                    "traits": "\n".join(f"{k} = {v}" for k, v in traits.items()),
                    "add_tags": ", ".join(raw.get("add_tags") or []),
                    "remove_tags": ", ".join(raw.get("remove_tags") or []),
                },
            )
        if kind == "webhook":
            return forms.WebhookForm(
                posted,
                initial={
                    **initial,
                    "url": raw.get("url", ""),
                    "method": raw.get("method", "POST"),
                    "body": raw.get("body", ""),
                },
            )
        return forms.ExitForm(posted, initial=initial)

    def node_save(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Save one step from its form: an edited node, or a new one on the open exit it was added at."""
        journey = self.journey(request, pk)
        if request.method != "POST":
            return HttpResponseRedirect(reverse("panel:journeys_journey_build", args=[journey.pk]))
        document = self.draft(journey)
        nodes: dict[str, Any] = document.setdefault("nodes", {}) if isinstance(document.get("nodes"), dict) else {}
        document["nodes"] = nodes
        node_id, add, kind = request.POST.get("node", ""), request.POST.get("add", ""), request.POST.get("kind", "")
        if node_id:
            if node_id not in nodes or not isinstance(nodes[node_id], dict):
                raise Http404("No such step")
            kind = str(nodes[node_id].get("type"))
        if kind not in forms.KIND_WORDS:
            raise Http404("No such kind of step")
        form = self.node_form(journey, kind, nodes.get(node_id, {}), request.POST)
        problems = self.problems(journey)

        def again(status: int = 400) -> HttpResponse:
            panel = self.node_panel(request, journey, document, problems, form=form)
            return self.build(request, pk, panel=panel, status=status)

        if "refresh" in request.POST or "add_filter" in request.POST:
            unvalidated(form)
            return again(200)
        valid = form.is_valid()
        for sub in (getattr(form, "filters", None), getattr(form, "paths", None)):
            if sub is not None:
                valid = sub.is_valid() and valid
        if not valid:
            return again()
        spec = _node_spec(kind, form, nodes.get(node_id, {}))
        if not node_id:
            source, _, edge = add.partition(":")
            if source != "trigger" and (source not in nodes or edge not in dict(wizard.outgoing(nodes[source]))):
                form.add_error(None, "That path no longer exists: the flow changed. Pick “+” again.")
                return again(409)
            node_id = wizard.node_id_for(kind, nodes)
            nodes[node_id] = spec
            if source == "trigger":
                if document.get("start") in nodes:
                    form.add_error(None, "The journey already starts with a step.")
                    return again(409)
                document["start"] = node_id
            else:
                wizard.edge_set(nodes[source], edge, node_id)
        else:
            nodes[node_id] = spec
        own = [
            Problem(_node_field(p.field, node_id), p.message)
            for p in self.problems(journey, document)
            if (p.field == f"nodes.{node_id}" or p.field.startswith(f"nodes.{node_id}."))
            and "cannot be reached" not in p.message
        ]
        if own:
            show_problems(form, own, NODE_FIELDS)
            return again()
        try:
            services.journey_update_draft(
                journey=journey, actor=acting_user(request), document=document, revision=form.cleaned_data["revision"]
            )
        except services.DraftConflict as error:
            form.add_error(None, str(error))
            return again(409)
        messages.success(request, f"Saved {forms.KIND_WORDS[kind]}.")
        return HttpResponseRedirect(reverse("panel:journeys_journey_build", args=[journey.pk]) + f"?node={node_id}")

    def node_delete(self, request: HttpRequest, pk: int) -> HttpResponse:
        journey = self.journey(request, pk)
        if request.method != "POST":
            return HttpResponseRedirect(reverse("panel:journeys_journey_build", args=[journey.pk]))
        document = self.draft(journey)
        removed = wizard.remove_node(document, request.POST.get("node", ""))
        if not removed:
            raise Http404("No such step")
        try:
            services.journey_update_draft(
                journey=journey,
                actor=acting_user(request),
                document=document,
                revision=_int(request.POST.get("revision")),
            )
        except services.DraftConflict as error:
            messages.error(request, str(error))
            return HttpResponseRedirect(reverse("panel:journeys_journey_build", args=[journey.pk]))
        words = "1 step" if len(removed) == 1 else f"{len(removed)} steps (and the ones only it led to)"
        messages.success(request, f"Deleted {words}.")
        return HttpResponseRedirect(reverse("panel:journeys_journey_build", args=[journey.pk]))

    # --- 5. Launch -----------------------------------------------------------------------------------

    def launch(self, request: HttpRequest, pk: int) -> HttpResponse:
        journey = self.admin.journey(request, pk)
        document = self.draft(journey)
        problems = self.problems(journey)
        zone = ZoneInfo(journey.workspace.timezone)
        schedule = _part(document, "schedule")
        start = _local(schedule.get("start_at"), zone)
        listed = [
            {
                "field": p.field,
                "message": _problem_words(p),
                "step": wizard.step_of(p.field),
                "url": _problem_url(journey, p),
                "where": _problem_where(document, p),
            }
            for p in problems
        ]
        build_url = reverse("panel:journeys_journey_build", args=[journey.pk])
        tested = backtest_latest(journey)
        counts = None
        if tested is not None and tested.status == tested.Status.DONE and tested.document == journey.draft:
            nodes, edges = backtest_counts(tested.result)
            counts = FlowCounts(nodes=nodes, edges=edges)  # what would have happened, on the flow
        context = self.context(
            request,
            journey,
            "launch",
            all_problems=problems,
            problems=listed,
            summary=_summary(document, zone),
            flow=flow_svg(
                flow_layout(document, problems=problems, counts=counts, timezone=zone, problem_words=_problem_words),
                link=_links(build_url, False),
            ),
            starts=start,
            schedules=bool(start and start > timezone.localtime(timezone.now(), zone).replace(tzinfo=None)),
            backtest=_backtest_card(journey, tested),
        )
        return self.render(request, "launch.html", context)

    def backtest(self, request: HttpRequest, pk: int) -> HttpResponse:
        """POST: replay the draft over the last 7 days on the workers. GET: the card with its progress
        (htmx polls it while the backtest runs; a reload finds the same backtest)."""
        journey = self.journey(request, pk)
        problem = ""
        if request.method == "POST":
            try:
                backtest_start(journey=journey, actor=acting_user(request), days=_int(request.POST.get("days")) or 7)
            except BacktestRefused as error:
                problem = error.message[0].upper() + error.message[1:] + "."
            except DocumentError as error:
                problem = f"Fix the draft's {len(error.problems)} problem(s) first: the backtest replays a valid draft."
            if not request.htmx and not problem:  # type: ignore[attr-defined]
                return HttpResponseRedirect(reverse("panel:journeys_journey_launch", args=[journey.pk]))
        card = _backtest_card(journey, backtest_latest(journey), problem=problem)
        context = {"journey": journey, "backtest": card, "can_change": self.admin.has_change_permission(request)}
        return TemplateResponse(request, "journeys/wizard/_backtest.html", context, status=400 if problem else 200)

    def publish(self, request: HttpRequest, pk: int) -> HttpResponse:
        journey = self.journey(request, pk)
        if request.method != "POST":
            return HttpResponseRedirect(reverse("panel:journeys_journey_launch", args=[journey.pk]))
        try:
            version = services.journey_publish(journey=journey, actor=acting_user(request))
        except DocumentError as error:
            messages.error(request, f"Not published: {len(error.problems)} problem(s) to fix first.")
            return HttpResponseRedirect(reverse("panel:journeys_journey_launch", args=[journey.pk]))
        except services.TransitionError as error:
            messages.error(request, f"Not published: {error}.")
            return HttpResponseRedirect(reverse("panel:journeys_journey_launch", args=[journey.pk]))
        journey.refresh_from_db()
        verb = "scheduled" if journey.status == "scheduled" else "live"
        messages.success(request, f"{journey.name} is {verb} (version {version.number}).")
        return HttpResponseRedirect(reverse("panel:journeys_journey_live", args=[journey.pk]))


# --- Pieces ----------------------------------------------------------------------------------------


def _drawn(document: Mapping[str, Any], problems: list[Problem]) -> list[Problem]:
    """The problems marked on the flow: an empty flow is not an error yet, just a flow to start."""
    if document.get("nodes"):
        return problems
    return [p for p in problems if p.field not in ("start", "nodes")]


def _later(problem: Problem, step: str) -> bool:
    """Problems a step cannot be blamed for while the marketer is still filling the wizard in."""
    return step == "setup" and problem.field == "journey"


def _int(text: Any) -> int | None:
    return int(text) if isinstance(text, str) and text.isdigit() else None


def _local(value: Any, zone: ZoneInfo) -> Any:
    """A stored ISO moment as the datetime-local box shows it, in the workspace's time zone."""
    from segments.conditions import as_datetime

    moment = as_datetime(value)
    return moment.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0) if moment else None


def _node_field(problem_field: str, node_id: str) -> str:
    """`nodes.sms.template` → `template`; the node itself → ``."""
    rest = problem_field[len(f"nodes.{node_id}") :].lstrip(".")
    return rest


def _links(build_url: str, can_change: bool) -> Callable[[Target], Mapping[str, str] | None]:
    def link(target: Target) -> Mapping[str, str] | None:
        if target.kind == "node":
            href = f"{build_url}?node={target.node_id}"
        elif target.kind == "add" and can_change:
            href = f"{build_url}?add={target.from_id}:{target.key}"
        elif target.kind == "trigger":
            return {"href": build_url.replace("/build/", "/entry/")}
        else:
            return None
        return {
            "href": href,
            "hx-get": href,
            "hx-target": "#node-panel",
            "hx-select": "#node-panel",
            "hx-swap": "outerHTML",
        }

    return link


def _node_spec(kind: str, form: Any, old: Mapping[str, Any]) -> dict[str, Any]:
    """The node as the document writes it, keeping the paths it already had."""
    data = form.cleaned_data
    spec: dict[str, Any] = {"type": kind}
    for key, _ in wizard.outgoing(old) if old.get("type") == kind else []:
        if key in ("next", "on_performed", "on_timeout", "else"):
            spec[key] = old.get(key)
    if kind == "wait_event":
        spec |= {"event": data["event"], "where": forms.formset_condition(form.filters), "timeout": data["timeout"]}
        spec.setdefault("on_performed", None)
        spec.setdefault("on_timeout", None)
    elif kind == "send":
        spec |= {"channel": data["channel"], "template": data["template"]}
        spec.setdefault("next", None)
    elif kind == "delay":
        spec |= {"duration": data["duration"]} if data.get("duration") else {"until": data["until"].strftime("%H:%M")}
        spec.setdefault("next", None)
    elif kind == "branch":
        old_paths = [b.get("next") for b in old.get("branches") or [] if isinstance(b, dict)]
        leaves = [f.cleaned_data["leaf"] for f in form.paths.forms if f.cleaned_data.get("leaf")]
        spec["branches"] = [
            {
                "if": {"trait": leaf["property"], **{k: v for k, v in leaf.items() if k != "property"}},
                "next": old_paths[i] if i < len(old_paths) else None,
            }
            for i, leaf in enumerate(leaves)
        ]
        spec.setdefault("else", None)
    elif kind == "split":
        old_arms = {a.get("name"): a.get("next") for a in old.get("arms") or [] if isinstance(a, dict)}
        spec["arms"] = [{**arm, "next": old_arms.get(arm["name"])} for arm in data["arms"]]
    elif kind == "update_profile":
        spec |= {"traits": data["traits"], "add_tags": data["add_tags"], "remove_tags": data["remove_tags"]}
        spec.setdefault("next", None)
    elif kind == "webhook":
        spec |= {"url": data["url"], "method": data["method"], "body": data["body"]}
        spec.setdefault("next", None)
    return spec


def _estimate(journey: Journey, included: list[str], excluded: list[str]) -> dict[str, Any]:
    from segments.selectors import audience_condition, estimate

    found = estimate(journey.workspace_id, audience_condition(included, excluded, None), timeout_ms=2000)
    return {"size": found.size, "profiles": found.profiles, "all": not included and not excluded}


def _template_preview(journey: Journey, form: Any) -> dict[str, Any] | None:
    """The chosen template's text for the preview beside a Send message form."""
    channel = form["channel"].value()
    name = form["template"].value()
    if not name:
        return None
    template = Template.objects.filter(workspace_id=journey.workspace_id, channel=channel, name=name).first()
    if template is None:
        return None
    content = template.content if isinstance(template.content, dict) else {}
    return {
        "channel": CHANNEL_WORDS.get(str(channel), channel),
        "fields": [(k, v) for k, v in content.items() if isinstance(v, str)],
    }


def _problem_url(journey: Journey, problem: Problem) -> str:
    step = wizard.step_of(problem.field)
    url = reverse(f"panel:journeys_journey_{step}", args=[journey.pk])
    parts = problem.field.split(".")
    if step == "build" and parts[0] == "nodes" and len(parts) > 1:
        url += f"?node={parts[1].split('[')[0]}"
    return url


# What a problem's field is, in the panel's words, when it is more than its step or step kind says.
FIELD_WORDS = {
    "next": "Next step",
    "on_performed": "On performed",
    "on_timeout": "On timed out",
    "else": "Else",
    "channel": "Channel",
    "template": "Template",
    "event": "Activity",
    "where": "Filters",
    "timeout": "Time out after",
    "duration": "Duration",
    "until": "Until",
    "url": "URL",
    "method": "Method",
    "headers": "Headers",
    "body": "Body",
    "traits": "Traits",
    "add_tags": "Tags to add",
    "remove_tags": "Tags to remove",
    "branches": "Paths",
    "arms": "Split",
    "window": "Conversion window",
    "lock": "Lock duration",
    "max_entries": "Entry capping",
    "period": "Capping period",
    "every_day_at": "Every day at",
    "start_at": "Start",
    "end_at": "End",
    "name": "Name",
    "start": "First step",
    "if": "Condition",
    "entry": "Trigger",
}
# The document's words for what is wrong, as a marketer reads them on Launch.
MESSAGE_WORDS = {
    "is required (a node id, or null to end the path)": "not connected: add a step there or let the path end",
    "must be a node id or null": "not connected: add a step there or let the path end",
    "is required": "missing",
    "must be an object": "not set",
}


def _problem_words(problem: Problem) -> str:
    """ "Next step not connected: …", "Template missing", "Channel: choose one of …": the field named
    (where more than its step or step kind), the message in words."""
    message = MESSAGE_WORDS.get(problem.message, problem.message)
    if message.startswith("must be one of "):
        message = "choose one of " + message.removeprefix("must be one of ").replace("_", "-")
    parts = problem.field.split(".")
    tail = re.sub(r"\[\d+\]$", "", parts[-1])
    whole_node = parts[0] == "nodes" and len(parts) <= 2
    named = None if whole_node else FIELD_WORDS.get(tail)
    if named is None:
        return message[:1].upper() + message[1:]
    return f"{named} {message}" if message.startswith(("missing", "not ")) else f"{named}: {message}"


def _problem_where(document: Mapping[str, Any], problem: Problem) -> str:
    """ "Send SMS (sms)", "Entry Rules" … : what a problem is about, in words."""
    parts = problem.field.split(".")
    nodes = _part(document, "nodes")
    if parts[0] == "nodes" and len(parts) > 1 and isinstance(nodes.get(parts[1]), dict):
        kind = str(nodes[parts[1]].get("type"))
        return f"{forms.KIND_WORDS.get(kind, kind)} “{parts[1]}”"
    return dict(wizard.STEPS).get(wizard.step_of(problem.field), "Journey")


def _summary(document: Mapping[str, Any], zone: ZoneInfo) -> list[tuple[str, str]]:
    """Every setting of the journey in one list of (label, words), for Launch."""
    from segments.words import duration_words

    rows: list[tuple[str, str]] = [("Journey", str(document.get("name") or "—"))]
    conversion = _part(document, "conversion") or None
    if conversion:
        words = event_words(str(conversion.get("event")))
        if conversion.get("where"):
            words += f" where {condition_words(conversion['where'])}"
        words += f", within {duration_words(conversion.get('window'))}"
        if conversion.get("exit_on_conversion"):
            words += "; exits on conversion"
        rows.append(("Conversion event", words))
    from journeys.panel import trigger_words

    rows.append(("Entry", trigger_words(document)))
    reentry = _part(document, "reentry")
    rows.append(("Eligibility", "Once" if reentry.get("mode") == "once" else "Multiple times"))
    if reentry.get("lock"):
        rows.append(("Lock duration", duration_words(reentry["lock"])))
    cap = _part(reentry, "cap") or None
    if cap:
        period = f" in {duration_words(cap['period'])}" if cap.get("period") else " in a lifetime"
        rows.append(("Entry capping", f"at most {cap.get('max_entries')}{period}"))
    audience = _part(document, "audience")
    segments = audience.get("segments") or []
    excluded = audience.get("exclude_segments") or []
    rows.append(("Audience", ", ".join(map(str, segments)) if segments else "All users"))
    if excluded:
        rows.append(("Exclusions", ", ".join(map(str, excluded))))
    nodes = _part(document, "nodes")
    rows.append(("Steps", str(len(nodes))))
    return rows


def _backtest_card(journey: Journey, backtest: JourneyBacktest | None, *, problem: str = "") -> dict[str, Any]:
    """What the Launch page's backtest card shows: its progress while it runs, its numbers when done."""
    card: dict[str, Any] = {"problem": problem, "run": backtest}
    if backtest is None:
        return card
    card["running"] = backtest.status in backtest.UNFINISHED
    card["percent"] = round(100 * backtest.progress)
    card["stale"] = backtest.document != journey.draft
    if backtest.status == backtest.Status.DONE:
        result = backtest.result or {}
        messaged = result.get("messaged") or {}
        card["numbers"] = [
            ("Would have entered", result.get("entered", 0)),
            ("Profiles", result.get("profiles", 0)),
            ("Messaged", messaged.get("total", 0)),
            ("Converted", result.get("converted", 0)),
            ("Still waiting at the end", result.get("waiting", 0)),
        ]
        card["channels"] = sorted((messaged.get("channels") or {}).items())
        card["activities"] = result.get("activities", 0)
    return card


def _part(data: Any, key: str) -> dict[str, Any]:
    """One object inside a draft (`{}` when it is missing or not an object: drafts may be half-made)."""
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, dict) else {}
