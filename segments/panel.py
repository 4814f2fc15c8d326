"""Segments in the marketing panel: the list; the rule builder with its live size estimate (rows of
conditions in all / any / none groups, written as the rule JSON the API takes; a rule too complex for
the builder is shown in words and kept); static lists filled by CSV upload with a progress card and
every rejected row by line; a segment's page (size over time, members, the journeys and segments
using it, tags for all its members); tags on one profile. Views call `segments.services`,
`segments.lists` and `segments.selectors`; every problem they name is shown at its field."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from unfold.decorators import action, display

from activities.selectors import profiles_for_workspace, tracked_activities
from journeys.models import Journey, JourneyStatus
from journeys.panel import journey_url
from panel.dashboard import chart
from panel.forms import unvalidated
from panel.model_admin import PanelModelAdmin
from panel.sites import panel_site
from panel.times import local_words
from segments import lists, selectors, services
from segments.compiler import CompileError
from segments.conditions import ConditionError, parse_condition
from segments.forms import (
    ImportForm,
    Rows,
    RuleBuilder,
    SegmentForm,
    TagsForm,
    activity_options,
    rule_rows,
)
from segments.models import ListImport, Segment, SegmentKind, SegmentSize
from segments.words import condition_words, plural
from workspaces.permissions import acting_user

KIND_LABELS = {SegmentKind.RULE: "info", SegmentKind.LIST: "success"}
DAYS = 30
MEMBERS_PER_PAGE = 25
PROBLEMS_SHOWN = 500
FORM_FIELDS = ("name", "slug", "description", "record_changes")


def profile_url(profile_pk: int) -> str | None:
    """The profile's page on the panel (People), once it exists."""
    try:
        return reverse("panel:activities_profile_change", args=[profile_pk])
    except NoReverseMatch:
        return None


@admin.register(Segment, site=panel_site)
class SegmentPanelAdmin(PanelModelAdmin):
    list_display = ["name_link", "kind_label", "size_now", "definition", "refreshed"]
    list_display_links = None  # the name column links to the segment's page
    list_filter = ["kind", "builtin"]
    search_fields = ["name", "slug", "description"]
    ordering = ["name"]
    actions = None  # deleting goes through the services, one segment at a time (refused while in use)
    actions_list = ["new_list"]
    list_per_page = 50
    change_list_template = "segments/panel/change_list.html"

    # --- Columns --------------------------------------------------------------------------------------

    @display(description="Segment", ordering="name")
    def name_link(self, segment: Segment) -> str:
        return format_html(
            '<a class="font-medium text-primary-600" href="{}">{}</a>{}',
            reverse("panel:segments_segment_detail", args=[segment.pk]),
            segment.name,
            format_html(' <span class="text-xs text-base-500">{}</span>', "ready-made") if segment.builtin else "",
        )

    @display(description="Kind", ordering="kind", label=KIND_LABELS)
    def kind_label(self, segment: Segment) -> str:
        return segment.kind

    @display(description="Members", ordering="size")
    def size_now(self, segment: Segment) -> int:
        return segment.size

    @display(description="Who")
    def definition(self, segment: Segment) -> str:
        if segment.kind == SegmentKind.LIST:
            return "Static list: the people added to it"
        return condition_words(segment.rule)

    @display(description="Counted", ordering="refreshed_at")
    def refreshed(self, segment: Segment) -> str:
        return local_words(segment.refreshed_at)

    @action(description="New static list", url_path="new-list", permissions=["add"], icon="playlist_add")
    def new_list(self, request: HttpRequest) -> HttpResponse:
        return HttpResponseRedirect(reverse("panel:segments_segment_add") + "?kind=list")

    # --- Pages ------------------------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        pages = [
            path("estimate/", view(self.estimate_view), name="segments_segment_estimate"),
            path("<int:pk>/", view(self.detail_view), name="segments_segment_detail"),
            path("<int:pk>/import/", view(self.import_view), name="segments_segment_import"),
            path("<int:pk>/tags/", view(self.tags_view), name="segments_segment_tags"),
            path("<int:pk>/refresh/", view(self.refresh_view), name="segments_segment_refresh"),
            path("profiles/<int:profile_id>/tags/", view(self.profile_tags_view), name="segments_profile_tags"),
        ]
        return pages + super().get_urls()

    def segment(self, request: HttpRequest, pk: int, *, change: bool = False) -> Segment:
        """One segment of the member's workspace (404 otherwise), when their role may see it (or change it)."""
        if not (self.has_change_permission(request) if change else self.has_view_permission(request)):
            raise PermissionDenied
        mine = Segment.objects.filter(workspace_id=self.membership(request).workspace_id)
        return get_object_or_404(mine.select_related("workspace", "updated_by"), pk=pk)

    def context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "can_change": self.has_change_permission(request),
            **extra,
        }

    # --- The editor: a rule's builder, or a list's name and settings -------------------------------------

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        source = request.POST if request.method == "POST" else request.GET
        kind = SegmentKind.LIST if source.get("kind") == SegmentKind.LIST else SegmentKind.RULE
        return self.editor(request, None, kind)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        if not object_id.isdigit():
            raise _not_found()
        if not self.has_change_permission(request):
            if request.method == "POST":
                raise PermissionDenied
            segment = self.segment(request, int(object_id))
            return HttpResponseRedirect(reverse("panel:segments_segment_detail", args=[segment.pk]))
        segment = self.segment(request, int(object_id), change=True)
        return self.editor(request, segment, segment.kind)

    def builder_choices(self, request: HttpRequest, segment: Segment | None) -> dict[str, Any]:
        workspace_id = self.membership(request).workspace_id
        others = Segment.objects.filter(workspace_id=workspace_id).order_by("name")
        if segment is not None:
            others = others.exclude(pk=segment.pk)
        known = {row.name: row.properties for row in tracked_activities(workspace_id)[:500]}
        return {"segments": list(others.values_list("slug", "name")), "activities": activity_options(known)}

    def editor(self, request: HttpRequest, segment: Segment | None, kind: str) -> HttpResponse:
        posted = request.POST if request.method == "POST" else None
        new = segment is None
        initial = {
            "name": segment.name if segment else "",
            "description": segment.description if segment else "",
            "record_changes": segment.record_changes if segment else False,
        }
        form = SegmentForm(posted, new=new, initial=initial)
        builder: RuleBuilder | None = None
        kept = False  # a rule too complex for the builder, kept as it is
        if kind == SegmentKind.RULE:
            choices = self.builder_choices(request, segment)
            start = rule_rows(segment.rule) if segment is not None else Rows(rows=[{"kind": "trait"}])
            if posted is not None and posted.get("rebuild"):
                builder = RuleBuilder(None, initial=Rows(rows=[{"kind": "trait"}]), **choices)
            elif (posted.get("builder") == "kept") if posted is not None else start is None:
                kept = segment is not None
            if builder is None and not kept:
                builder = RuleBuilder(posted if posted is not None else None, initial=start, **choices)
        status = 200
        if posted is not None and not posted.get("rebuild"):
            change = _builder_change(posted)
            if builder is not None and (change or posted.get("refresh")):
                builder = builder.with_change(**change) if change else builder
                unvalidated(form)
                if builder.bound:
                    unvalidated(builder.rows)
            else:
                done = self.save(request, segment, kind, form, builder)
                if done is not None:
                    return done
                status = 400
        context = self.context(
            request,
            f"Edit {segment.name}" if segment else ("New static list" if kind == SegmentKind.LIST else "New segment"),
            segment=segment,
            original=segment,
            kind=kind,
            form=form,
            builder=builder,
            kept=kept,
            kept_words=condition_words(segment.rule) if kept and segment else "",
            estimate=self.estimate_of(request, builder) if builder is not None else None,
        )
        return TemplateResponse(request, "segments/panel/edit.html", context, status=status)

    def save(
        self, request: HttpRequest, segment: Segment | None, kind: str, form: SegmentForm, builder: RuleBuilder | None
    ) -> HttpResponse | None:
        """Create or update through the services, or put the problems at their fields (None then)."""
        rows_ok = builder.valid() if builder is not None else True
        if not form.is_valid() or not rows_ok:
            return None
        data: dict[str, Any] = {key: form.cleaned_data[key] for key in FORM_FIELDS if key in form.cleaned_data}
        if not data.get("slug"):
            data.pop("slug", None)
        paths: dict[int, str] = {}
        if segment is None:
            data["kind"] = kind
        if builder is not None:
            built = builder.built()
            if not built.paths:
                form.add_error(None, "Add a condition: who is in this segment?")
                return None
            data["rule"], paths = built.rule, built.paths
        try:
            if segment is None:
                segment = services.segment_create(
                    workspace=self.membership(request).workspace, actor=acting_user(request), data=data
                )
            else:
                segment = services.segment_update(segment=segment, actor=acting_user(request), data=data)
        except services.SegmentError as error:
            for problem in error.problems:
                message = problem.message[0].upper() + problem.message[1:] + "."
                if problem.field in form.fields:
                    form.add_error(problem.field, message)
                    continue
                row = builder.field_of(problem.field, paths) if builder is not None else None
                if row is not None:
                    target = builder.rows.forms[row[0]]  # type: ignore[union-attr]
                    target.add_error(row[1] if row[1] in target.fields else None, message)
                else:
                    form.add_error(None, message)
            return None
        self.message_user(request, f"Saved {segment.name}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("panel:segments_segment_detail", args=[segment.pk]))

    def estimate_of(self, request: HttpRequest, builder: RuleBuilder) -> dict[str, Any]:
        """The live size of the rule the builder holds now (rows with problems left out)."""
        built = builder.built()
        card: dict[str, Any] = {"left_out": built.left_out, "words": ""}
        if not built.paths:
            return card | {"empty": True}
        card["words"] = condition_words(built.rule)
        try:
            rule = parse_condition(built.rule, "rule")
            found = selectors.estimate(
                self.membership(request).workspace_id, rule, timeout_ms=settings.NUDGE_SEGMENT_ESTIMATE_TIMEOUT_MS
            )
        except (ConditionError, CompileError) as error:
            return card | {"problem": error.message}
        return card | {"size": found.size, "profiles": found.profiles, "timed_out": found.size is None}

    def estimate_view(self, request: HttpRequest) -> HttpResponse:
        """The live estimate for the builder's rows as posted (htmx, as the marketer edits)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseRedirect(reverse("panel:segments_segment_changelist"))
        builder = RuleBuilder(request.POST, **self.builder_choices(request, None))
        context = {"estimate": self.estimate_of(request, builder)}
        return TemplateResponse(request, "segments/panel/_estimate.html", context)

    # --- A segment's page -------------------------------------------------------------------------------

    def detail_view(
        self, request: HttpRequest, pk: int, *, import_form: ImportForm | None = None, tags_form: TagsForm | None = None
    ) -> HttpResponse:
        segment = self.segment(request, pk)
        search = request.GET.get("q", "").replace("\x00", "").strip()
        members = selectors.segment_members(segment)
        if search:
            members = members.filter(Q(profile__user_id__icontains=search) | Q(profile__email__icontains=search))
        page = Paginator(members, MEMBERS_PER_PAGE).get_page(request.GET.get("page"))
        for membership in page.object_list:
            membership.profile_link = profile_url(membership.profile_id)  # type: ignore[attr-defined]
        usage = selectors.segment_usage(segment)
        status = 400 if (import_form is not None or tags_form is not None) else 200
        context = self.context(
            request,
            segment.name,
            segment=segment,
            original=segment,
            words=condition_words(segment.rule) if segment.kind == SegmentKind.RULE else "",
            chart=size_chart(segment),
            page=page,
            search=search,
            journeys=[(j, journey_url(j)) for j in journeys_using(segment)],
            segments_using=usage.segments,
            import_card=import_card(segment),
            import_form=import_form or ImportForm(),
            tags_form=tags_form or TagsForm(),
            profile_url=profile_url,
        )
        return TemplateResponse(request, "segments/panel/detail.html", context, status=status)

    def import_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """POST: a CSV into a list (its rows go in on the workers); GET: the import card, which htmx
        polls while the import runs (a reload finds the same import). The poll that finds it ended tells
        the page, which fetches its counts and members again."""
        if request.method != "POST":
            segment = self.segment(request, pk)
            card = import_card(segment)
            response = TemplateResponse(
                request, "segments/panel/_import.html", {"segment": segment, "import_card": card}
            )
            if request.htmx and card is not None and not card.get("running"):  # type: ignore[attr-defined]
                response["HX-Trigger"] = "segment-members-changed"
            return response
        segment = self.segment(request, pk, change=True)
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            limit = settings.NUDGE_SEGMENT_IMPORT_MAX_BYTES
            try:
                lists.list_import_start(
                    segment=segment, actor=acting_user(request), data=upload.read(limit + 1), filename=upload.name
                )
            except lists.ImportRefused as error:
                form.add_error("file", error.message[0].upper() + error.message[1:] + ".")
            except services.SegmentError as error:
                form.add_error("file", "; ".join(p.message for p in error.problems).capitalize() + ".")
            else:
                self.message_user(request, f"Importing {upload.name}: the rows go in on the workers.", messages.INFO)
                return HttpResponseRedirect(reverse("panel:segments_segment_detail", args=[segment.pk]) + "#import")
        return self.detail_view(request, pk, import_form=form)

    def tags_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Add or remove tags on every member of the segment now."""
        segment = self.segment(request, pk, change=request.method == "POST")
        if request.method != "POST":
            return HttpResponseRedirect(reverse("panel:segments_segment_detail", args=[segment.pk]))
        form = TagsForm(request.POST)
        if not form.is_valid():
            return self.detail_view(request, pk, tags_form=form)
        touched = services.tags_change(
            workspace=segment.workspace,
            actor=acting_user(request),
            add=form.cleaned_data["add"],
            remove=form.cleaned_data["remove"],
            segment=segment,
        )
        self.message_user(request, f"Tags changed on {touched} profile(s).", messages.SUCCESS)
        return HttpResponseRedirect(reverse("panel:segments_segment_detail", args=[segment.pk]))

    def refresh_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Count a rule segment's members again now (the workers do it every few minutes)."""
        segment = self.segment(request, pk, change=request.method == "POST")
        if request.method == "POST":
            if segment.kind != SegmentKind.RULE:
                self.message_user(request, "A list's members are the ones added to it.", messages.WARNING)
            elif services.segment_refresh(segment_id=segment.pk) is None:
                self.message_user(request, "It is being counted already; try again in a moment.", messages.WARNING)
            else:
                segment.refresh_from_db()
                if segment.refresh_error:
                    self.message_user(request, f"Counting failed: {segment.refresh_error}", messages.ERROR)
                else:
                    self.message_user(request, f"Counted again: {plural(segment.size, 'member')}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("panel:segments_segment_detail", args=[segment.pk]))

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        """Delete after confirming; refused while a running journey or another segment uses it."""
        if not object_id.isdigit():
            raise _not_found()
        segment = self.segment(request, int(object_id), change=True)
        if request.method == "POST":
            try:
                services.segment_delete(segment=segment, actor=acting_user(request))
            except services.SegmentInUse as error:
                self.message_user(request, f"{segment.name} cannot be deleted: it is {error}.", messages.ERROR)
                return HttpResponseRedirect(reverse("panel:segments_segment_detail", args=[segment.pk]))
            self.message_user(request, f"Deleted {segment.name}.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("panel:segments_segment_changelist"))
        context = self.context(
            request,
            f"Delete {segment.name}?",
            segment=segment,
            original=segment,
            usage=selectors.segment_usage(segment),
            journeys=journeys_using(segment),
        )
        return TemplateResponse(request, "segments/panel/delete.html", context)

    # --- Tags on one profile (People's profile page links here) -----------------------------------------

    def profile_tags_view(self, request: HttpRequest, profile_id: int) -> HttpResponse:
        if not self.has_view_permission(request) or (
            request.method == "POST" and not self.has_change_permission(request)
        ):
            raise PermissionDenied
        workspace = self.membership(request).workspace
        profile = get_object_or_404(profiles_for_workspace(workspace.pk), pk=profile_id)
        back = request.POST.get("next") or request.GET.get("next") or ""
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            back = ""
        form = TagsForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            services.tags_change(
                workspace=workspace,
                actor=acting_user(request),
                add=form.cleaned_data["add"],
                remove=form.cleaned_data["remove"],
                profile_ids=[profile.pk],
            )
            self.message_user(request, f"Tags of {profile} changed.", messages.SUCCESS)
            here = reverse("panel:segments_profile_tags", args=[profile.pk])
            return HttpResponseRedirect(back or here)
        context = self.context(
            request,
            f"Tags of {profile}",
            profile=profile,
            tags=sorted(profile.tags) if isinstance(profile.tags, list) else [],
            form=form,
            back=back,
            profile_link=profile_url(profile.pk),
        )
        return TemplateResponse(
            request, "segments/panel/profile_tags.html", context, status=400 if form.errors else 200
        )


def _not_found() -> Exception:
    from django.http import Http404

    return Http404("No such segment")


def _builder_change(posted: Any) -> dict[str, Any]:
    """The add / remove button the marketer pressed, if any (as `RuleBuilder.with_change` takes it)."""
    change = {
        "add_row": posted.get("add_row"),
        "remove_row": posted.get("remove_row"),
        "add_group": bool(posted.get("add_group")),
        "remove_group": posted.get("remove_group"),
    }
    return change if any(v not in (None, False) for v in change.values()) else {}


def size_chart(segment: Segment) -> str:
    """The segment's size at the end of each of the last 30 days (the last sample of the day, carried over
    days without one)."""
    today = timezone.localdate()
    days = [today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    since = timezone.make_aware(datetime.combine(days[0], time.min))
    before = SegmentSize.objects.filter(segment=segment, at__lt=since).order_by("-at").first()
    last = {}
    for at, size in SegmentSize.objects.filter(segment=segment, at__gte=since).order_by("at").values_list("at", "size"):
        last[timezone.localtime(at).date()] = size
    current = before.size if before is not None else 0
    values = []
    for day in days:
        current = last.get(day, current)
        values.append(current)
    return chart([day.strftime("%b %d") for day in days], [("Members", values, "#7c3aed")])


def journeys_using(segment: Segment) -> list[Journey]:
    """The journeys whose draft or published version names the segment (audience, exclusions, conditions)."""
    names = {str(segment.pk), segment.slug}
    rows: QuerySet[Journey] = (
        Journey.objects.filter(workspace_id=segment.workspace_id, behavior__isnull=True)
        .exclude(status=JourneyStatus.ARCHIVED)
        .select_related("live_version")
        .order_by("name")
    )
    found = []
    for journey in rows:
        documents = [journey.draft, journey.live_version.document if journey.live_version else None]
        if any(names & selectors.document_segments(d) for d in documents if d is not None):
            found.append(journey)
    return found


def import_card(segment: Segment) -> dict[str, Any] | None:
    """What a list's import card shows: the latest import's progress, its result and rejected rows."""
    if segment.kind != SegmentKind.LIST:
        return None
    latest = segment.imports.first()
    if latest is None:
        return {"run": None}
    problems = list(latest.problems or [])
    return {
        "run": latest,
        "running": latest.status == ListImport.Status.RUNNING,
        "percent": round(100 * latest.progress),
        "problems": problems[:PROBLEMS_SHOWN],
        "more": max(0, latest.rejected - min(len(problems), PROBLEMS_SHOWN)),
    }
