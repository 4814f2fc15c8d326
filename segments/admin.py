"""Admin for segments, scoped by workspace. Saving a segment goes through the same validation and
services as the API (rules checked field by field, membership refreshed); members, sizes and imports
are facts, read-only here."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from segments import selectors, services
from segments.models import ListImport, Membership, Segment, SegmentSize
from segments.services import SegmentError
from workspaces.admin_scope import ReadOnlyScopedAdmin, WorkspaceListFilter, WorkspaceScopedAdmin
from workspaces.permissions import acting_user

EDITABLE = ("name", "slug", "description", "kind", "rule", "record_changes")


class SegmentForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = ["workspace", *EDITABLE]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        workspace = data.get("workspace") or getattr(self.instance, "workspace", None)
        if workspace is None:
            return data
        payload = {key: data[key] for key in EDITABLE if key in data}
        if self.instance.pk:
            payload.pop("slug", None)
        try:
            services.segment_validate(workspace, payload, self.instance if self.instance.pk else None)
        except SegmentError as error:
            for problem in error.problems:
                root = problem.field.split(".")[0].split("[")[0]
                self.add_error(root if root in self.fields else None, f"{problem.field}: {problem.message}")
        return data


@admin.register(Segment)
class SegmentAdmin(WorkspaceScopedAdmin):
    form = SegmentForm
    list_display = ["name", "slug", "workspace", "kind", "size", "refreshed_at", "builtin", "record_changes"]
    list_filter = ["workspace", "kind", "builtin"]
    search_fields = ["name", "slug"]
    readonly_fields = ["builtin", "size", "refreshed_at", "refresh_error", "created_by", "updated_by", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Segment | None = None) -> Any:
        fixed = ["slug", "kind", "workspace"] if obj is not None else []
        return [*super().get_readonly_fields(request, obj), *fixed]

    def save_model(self, request: HttpRequest, obj: Segment, form: Any, change: bool) -> None:
        data = {key: form.cleaned_data[key] for key in EDITABLE if key in form.cleaned_data}
        if change:
            data.pop("slug", None)
            data.pop("kind", None)
            saved = services.segment_update(segment=obj, actor=acting_user(request), data=data)
        else:
            saved = services.segment_create(
                workspace=form.cleaned_data["workspace"], actor=acting_user(request), data=data
            )
        obj.pk = saved.pk

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        """A segment a running journey or another segment uses is shown as protected: not deleted."""
        deleted, counts, needed, protected = super().get_deleted_objects(objs, request)
        for segment in objs:
            usage = selectors.segment_usage(segment)
            protected = [*protected, *(f"Journey: {j.name}" for j in usage.journeys)]
            protected += [f"Segment: {s.name}" for s in usage.segments]
        return deleted, counts, needed, protected

    def delete_model(self, request: HttpRequest, obj: Segment) -> None:
        services.segment_delete(segment=obj, actor=acting_user(request))

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for segment in queryset:
            services.segment_delete(segment=segment, actor=acting_user(request))


@admin.register(Membership)
class MembershipAdmin(ReadOnlyScopedAdmin):
    workspace_path = "segment__workspace_id"
    list_display = ["segment", "profile", "since"]
    list_filter = [WorkspaceListFilter]
    search_fields = ["segment__name", "segment__slug", "profile__user_id", "profile__email"]
    list_select_related = ["segment", "profile"]
    raw_id_fields = ["profile"]
    show_full_result_count = False


@admin.register(SegmentSize)
class SegmentSizeAdmin(ReadOnlyScopedAdmin):
    workspace_path = "segment__workspace_id"
    list_display = ["segment", "at", "size", "entered", "exited"]
    list_filter = [WorkspaceListFilter]
    search_fields = ["segment__name", "segment__slug"]
    list_select_related = ["segment"]


@admin.register(ListImport)
class ListImportAdmin(ReadOnlyScopedAdmin):
    workspace_path = "segment__workspace_id"
    list_display = [
        "segment",
        "filename",
        "status",
        "cursor",
        "rows_total",
        "added",
        "already",
        "repeated",
        "rejected",
        "created_at",
    ]
    list_filter = ["status", WorkspaceListFilter]
    search_fields = ["segment__name", "filename"]
    exclude = ["source"]
