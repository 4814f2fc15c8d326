"""Admin for behaviors, scoped by workspace; their open matches are the compiled journey's enrollments."""

from __future__ import annotations

from django.contrib import admin

from behaviors.models import Behavior
from workspaces.admin_scope import ReadOnlyScopedAdmin


@admin.register(Behavior)
class BehaviorAdmin(ReadOnlyScopedAdmin):
    list_display = ["name", "slug", "workspace", "journey", "updated_at"]
    list_filter = ["workspace"]
    search_fields = ["name", "slug"]
