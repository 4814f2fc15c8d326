"""Admin for behaviors, scoped by workspace; their open matches are the compiled journey's enrollments."""

from __future__ import annotations

from django.contrib import admin

from behaviors.models import Backfill, Behavior
from workspaces.admin_scope import ReadOnlyScopedAdmin, WorkspaceListFilter


@admin.register(Behavior)
class BehaviorAdmin(ReadOnlyScopedAdmin):
    list_display = ["name", "slug", "workspace", "journey", "updated_at"]
    list_filter = ["workspace"]
    search_fields = ["name", "slug"]


@admin.register(Backfill)
class BackfillAdmin(ReadOnlyScopedAdmin):
    list_display = ["behavior", "days", "status", "profiles_done", "profiles_total", "opened", "fired", "created_at"]
    list_filter = ["status", WorkspaceListFilter]
    search_fields = ["behavior__name", "behavior__slug"]
    workspace_path = "behavior__workspace_id"
