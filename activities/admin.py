"""Admin for profiles and the activity store, scoped by workspace."""

from __future__ import annotations

from django.contrib import admin
from unfold.admin import TabularInline

from activities.models import Activity, EvaluationBatch, Identity, Profile, PushDevice, TrackedActivity
from workspaces.admin_scope import ReadOnlyScopedAdmin, WorkspaceScopedAdmin


class IdentityInline(TabularInline):
    model = Identity
    extra = 0
    fields = ["kind", "value", "created_at"]
    readonly_fields = ["kind", "value", "created_at"]
    can_delete = False


class PushDeviceInline(TabularInline):
    model = PushDevice
    extra = 0
    fields = ["platform", "token", "updated_at"]
    readonly_fields = ["updated_at"]


@admin.register(Profile)
class ProfileAdmin(WorkspaceScopedAdmin):
    list_display = ["__str__", "workspace", "email", "phone", "timezone", "last_seen"]
    list_filter = ["workspace", "timezone"]
    search_fields = ["user_id", "email", "phone", "identities__value"]
    readonly_fields = ["first_seen", "last_seen", "created_at", "updated_at", "merged_into"]
    inlines = [IdentityInline, PushDeviceInline]
    show_full_result_count = False

    def get_queryset(self, request):  # noqa: ANN001, ANN201
        return super().get_queryset(request).filter(merged_into__isnull=True)


@admin.register(Activity)
class ActivityAdmin(ReadOnlyScopedAdmin):
    list_display = ["name", "type", "profile", "workspace", "timestamp", "received_at"]
    list_filter = ["workspace", "type"]
    search_fields = ["name", "message_id", "profile__user_id"]
    raw_id_fields = ["profile"]
    list_select_related = ["profile", "workspace"]
    show_full_result_count = False  # the store holds tens of millions of rows


@admin.register(TrackedActivity)
class TrackedActivityAdmin(ReadOnlyScopedAdmin):
    list_display = ["name", "workspace", "count", "first_seen", "last_seen"]
    list_filter = ["workspace"]
    search_fields = ["name"]


@admin.register(EvaluationBatch)
class EvaluationBatchAdmin(ReadOnlyScopedAdmin):
    list_display = ["pk", "workspace", "created_at", "attempts"]
    list_filter = ["workspace"]
