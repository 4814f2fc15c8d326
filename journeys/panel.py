"""Journeys in the marketing panel: the list (with 7-day entries and conversion rate), its lifecycle
actions, import and export of the JSON document, and the pages of one journey — the five-step wizard
(`journeys/wizard_views.py`), the live page and the simulator (`journeys/journey_views.py`). Views call
`journeys.services`; every problem the document validation names is shown at its field."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from unfold.decorators import action, display

from journeys import services
from journeys.document import DocumentError
from journeys.models import Journey, JourneyStatus
from panel.model_admin import PanelModelAdmin
from panel.sites import panel_site
from panel.times import local_words
from segments.words import condition_words, event_words
from workspaces.permissions import acting_user

STATUS_LABELS = {
    JourneyStatus.DRAFT: "info",
    JourneyStatus.SCHEDULED: "info",
    JourneyStatus.LIVE: "success",
    JourneyStatus.PAUSED: "warning",
    JourneyStatus.STOPPED: "danger",
    JourneyStatus.ARCHIVED: "danger",
}
MAX_IMPORT_BYTES = 1024 * 1024


def trigger_words(document: Any) -> str:
    """ "Screen View: screen_name contains "Discounts"", or "Scheduled …", for lists and summaries."""
    entry = document.get("entry") if isinstance(document, dict) else None
    if not isinstance(entry, dict):
        return "No trigger yet"
    if entry.get("type") == "segment":
        every = entry.get("every_day_at")
        return "Scheduled" + (f", daily at {every}" if isinstance(every, str) else "")
    event = entry.get("event")
    if not isinstance(event, str) or not event:
        return "No trigger yet"
    where = entry.get("where")
    return event_words(event) + (f": {condition_words(where)}" if where else "")


@admin.register(Journey, site=panel_site)
class JourneyPanelAdmin(PanelModelAdmin):
    list_display = ["name_link", "status_label", "trigger", "entries_7d", "conversion_7d", "edited"]
    list_filter = ["status"]
    search_fields = ["name"]
    ordering = ["-updated_at"]
    actions = ["pause_selected", "resume_selected", "stop_selected", "archive_selected"]
    actions_list = ["import_document"]
    list_per_page = 50
    change_list_template = "journeys/panel/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Journey]:
        week = timezone.now().date() - timedelta(days=6)
        recent = Q(stats__day__gte=week)
        return (
            super()
            .get_queryset(request)
            .filter(behavior__isnull=True)  # behaviors' compiled journeys are managed as behaviors
            .exclude(status=JourneyStatus.ARCHIVED)
            .select_related("updated_by")
            .annotate(
                entered_7d=Sum("stats__count", filter=recent & Q(stats__metric="entered"), default=0),
                converted_7d=Sum("stats__count", filter=recent & Q(stats__metric="converted"), default=0),
            )
        )

    # --- Columns --------------------------------------------------------------------------------------

    @display(description="Journey", ordering="name")
    def name_link(self, journey: Journey) -> str:
        return format_html(
            '<a class="font-medium text-primary-600" href="{}">{}</a>', journey_url(journey), journey.name
        )

    @display(description="Status", ordering="status", label=STATUS_LABELS)
    def status_label(self, journey: Journey) -> str:
        return journey.status

    @display(description="Trigger")
    def trigger(self, journey: Journey) -> str:
        document = journey.live_version.document if journey.live_version_id and journey.live_version else journey.draft
        return trigger_words(document)

    @display(description="Entries (7 days)", ordering="entered_7d")
    def entries_7d(self, journey: Journey) -> int:
        return int(journey.entered_7d)  # type: ignore[attr-defined]

    @display(description="Conversion (7 days)")
    def conversion_7d(self, journey: Journey) -> str:
        entered = int(journey.entered_7d)  # type: ignore[attr-defined]
        converted = int(journey.converted_7d)  # type: ignore[attr-defined]
        return f"{100 * converted / entered:.1f} %" if entered else "—"

    @display(description="Last edited", ordering="updated_at")
    def edited(self, journey: Journey) -> str:
        when = local_words(journey.updated_at)
        return f"{when} · {journey.updated_by.get_username()}" if journey.updated_by else when

    # --- Lifecycle actions (confirmed on a page of their own) -------------------------------------------

    def _transition(self, request: HttpRequest, queryset: QuerySet, change: Any, done: str) -> HttpResponse | None:
        if request.POST.get("confirmed") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": f"{done.capitalize()} journeys?",
                "journeys": list(queryset),
                "action": request.POST.get("action"),
                "verb": done,
                "confirm_verb": {"paused": "pause", "resumed": "resume", "stopped": "stop", "archived": "archive"}[
                    done
                ],
                "opts": self.model._meta,
            }
            return TemplateResponse(request, "journeys/panel/confirm_action.html", context)
        for journey in queryset:
            try:
                change(journey=journey, actor=acting_user(request))
                self.message_user(request, f"{journey.name}: {done}.", messages.SUCCESS)
            except services.TransitionError as error:
                self.message_user(request, f"{journey.name}: {error}.", messages.ERROR)
        return None

    @admin.action(description="Pause selected journeys", permissions=["change"])
    def pause_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self._transition(request, queryset, services.journey_pause, "paused")

    @admin.action(description="Resume selected journeys", permissions=["change"])
    def resume_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self._transition(request, queryset, services.journey_resume, "resumed")

    @admin.action(description="Stop selected journeys (everyone inside exits)", permissions=["change"])
    def stop_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self._transition(request, queryset, services.journey_stop, "stopped")

    @admin.action(description="Archive selected journeys", permissions=["change"])
    def archive_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        return self._transition(request, queryset, services.journey_archive, "archived")

    @action(description="Import a journey (JSON)", url_path="import", permissions=["add"], icon="upload")
    def import_document(self, request: HttpRequest) -> HttpResponse:
        return HttpResponseRedirect(reverse("panel:journeys_journey_import"))

    # --- Pages ------------------------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        from journeys import journey_views, wizard_views

        view = self.admin_site.admin_view
        pages = [
            path("import/", view(self.import_view), name="journeys_journey_import"),
            path("<int:pk>/duplicate/", view(self.duplicate_view), name="journeys_journey_duplicate"),
            path("<int:pk>/export/", view(self.export_view), name="journeys_journey_export"),
            *wizard_views.Wizard(self).urls(),
            *journey_views.JourneyPages(self).urls(),
        ]
        return pages + super().get_urls()

    def journey(self, request: HttpRequest, pk: int, *, change: bool = False) -> Journey:
        """One journey of the member's workspace (404 otherwise), when their role may see it (or change it)."""
        if not (self.has_change_permission(request) if change else self.has_view_permission(request)):
            raise PermissionDenied
        mine = Journey.objects.filter(workspace_id=self.membership(request).workspace_id, behavior__isnull=True)
        return get_object_or_404(mine.select_related("live_version", "updated_by", "workspace"), pk=pk)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        """The wizard's Setup for a new journey: its draft is made when that step is saved, so opening
        the page (a click, Back, a prefetch) leaves nothing behind."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        from journeys.wizard_views import Wizard

        return Wizard(self).setup(request, None)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        """A journey's page: the wizard for a draft, the live page once it was published."""
        journey = self.journey(request, int(object_id))
        return HttpResponseRedirect(journey_url(journey))

    def duplicate_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        journey = self.journey(request, pk, change=True)
        if request.method != "POST":
            return HttpResponseRedirect(journey_url(journey))
        copy = services.journey_duplicate(journey=journey, actor=acting_user(request))
        self.message_user(request, f"Made {copy.name} from {journey.name}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("panel:journeys_journey_setup", args=[copy.pk]))

    def export_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The JSON document (the draft, or `?version=N`), as a download."""
        journey = self.journey(request, pk)
        document: Any = journey.draft
        number = request.GET.get("version")
        if number and number.isdigit():
            version = get_object_or_404(journey.versions, number=int(number))
            document = version.document
        response = HttpResponse(json.dumps(document, indent=2, ensure_ascii=False), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="journey-{journey.pk}.json"'
        return response

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """Upload (or paste) a journey's JSON document: it becomes a new draft, checked on the way."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        problems: list[str] = []
        text = request.POST.get("document", "") if request.method == "POST" else ""
        if request.method == "POST":
            upload = request.FILES.get("file")
            if upload is not None:
                raw = upload.read(MAX_IMPORT_BYTES + 1)
                text = raw.decode("utf-8", errors="replace") if len(raw) <= MAX_IMPORT_BYTES else ""
                if len(raw) > MAX_IMPORT_BYTES:
                    problems.append("The file is larger than 1 MB.")
            document = None
            if not problems:
                try:
                    document = json.loads(text)
                except ValueError as error:
                    problems.append(f"This is not JSON: {error}.")
            if document is not None and not isinstance(document, dict):
                problems.append("A journey is a JSON object.")
            elif document is not None:
                from journeys.document import parse_journey

                try:
                    parse_journey(document)
                except DocumentError as error:
                    # Imported as a draft all the same: the wizard shows each problem at its step.
                    self.message_user(
                        request, f"Imported with {len(error.problems)} problem(s) to fix.", messages.WARNING
                    )
                journey = services.journey_create(
                    workspace=self.membership(request).workspace, actor=acting_user(request), document=document
                )
                return HttpResponseRedirect(journey_url(journey))
        context = {
            **self.admin_site.each_context(request),
            "title": "Import a journey",
            "problems": problems,
            "text": text,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "journeys/panel/import.html", context, status=400 if problems else 200)


def journey_url(journey: Journey) -> str:
    """Where a journey opens: its wizard while it never went live, its live page after."""
    if journey.live_version_id is None:
        return reverse("panel:journeys_journey_setup", args=[journey.pk])
    return reverse("panel:journeys_journey_live", args=[journey.pk])
