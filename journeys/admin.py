"""Admin for journeys, their versions, enrollments and timers, scoped by workspace. A journey's draft is
saved through journeys.services, checked as publishing checks it (every problem shown at the document
with its path, nothing saved while one remains); publish, pause, resume and stop are actions calling
the same services. Versions, enrollment state and timers are facts and the engine's: read-only here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from unfold.admin import TabularInline

from journeys import services
from journeys.document import DocumentError, Problem
from journeys.models import Enrollment, Journey, JourneyStatus, JourneyVersion
from workspaces.admin_scope import ReadOnlyScopedAdmin, WorkspaceScopedAdmin
from workspaces.models import Workspace
from workspaces.permissions import acting_user

# A stopped or archived journey's draft is history: journey_update_draft refuses to edit it.
FINISHED = (JourneyStatus.STOPPED, JourneyStatus.ARCHIVED)


def draft_problems(workspace: Workspace, draft: Any) -> list[Problem]:
    """Every problem publishing would refuse the draft for (the same checks as journey_publish)."""
    return services.journey_problems(workspace=workspace, document=draft)


class JourneyForm(forms.ModelForm):
    # The draft revision the operator read: saving over a newer one is refused, not an overwrite.
    revision = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = Journey
        fields = ["workspace", "draft"]
        labels = {"draft": "Document"}
        help_texts = {"draft": "The journey document (PRODUCT.md §8.1), checked as publishing checks it."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "draft" in self.fields:
            self.fields["draft"].widget.attrs["rows"] = 24  # a journey is a long document
        if self.instance.pk and "revision" in self.fields:
            self.fields["revision"].initial = self.instance.draft_revision

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        workspace = data.get("workspace") or (self.instance.workspace if self.instance.pk else None)
        if workspace is None or "draft" not in data:
            return data
        problems = draft_problems(workspace, data["draft"])
        if problems:
            self.add_error("draft", [str(problem) for problem in problems])
        revision = data.get("revision")
        if self.instance.pk and revision is not None:
            current = Journey.objects.select_related("updated_by").get(pk=self.instance.pk)
            if current.draft_revision != revision:
                self.add_error(None, str(services.DraftConflict(current)))
        return data


class JourneyVersionInline(TabularInline):
    model = JourneyVersion
    extra = 0
    fields = ["number", "published_at", "published_by"]
    readonly_fields = ["number", "published_at", "published_by"]
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # versions are made by publishing


@admin.register(Journey)
class JourneyAdmin(WorkspaceScopedAdmin):
    form = JourneyForm
    list_display = ["name", "workspace", "status", "live_version", "updated_by", "updated_at"]
    list_filter = ["workspace", "status"]
    list_select_related = ["workspace", "live_version", "updated_by"]
    search_fields = ["name"]
    fieldsets = [
        (None, {"fields": ["workspace", "name", "status", "live_version", "compiled_from"]}),
        ("Draft", {"fields": ["draft", "revision"]}),
        ("History", {"fields": ["created_by", "created_at", "updated_by", "updated_at", "draft_revision"]}),
    ]
    readonly_fields = [
        "name",
        "status",
        "live_version",
        "compiled_from",
        "created_by",
        "created_at",
        "updated_by",
        "updated_at",
        "draft_revision",
    ]
    inlines = [JourneyVersionInline]
    actions = ["publish", "pause", "resume", "stop"]

    def get_readonly_fields(self, request: HttpRequest, obj: Journey | None = None) -> Any:
        fixed = list(super().get_readonly_fields(request, obj))
        if obj is None:
            return fixed
        fixed.append("workspace")  # a journey stays in its workspace
        if self._draft_fixed(obj):
            fixed.append("draft")
        return fixed

    def get_inlines(self, request: HttpRequest, obj: Journey | None = None) -> Any:
        return self.inlines if obj is not None else []  # a new journey has no versions

    def get_fieldsets(self, request: HttpRequest, obj: Journey | None = None) -> Any:
        if obj is None or not self._draft_fixed(obj):
            return self.fieldsets
        return [(name, {"fields": [f for f in opts["fields"] if f != "revision"]}) for name, opts in self.fieldsets]

    def _draft_fixed(self, obj: Journey) -> bool:
        return obj.status in FINISHED or bool(self.compiled_from(obj))

    @admin.display(description="Compiled from behavior")
    def compiled_from(self, obj: Journey) -> str:
        behavior = getattr(obj, "behavior", None)
        return str(behavior) if behavior is not None else ""

    def save_model(self, request: HttpRequest, obj: Journey, form: Any, change: bool) -> None:
        if "draft" not in form.cleaned_data:
            return  # nothing of it is editable
        actor, document = acting_user(request), form.cleaned_data["draft"]
        if change:
            saved = services.journey_update_draft(
                journey=obj, actor=actor, document=document, revision=form.cleaned_data.get("revision")
            )
        else:
            saved = services.journey_create(workspace=form.cleaned_data["workspace"], actor=actor, document=document)
        obj.pk, obj.name = saved.pk, saved.name
        obj._state.adding = False

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        """A journey that was published is not deleted (journey_delete refuses it): the page says so,
        rather than naming the versions it holds."""
        deleted, counts, needed, protected = super().get_deleted_objects(objs, request)
        published = [f"Journey: {j.name} (published: stop it instead)" for j in objs if j.versions.exists()]
        return (deleted, counts, set(), published) if published else (deleted, counts, needed, protected)

    def delete_model(self, request: HttpRequest, obj: Journey) -> None:
        services.journey_delete(journey=obj, actor=acting_user(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Journey]) -> None:
        for journey in queryset:
            services.journey_delete(journey=journey, actor=acting_user(request))

    def _act(
        self, request: HttpRequest, queryset: QuerySet[Journey], verb: str, change: Callable[[Journey], str]
    ) -> None:
        """Run `change` on each selected journey the user may change, with a message per journey saying
        what happened or why it was refused."""
        allowed = set(self.changeable(request, queryset).values_list("pk", flat=True))
        for journey in queryset.select_related("behavior"):
            level, text = messages.SUCCESS, ""
            if journey.pk not in allowed:
                level, text = messages.ERROR, f"not {verb}: your role in its workspace does not allow it"
            elif self.compiled_from(journey):
                level, text = (
                    messages.ERROR,
                    f"not {verb}: it is compiled from behavior “{self.compiled_from(journey)}”; act on the behavior",
                )
            else:
                try:
                    text = change(journey)
                except DocumentError as error:
                    level, text = messages.ERROR, f"not {verb}: " + "; ".join(str(p) for p in error.problems)
                except services.TransitionError as error:
                    level, text = messages.ERROR, f"not {verb}: {error}"
            self.message_user(request, f"“{journey.name}” {text}", level)

    @admin.action(description="Publish the draft as a new version", permissions=["change"])
    def publish(self, request: HttpRequest, queryset: QuerySet[Journey]) -> None:
        def change(journey: Journey) -> str:
            version = services.journey_publish(journey=journey, actor=acting_user(request))
            status = Journey.objects.get(pk=journey.pk).get_status_display().lower()
            return f"is published as version {version.number} ({status})."

        self._act(request, queryset, "published", change)

    @admin.action(description="Pause (no new entries; timers and sends held)", permissions=["change"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Journey]) -> None:
        def change(journey: Journey) -> str:
            services.journey_pause(journey=journey, actor=acting_user(request))
            return "is paused: no new entries; its timers and sends are held."

        self._act(request, queryset, "paused", change)

    @admin.action(description="Resume (held timers and sends go out)", permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Journey]) -> None:
        def change(journey: Journey) -> str:
            services.journey_resume(journey=journey, actor=acting_user(request))
            return "is live again: held timers fire and held messages go out."

        self._act(request, queryset, "resumed", change)

    @admin.action(description="Stop (everyone inside exits)", permissions=["change"])
    def stop(self, request: HttpRequest, queryset: QuerySet[Journey]) -> None:
        def change(journey: Journey) -> str:
            exited = services.journey_stop(journey=journey, actor=acting_user(request))
            return f"is stopped: {exited} profile(s) inside exited."

        self._act(request, queryset, "stopped", change)


@admin.register(JourneyVersion)
class JourneyVersionAdmin(ReadOnlyScopedAdmin):
    """A version is what profiles inside run: immutable."""

    workspace_path = "journey__workspace_id"
    list_display = ["journey", "number", "published_at", "published_by"]
    list_select_related = ["journey", "published_by"]
    search_fields = ["journey__name"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Enrollment)
class EnrollmentAdmin(ReadOnlyScopedAdmin):
    list_display = [
        "profile",
        "journey",
        "version",
        "entered_at",
        "node",
        "due_at",
        "timer_held",
        "exit_reason",
        "converted_at",
    ]
    list_filter = ["workspace", "exit_reason", "timer_held"]
    search_fields = ["profile__user_id", "journey__name"]
    list_select_related = ["profile", "journey", "version"]
    raw_id_fields = ["profile"]
    show_full_result_count = False
