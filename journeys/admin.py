"""Admin for journeys, their versions, enrollments and timers, scoped by workspace. Enrollment state
and timers are the engine's: operators read them here and act through the API or panel."""

from __future__ import annotations

from django.contrib import admin

from journeys.models import Enrollment, Journey, JourneyVersion, Timer
from workspaces.admin_scope import ReadOnlyScopedAdmin, WorkspaceScopedAdmin


class JourneyVersionInline(admin.TabularInline):
    model = JourneyVersion
    extra = 0
    fields = ["number", "published_at", "published_by"]
    readonly_fields = ["number", "published_at", "published_by"]
    can_delete = False
    show_change_link = True


@admin.register(Journey)
class JourneyAdmin(WorkspaceScopedAdmin):
    list_display = ["name", "workspace", "status", "live_version", "updated_at"]
    list_filter = ["workspace", "status"]
    search_fields = ["name"]
    readonly_fields = ["status", "live_version", "created_by", "created_at", "updated_at"]
    inlines = [JourneyVersionInline]


@admin.register(JourneyVersion)
class JourneyVersionAdmin(ReadOnlyScopedAdmin):
    workspace_path = "journey__workspace_id"
    list_display = ["journey", "number", "published_at", "published_by"]
    search_fields = ["journey__name"]


@admin.register(Enrollment)
class EnrollmentAdmin(ReadOnlyScopedAdmin):
    list_display = ["profile", "journey", "version", "entered_at", "node", "due_at", "exit_reason", "converted_at"]
    list_filter = ["workspace", "exit_reason"]
    search_fields = ["profile__user_id", "journey__name"]
    list_select_related = ["profile", "journey", "version"]
    raw_id_fields = ["profile"]
    show_full_result_count = False


@admin.register(Timer)
class TimerAdmin(ReadOnlyScopedAdmin):
    list_display = ["enrollment", "due_at", "held"]
    list_filter = ["held"]
    show_full_result_count = False
