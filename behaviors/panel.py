"""Behaviors in the marketing panel: the list (each in a sentence, open matches now, firings over the
week, a chart of firings per day), the form that builds the steps, a behavior's page (its numbers, the
open matches linked to their profiles, pause and resume, the backfill with its progress) and the
simulator over typed events. Views call `behaviors.services`, `behaviors.selectors`, the backfill and
the simulator; every problem the document validation names is shown at its field, in the API's words."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from unfold.decorators import display

from activities.selectors import tracked_activities
from behaviors import forms, services
from behaviors.backfill import BackfillRefused, backfill_start, days_parse
from behaviors.document import ANY, BehaviorError, parse_behavior
from behaviors.models import Backfill, Behavior
from behaviors.selectors import behaviors_with_counts, fired_per_day, match_describe, open_matches
from behaviors.simulator import simulate_behavior
from behaviors.words import behavior_words, step_words, waiting_words
from journeys.services import TransitionError
from journeys.simulator import SimulationError
from panel.dashboard import chart
from panel.forms import unvalidated
from panel.model_admin import PanelModelAdmin
from panel.sites import panel_site
from segments.conditions import as_datetime
from segments.durations import Duration, DurationError
from workspaces.permissions import acting_user

STATUS_LABELS = {"draft": "info", "live": "success", "paused": "warning", "stopped": "danger"}
STATUS_WORDS = {"draft": "Draft: not matching yet", "live": "Matching", "paused": "Paused", "stopped": "Stopped"}
COLOURS = ["#7c3aed", "#16a34a", "#ea580c", "#0284c7", "#db2777", "#ca8a04"]
DAYS = 30
MATCHES_PER_PAGE = 50
LIFECYCLE = {
    "pause": (services.behavior_pause, "paused", ("live",)),
    "resume": (services.behavior_resume, "matching", ("draft", "paused")),
}


def profile_url(profile_pk: int) -> str | None:
    """The profile's page on the panel (People), once it exists."""
    try:
        return reverse("panel:activities_profile_change", args=[profile_pk])
    except NoReverseMatch:
        return None


def _days(today: Any) -> list[Any]:
    return [today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]


@admin.register(Behavior, site=panel_site)
class BehaviorPanelAdmin(PanelModelAdmin):
    list_display = ["name_link", "sentence", "status_label", "open_matches", "fired_7d"]
    search_fields = ["name", "slug"]
    actions = ["resume_selected", "pause_selected"]
    list_per_page = 50
    change_list_template = "behaviors/panel/change_list.html"
    list_after_template = "behaviors/panel/_fired_chart.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Behavior]:
        week = timezone.now().date() - timedelta(days=6)
        return behaviors_with_counts(super().get_queryset(request).select_related("journey"), since=week)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a behavior's firings feed journeys and segments: pause it instead

    # --- Columns --------------------------------------------------------------------------------------

    @display(description="Behavior", ordering="name")
    def name_link(self, behavior: Behavior) -> str:
        return format_html(
            '<a class="font-medium text-primary-600" href="{}" data-behavior="{}">{}</a>',
            reverse("panel:behaviors_behavior_change", args=[behavior.pk]),
            behavior.slug,
            behavior.name,
        )

    @display(description="What it does")
    def sentence(self, behavior: Behavior) -> str:
        return behavior_words(behavior.document)

    @display(description="Status", label=STATUS_LABELS)
    def status_label(self, behavior: Behavior) -> str:
        return behavior.status

    @display(description="Open matches now", ordering="open_now")
    def open_matches(self, behavior: Behavior) -> int:
        return int(behavior.open_now)  # type: ignore[attr-defined]

    @display(description="Fired (7 days)", ordering="fired_since")
    def fired_7d(self, behavior: Behavior) -> int:
        return int(behavior.fired_since)  # type: ignore[attr-defined]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        mine = Behavior.objects.filter(workspace_id=self.membership(request).workspace_id, journey__isnull=False)
        journeys = dict(mine.values_list("journey_id", "name"))
        days = _days(timezone.now().date())
        per_day = fired_per_day(journey_ids=list(journeys), since=days[0])
        busiest = sorted(per_day, key=lambda j: -sum(per_day[j].values()))[: len(COLOURS)]
        series = [
            (journeys[j], [per_day[j].get(d, 0) for d in days], COLOURS[i % len(COLOURS)])
            for i, j in enumerate(busiest)
        ]
        context = {
            "fired_chart": chart([d.strftime("%b %d") for d in days], series) if series else None,
            **(extra_context or {}),
        }
        return super().changelist_view(request, context)

    # --- Lifecycle actions ------------------------------------------------------------------------------

    def _transition(self, request: HttpRequest, queryset: QuerySet, name: str) -> None:
        change, done, _ = LIFECYCLE[name]
        for behavior in queryset.select_related("journey", "workspace"):
            try:
                change(behavior=behavior, actor=acting_user(request))
                self.message_user(request, f"{behavior.name}: {done}.", messages.SUCCESS)
            except TransitionError as error:
                self.message_user(request, f"{behavior.name}: {error}.", messages.ERROR)

    @admin.action(description="Start or resume selected behaviors", permissions=["change"])
    def resume_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._transition(request, queryset, "resume")

    @admin.action(description="Pause selected behaviors", permissions=["change"])
    def pause_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._transition(request, queryset, "pause")

    # --- Pages ------------------------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        pages = [
            path("<int:pk>/edit/", view(self.edit_view), name="behaviors_behavior_edit"),
            path("<int:pk>/simulate/", view(self.simulate_view), name="behaviors_behavior_simulate"),
            path("<int:pk>/lifecycle/", view(self.lifecycle_view), name="behaviors_behavior_lifecycle"),
            path("<int:pk>/backfill/", view(self.backfill_view), name="behaviors_behavior_backfill"),
        ]
        return pages + super().get_urls()

    def behavior(self, request: HttpRequest, pk: int, *, change: bool = False) -> Behavior:
        """One behavior of the member's workspace (404 otherwise), when their role may see it (or change it)."""
        if not (self.has_change_permission(request) if change else self.has_view_permission(request)):
            raise PermissionDenied
        mine = Behavior.objects.filter(workspace_id=self.membership(request).workspace_id)
        return get_object_or_404(mine.select_related("journey", "workspace"), pk=pk)

    def context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "can_change": self.has_change_permission(request),
            **extra,
        }

    def known_activities(self, workspace_id: int) -> dict[str, dict[str, list[str]]]:
        return {row.name: dict(row.properties or {}) for row in tracked_activities(workspace_id)[:500]}

    # The form ---------------------------------------------------------------------------------------------

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        return self.form_page(request, None)

    def edit_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return self.form_page(request, self.behavior(request, pk, change=True))

    def form_page(self, request: HttpRequest, behavior: Behavior | None) -> HttpResponse:
        """Build the steps; saved only when the document validation finds nothing, each problem at its field."""
        workspace = self.membership(request).workspace
        document: dict[str, Any] = dict(behavior.document) if behavior is not None else {}
        known = self.known_activities(workspace.pk)
        posted = request.POST if request.method == "POST" else None
        data: Any = posted
        edits = posted is not None and any(k in posted for k in ("add_step", "remove_step", "add_filter", "refresh"))
        if posted is not None and "add_step" in posted:
            data = forms.steps_added(posted)
        elif posted is not None and str(posted.get("remove_step", "")).isdigit():
            data = forms.steps_removed(posted, int(posted["remove_step"]))
        elif posted is not None and str(posted.get("add_filter", "")).isdigit():
            data = forms.filter_added(posted, int(posted["add_filter"]))
        form = forms.BehaviorForm(
            data,
            slug_fixed=behavior is not None,
            initial={
                "name": document.get("name", ""),
                "slug": document.get("slug", ""),
                "description": document.get("description", ""),
                "max_once_per": forms.DurationWidgetValue.initial(document.get("max_once_per")),
            },
        )
        steps = forms.Steps(document, known, data)
        status = 200
        if posted is not None and not edits:
            if form.is_valid() & steps.is_valid():
                saved = self.save(request, behavior, form, steps)
                if saved is not None:
                    return saved
            status = 400
        elif posted is not None:
            unvalidated(form)
            for step_form, filters in steps:
                unvalidated(step_form)
                unvalidated(filters)
        title = f"{behavior.name} · Edit" if behavior is not None else "New behavior"
        context = self.context(
            request,
            title,
            behavior=behavior,
            original=behavior,
            form=form,
            steps=steps,
            can_add_step=len(steps) < forms.MAX_STEPS,
            sentence=behavior_words(document) if behavior is not None else None,
        )
        return TemplateResponse(request, "behaviors/form.html", context, status=status)

    def save(
        self, request: HttpRequest, behavior: Behavior | None, form: forms.BehaviorForm, steps: forms.Steps
    ) -> HttpResponse | None:
        data = form.cleaned_data
        document: dict[str, Any] = {"name": data.get("name") or "", "slug": data.get("slug") or ""}
        if data.get("description"):
            document["description"] = data["description"]
        document["steps"] = steps.document()
        if data.get("max_once_per"):
            document["max_once_per"] = data["max_once_per"]
        actor = acting_user(request)
        try:
            parse_behavior(document)  # every problem at once, before the services look at the slug
            if behavior is None:
                start = "draft" not in request.POST
                behavior = services.behavior_create(
                    workspace=self.membership(request).workspace, actor=actor, document=document, start=start
                )
                done = "created and matching" if start else "saved as a draft (resume it to start matching)"
            else:
                services.behavior_update(behavior=behavior, actor=actor, document=document)
                done = "saved" + (" (a new version: open matches finish on theirs)" if behavior.journey else "")
        except BehaviorError as error:
            forms.show_problems(form, steps, error.problems)
            return None
        except TransitionError as error:
            form.add_error(None, f"This behavior cannot be changed: {error}.")
            return None
        messages.success(request, f"{behavior.name} {done}.")
        return HttpResponseRedirect(reverse("panel:behaviors_behavior_change", args=[behavior.pk]))

    # A behavior's page -----------------------------------------------------------------------------------

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        if not object_id.isdigit():
            return HttpResponseRedirect(reverse("panel:behaviors_behavior_changelist"))
        behavior = self.behavior(request, int(object_id))
        if request.method == "POST":
            return HttpResponseRedirect(request.path)
        zone = ZoneInfo(behavior.workspace.timezone)
        days = _days(timezone.now().date())
        journey_ids = [behavior.journey_id] if behavior.journey_id else []
        per_day = fired_per_day(journey_ids=journey_ids, since=days[0]).get(behavior.journey_id or 0, {})
        rows = open_matches(workspace_id=behavior.workspace_id).filter(journey__behavior=behavior)
        page = Paginator(rows, MATCHES_PER_PAGE).get_page(request.GET.get("page"))
        steps = behavior.document.get("steps") or []
        matches = []
        for enrollment in page:
            described = match_describe(enrollment)
            matches.append(
                {
                    **described,
                    "profile_url": profile_url(enrollment.profile_id),
                    "waiting": waiting_words(described["waiting_for"]),
                }
            )
        fired_today = per_day.get(days[-1], 0)
        context = self.context(
            request,
            behavior.name,
            behavior=behavior,
            original=behavior,
            zone=zone,
            sentence=behavior_words(behavior.document),
            step_sentences=[step_words(s, first=i == 0) for i, s in enumerate(steps)],
            status_words=STATUS_WORDS.get(behavior.status, behavior.status),
            kpis=[
                ("Open matches now", page.paginator.count),
                ("Fired today", fired_today),
                (f"Fired ({DAYS} days)", sum(per_day.values())),
            ],
            fired_chart=chart(
                [d.strftime("%b %d") for d in days], [("Fired", [per_day.get(d, 0) for d in days], COLOURS[0])]
            ),
            matches=matches,
            page=page,
            actions=[name for name, (_, _, allowed) in LIFECYCLE.items() if behavior.status in allowed],
            backfill=self.backfill_card(behavior),
        )
        return TemplateResponse(request, "behaviors/behavior.html", context)

    def lifecycle_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        behavior = self.behavior(request, pk)
        target = reverse("panel:behaviors_behavior_change", args=[behavior.pk])
        if request.method != "POST":
            return HttpResponseRedirect(target)
        if not self.has_change_permission(request):
            raise PermissionDenied
        name = request.POST.get("action", "")
        if name not in LIFECYCLE:
            messages.error(request, "Choose pause or resume.")
            return HttpResponseRedirect(target)
        change, done, _ = LIFECYCLE[name]
        try:
            change(behavior=behavior, actor=acting_user(request))
            messages.success(request, f"{behavior.name}: {done}.")
        except TransitionError as error:
            messages.error(request, f"{behavior.name}: {error}.")
        return HttpResponseRedirect(target)

    # The backfill -----------------------------------------------------------------------------------------

    def backfill_card(
        self, behavior: Behavior, *, form: forms.BackfillForm | None = None, problem: str = ""
    ) -> dict[str, Any]:
        run: Backfill | None = behavior.backfills.first()
        running = run is not None and run.status == Backfill.Status.RUNNING
        return {
            "run": run,
            "running": running,
            "percent": round(100 * run.progress) if run is not None else 0,
            "form": form or forms.BackfillForm(initial={"days": 30}),
            "problem": problem,
            "draft": behavior.journey is None,
        }

    def backfill_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """POST: evaluate the behavior over the last N days on the workers. GET: the card with its progress
        (htmx polls it while the backfill runs; a reload finds the same backfill)."""
        behavior = self.behavior(request, pk, change=request.method == "POST")
        form, problem = None, ""
        if request.method == "POST":
            form = forms.BackfillForm(request.POST)
            try:
                backfill_start(behavior=behavior, actor=acting_user(request), days=days_parse(request.POST.get("days")))
            except BackfillRefused as error:
                if error.field == "days":
                    form.is_valid()
                    form.add_error("days", error.message[0].upper() + error.message[1:] + ".")
                else:  # the behavior's state: "is a draft: resume it …", "has been backfilled already …"
                    problem = f"This behavior {error.message}."
            else:
                form = None
            if not request.htmx:  # type: ignore[attr-defined]
                if problem or form is not None:
                    messages.error(request, f"Not backfilled: {problem or form.errors['days'][0]}")  # type: ignore[union-attr]
                return HttpResponseRedirect(reverse("panel:behaviors_behavior_change", args=[behavior.pk]))
        context = {
            "behavior": behavior,
            "backfill": self.backfill_card(behavior, form=form, problem=problem),
            "can_change": self.has_change_permission(request),
        }
        # htmx swaps only 2xx answers: a refusal is the card with its reason, at the field.
        return TemplateResponse(request, "behaviors/_backfill.html", context)

    # The simulator ----------------------------------------------------------------------------------------

    def simulate_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Typed events through the behavior on a virtual clock (its compiled journey on the journey engine,
        as live traffic runs it); nothing is stored. Analysts may run it too."""
        behavior = self.behavior(request, pk)
        zone = ZoneInfo(behavior.workspace.timezone)
        document = behavior.document if isinstance(behavior.document, dict) else {}
        known: dict[str, Any] = {**self.known_activities(behavior.workspace_id)}
        for step in document.get("steps") or []:  # its activities, tracked yet or not
            for key in ("performed", "not_performed"):
                name = step.get(key) if isinstance(step, dict) else None
                if isinstance(name, str) and name and name != ANY:
                    known.setdefault(name, {})
        activities = forms.step_activity_choices(known)
        activities = [c for c in activities if c[0] != ANY]
        now = timezone.now().astimezone(zone).replace(second=0, microsecond=0, tzinfo=None)
        posted = request.POST if request.method == "POST" else None
        data: Any = posted
        if posted is not None and "add_event" in posted:
            data = dict(posted.items())
            total = int(data["events-TOTAL_FORMS"]) if str(data.get("events-TOTAL_FORMS", "")).isdigit() else 0
            data["events-TOTAL_FORMS"] = str(min(total + 1, 50))
        rows = forms.EventFormSet(
            data,
            prefix="events",
            initial=_sample_events(document, now) if data is None else None,
            form_kwargs={"activities": activities, "zone": zone},
        )
        until = forms.SimulateForm(data, zone=zone, initial={"until": now + _horizon(document)})
        results: list[dict[str, Any]] | None = None
        status = 200
        if posted is not None and "add_event" not in posted:
            if until.is_valid() & rows.is_valid():
                results = self.simulated(behavior, document, rows, until, zone)
            if results is None:
                status = 400
        elif posted is not None:
            unvalidated(rows)
            unvalidated(until)
        context = self.context(
            request,
            f"{behavior.name} · Simulator",
            behavior=behavior,
            original=behavior,
            sentence=behavior_words(document),
            rows=rows,
            until_form=until,
            results=results,
            zone=zone,
        )
        return TemplateResponse(request, "behaviors/simulate.html", context, status=status)

    def simulated(
        self,
        behavior: Behavior,
        document: dict[str, Any],
        rows: Any,
        until: forms.SimulateForm,
        zone: ZoneInfo,
    ) -> list[dict[str, Any]] | None:
        """Each profile's firings and open match, or None with the problems put at their fields."""
        given = [(i, f.cleaned_data["row"]) for i, f in enumerate(rows.forms) if f.cleaned_data.get("row")]
        if not given:
            rows._non_form_errors = rows.error_class(["Add at least one event."])
            return None
        try:
            outcome = simulate_behavior(
                document, events=[row for _, row in given], until=until.cleaned_data["until"].isoformat()
            )
        except BehaviorError as error:
            until.add_error(None, f"Fix the behavior first: {error}.")
            return None
        except SimulationError as error:
            message = error.message[0].upper() + error.message[1:] + "."
            found = re.match(r"^events\[(\d+)\](?:\.(\w+))?", error.field)
            if found is not None and int(found[1]) < len(given):
                field = {"event": "event", "timestamp": "at", "properties": "properties"}.get(found[2] or "")
                rows.forms[given[int(found[1])][0]].add_error(field or "who", message)
            else:
                until.add_error("until" if error.field == "until" else None, message)
            return None
        steps = document.get("steps") or []
        results = []
        for key, run in outcome["profiles"].items():
            open_match = run.get("open")
            if open_match is not None:
                index = open_match["step"]
                open_match = {
                    **open_match,
                    "words": step_words(steps[index]) if index < len(steps) else f"step {index + 1}",
                    "since": _local(open_match["since"], zone),
                    "until": _local(open_match["until"], zone),
                }
            results.append(
                {
                    "profile": key,
                    "fired": [_local(at, zone) for at in run["fired"]],
                    "firings": run["firings"],
                    "open": open_match,
                }
            )
        return results


def _local(moment: Any, zone: ZoneInfo) -> datetime | None:
    found = as_datetime(moment)
    return found.astimezone(zone) if found is not None else None


def _horizon(document: dict[str, Any]) -> timedelta:
    """How far the sample clock runs: past every window of the behavior, plus a day."""
    total = timedelta(days=1)
    for step in document.get("steps") or []:
        if not isinstance(step, dict):
            continue
        window = step.get("within") or step.get("inactive")
        try:
            duration = Duration.parse(window) if window else None
        except DurationError:
            duration = None
        if duration is not None:
            total += timedelta(days=duration.months * 31 + duration.days, seconds=duration.seconds)
    return min(total, timedelta(days=400))


def _sample_events(document: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """A starting point: the first step's activity now, for one profile."""
    steps = document.get("steps") or []
    first = steps[0].get("performed") if steps and isinstance(steps[0], dict) else None
    if not isinstance(first, str) or first == ANY:
        return [{"who": "ann", "event": "", "at": now}]
    return [{"who": "ann", "event": first, "at": now}]
